"""TCP checks: can a connection be opened, and how long did the connect take.

The socket is closed as soon as it connects; a check never waits for a banner,
so a server that greets slowly (or never) is still up. Latency is the connect
alone, without name resolution, which has its own failure kind ("dns").

Two ways to one attempt, with the same outcomes:

- `start_tcp` (the daemon's fast path, for an IP literal): a non-blocking connect
  driven by loop callbacks (`add_writer` and one timer), no task or coroutine;
- `check_tcp` (a host name, which needs the resolver): a coroutine.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable

from slaprobe.config import Probe

from ._base import (
    Outcome,
    connect,
    failed,
    fmt_seconds,
    literal_address,
    os_error,
    resolve,
    too_slow,
)

_PENDING = frozenset({errno.EINPROGRESS, errno.EALREADY, errno.EAGAIN, errno.EWOULDBLOCK,
                      errno.EINTR})
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: no fcntl call to set it
_STREAM = socket.SOCK_STREAM | _NONBLOCK


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
    return _connected(probe, seconds)


def _connected(probe: Probe, seconds: float) -> Outcome:
    latency_ms = seconds * 1000
    slow = too_slow(seconds, probe.max_latency)
    if slow:
        return failed("slow", slow, latency_ms)
    return Outcome(True, latency_ms, None)


def _refused(err: int) -> Outcome:
    kind, message = os_error(OSError(err, os.strerror(err))) or ("error", "OSError")
    return failed(kind, message)


class TcpAttempt:
    """One connect in flight on the fast path; `cancel()` drops it without an outcome."""

    __slots__ = ("_done", "_fd", "_loop", "_probe", "_sock", "_started", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, probe: Probe, sock: socket.socket,
                 started: float, on_done: Callable[[Outcome], None]) -> None:
        self._loop, self._probe, self._sock, self._started = loop, probe, sock, started
        self._done = on_done
        self._fd = sock.fileno()
        loop.add_writer(self._fd, self._writable)
        self._timer = loop.call_at(started + probe.timeout, self._timeout)

    def _end(self) -> None:
        self._loop.remove_writer(self._fd)
        self._timer.cancel()
        self._sock.close()

    def cancel(self) -> None:
        if self._sock.fileno() >= 0:
            self._end()

    def _writable(self) -> None:
        try:
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            err = exc.errno or errno.EIO
        seconds = self._loop.time() - self._started
        self._end()
        self._done(_refused(err) if err else _connected(self._probe, seconds))

    def _timeout(self) -> None:
        self._end()
        self._done(failed("timeout", f"no TCP connection within {fmt_seconds(self._probe.timeout)}"))


def start_tcp(probe: Probe, on_done: Callable[[Outcome], None]) -> Outcome | TcpAttempt | None:
    """One attempt without a task: the Outcome when it is known at once, else the attempt in
    flight (it calls `on_done(outcome)` once), or None when this path does not apply (a host
    name: use `check_tcp`). Never raises but for bugs; outcomes are as `check_tcp`'s."""
    if not probe.host or probe.port is None:
        return failed("error", "host and port must be configured")
    address = literal_address(probe.host, probe.port)
    if address is None:
        return None
    family, sockaddr = address
    loop = asyncio.get_running_loop()
    try:
        sock = socket.socket(family, _STREAM)
    except OSError as exc:
        kind, message = os_error(exc) or ("error", type(exc).__name__)
        return failed(kind, message)
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        started = loop.time()
        err = sock.connect_ex(sockaddr)
        if err == 0:  # loopback often connects at once
            seconds = loop.time() - started
            sock.close()
            return _connected(probe, seconds)
        if err in _PENDING:
            return TcpAttempt(loop, probe, sock, started, on_done)
    except Exception as exc:  # noqa: BLE001 - every failure becomes an Outcome
        sock.close()
        kind, message = os_error(exc) or ("error", type(exc).__name__)
        return failed(kind, message)
    sock.close()
    return _refused(err)
