"""What every probe shares: the Outcome, error wording, name resolution, connect.

Probe modules import from here (not from the package) so `slaprobe.probes`
can import them without a cycle. Errors are "kind: short message" with a kind
from `slaprobe.checks.ERROR_KINDS`; messages are built here from error codes,
never from `str(exc)`, which can carry URLs with credentials or header values.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Address = tuple[int, tuple[Any, ...]]  # (family, sockaddr) as getaddrinfo gives them


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one check (all its attempts)."""

    ok: bool
    # http: until headers (and body when searched); tcp: connect; icmp: mean RTT
    latency_ms: float | None
    error: str | None  # "kind: short message", kind from ERROR_KINDS
    cert_days: float | None = None  # https: days until the peer certificate's notAfter


def failed(kind: str, message: str, latency_ms: float | None = None,
           cert_days: float | None = None) -> Outcome:
    return Outcome(False, latency_ms, f"{kind}: {message}", cert_days)


def fmt_seconds(seconds: float) -> str:
    """5.0 -> "5s", 0.25 -> "250ms": the way probes.toml writes durations."""
    if seconds < 1:
        return f"{seconds * 1000:.4g}ms"
    return f"{seconds:.4g}s"


def too_slow(latency: float, max_latency: float | None) -> str | None:
    """The "slow" message when `latency` (seconds) is over the limit, else None."""
    if max_latency is None or latency <= max_latency:
        return None
    return f"{latency * 1000:.0f} ms > max {max_latency * 1000:.0f} ms"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it was raised from, depth first, into exception groups too."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(reversed(e.exceptions))
        for nxt in (e.__context__, e.__cause__):
            if nxt is not None:
                stack.append(nxt)


_ERRNO_KINDS = {
    errno.ECONNREFUSED: ("refused", "connection refused"),
    errno.ECONNRESET: ("reset", "connection reset by peer"),
    errno.EPIPE: ("reset", "connection closed by peer"),
    errno.ECONNABORTED: ("reset", "connection aborted"),
    errno.ETIMEDOUT: ("timeout", "connection timed out"),
    errno.EHOSTUNREACH: ("error", "host unreachable"),
    errno.ENETUNREACH: ("error", "network unreachable"),
    errno.EACCES: ("permission", "not permitted"),
    errno.EPERM: ("permission", "not permitted"),
    errno.EADDRNOTAVAIL: ("error", "address not available"),
}


class BadHostName(socket.gaierror):
    """A host name no resolver accepts: a NUL, an empty label, a label over 63 characters."""


def os_error(exc: BaseException) -> tuple[str, str] | None:
    """(kind, message) for the first OS-level cause we know, or None."""
    for e in causes(exc):
        if isinstance(e, BadHostName):
            return "dns", "invalid host name"
        if isinstance(e, socket.gaierror):
            return "dns", _gai_message(e)
        if isinstance(e, ssl.SSLCertVerificationError):
            return "tls", f"certificate verify failed: {e.verify_message}"
        if isinstance(e, ssl.SSLError):
            return "tls", (e.reason or "handshake failed").lower().replace("_", " ")
        if isinstance(e, OSError) and e.errno in _ERRNO_KINDS:
            return _ERRNO_KINDS[e.errno]
    return None


def _gai_message(exc: socket.gaierror) -> str:
    if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
        return "name not found"
    if exc.errno == socket.EAI_AGAIN:
        return "temporary failure in name resolution"
    return "name resolution failed"


@lru_cache(maxsize=65_536)
def literal_address(host: str, port: int) -> Address | None:
    """(family, sockaddr) when `host` is an IPv4 or IPv6 literal, else None (cached: the
    check fast paths ask once per check)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            continue
        return family, (host, port) if family == socket.AF_INET else (host, port, 0, 0)
    return None


async def resolve(host: str, port: int, socktype: int) -> list[Address]:
    """Addresses for `host` in system order; literals skip the resolver thread."""
    try:
        literal = literal_address(host, port)
        if literal is not None:
            return [literal]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socktype)
    except (UnicodeError, ValueError) as exc:  # the idna codec or an embedded NUL refused it
        raise BadHostName(socket.EAI_NONAME, "invalid host name") from exc
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


async def connect(addresses: list[Address]) -> tuple[socket.socket, float]:
    """A connected non-blocking TCP socket to the first address that answers,
    and the seconds that connect took. Raises the last address's error."""
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            started = loop.time()
            await loop.sock_connect(sock, sockaddr)
            return sock, loop.time() - started
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    assert last is not None
    raise last
