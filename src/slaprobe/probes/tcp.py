"""TCP checks: can a connection be opened, and how long did the connect take.

The socket is closed as soon as it connects; a check never waits for a banner,
so a server that greets slowly (or never) is still up. Latency is the connect
alone, without name resolution, which has its own failure kind ("dns").
"""

from __future__ import annotations

import asyncio
import socket

from slaprobe.config import Probe

from ._base import Outcome, connect, failed, fmt_seconds, os_error, resolve, too_slow


async def check_tcp(probe: Probe) -> Outcome:
    """One attempt, bounded by `probe.timeout`; never raises but cancellation."""
    if not probe.host or probe.port is None:
        return failed("error", "host and port must be configured")
    phase = "resolve"
    try:
        async with asyncio.timeout(probe.timeout):
            addresses = await resolve(probe.host, probe.port, socket.SOCK_STREAM)
            phase = "connect"
            sock, seconds = await connect(addresses)
    except TimeoutError:
        what = "name not resolved" if phase == "resolve" else "no TCP connection"
        return failed("timeout", f"{what} within {fmt_seconds(probe.timeout)}")
    except Exception as exc:  # noqa: BLE001 - every failure becomes an Outcome
        kind, message = os_error(exc) or ("error", type(exc).__name__)
        return failed(kind, message)
    sock.close()
    latency_ms = seconds * 1000
    slow = too_slow(seconds, probe.max_latency)
    if slow:
        return failed("slow", slow, latency_ms)
    return Outcome(True, latency_ms, None)
