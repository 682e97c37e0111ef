"""TCP checks: can a connection be opened, and how long did the connect take.

The socket is closed as soon as it connects; a check never waits for a banner,
so a server that greets slowly (or never) is still up. Latency is the connect
alone, without name resolution, which has its own failure kind ("dns").

Two ways to one attempt, with the same outcomes:

- `TcpEngine.start` (the daemon's fast path, for an IP literal): a non-blocking
  connect driven by loop callbacks, no task or coroutine;
- `check_tcp` (a host name, which needs the resolver): a coroutine.

The fast path runs for every TCP check the daemon makes, so it keeps asyncio's
per-file-descriptor machinery out of it (issue 7): on Linux the
connecting sockets wait in one epoll set of the engine's own, which the loop
watches as a single reader, and their timeouts share one loop timer
(`_deadlines.Deadlines`). Elsewhere each socket is a loop writer.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import select
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
from ._deadlines import Deadlines

_PENDING = frozenset({errno.EINPROGRESS, errno.EALREADY, errno.EAGAIN, errno.EWOULDBLOCK,
                      errno.EINTR})
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: no fcntl call to set it
_STREAM = socket.SOCK_STREAM | _NONBLOCK
# The fast path's sockets never leave this module and need no makefile(): the C socket
# type skips socket.socket's Python-level __init__ and close (two calls per check).
_FastSocket = getattr(_socket, "socket", socket.socket)


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

    __slots__ = ("_batch", "_done", "_engine", "_fd", "_probe", "_sock", "_started",
                 "finished")

    def __init__(self, engine: TcpEngine, probe: Probe, sock: socket.socket, started: float,
                 on_done: Callable[[Outcome], None]) -> None:
        self._engine, self._probe, self._sock, self._started = engine, probe, sock, started
        self._done = on_done
        self._fd = sock.fileno()
        self.finished = False
        self._batch = engine._batch  # events read before this attempt began are not its own

    def _end(self) -> None:
        self.finished = True
        self._engine._forget(self)
        self._sock.close()  # also leaves the epoll set

    def cancel(self) -> None:
        if not self.finished:
            self._end()

    def _writable(self) -> None:
        try:
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            err = exc.errno or errno.EIO
        loop = self._engine._loop
        assert loop is not None  # set while attempts are in flight
        seconds = loop.time() - self._started
        self._end()
        self._done(_refused(err) if err else _connected(self._probe, seconds))

    def expire(self) -> None:
        """The timeout (Deadlines)."""
        self._end()
        self._done(failed("timeout",
                          f"no TCP connection within {fmt_seconds(self._probe.timeout)}"))


class TcpEngine:
    """The fast path's shared parts, for one event loop: the epoll set (Linux) and the
    deadlines. Made on first use by `start`, inside the running loop; `close()` at the end."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoll: select.epoll | None = None
        self._waiting: dict[int, TcpAttempt] = {}  # fd -> attempt, while in the epoll set
        self._deadlines: Deadlines | None = None
        self._batch = 0  # counts _ready calls (see TcpAttempt._batch)

    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadlines = Deadlines(loop)
        if hasattr(select, "epoll"):
            self._epoll = select.epoll()
            try:
                loop.add_reader(self._epoll.fileno(), self._ready)
            except BaseException:
                self._epoll.close()
                self._epoll = None
                raise

    def close(self) -> None:
        """Drop every connect in flight (no outcomes) and release the epoll set."""
        if self._deadlines is not None:
            for attempt in self._deadlines.close():
                attempt.cancel()  # type: ignore[attr-defined]
        for attempt in list(self._waiting.values()):
            attempt.cancel()
        if self._epoll is not None and self._loop is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
        self._epoll = self._loop = self._deadlines = None

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def start(self, probe: Probe,
              on_done: Callable[[Outcome], None]) -> Outcome | TcpAttempt | None:
        """One attempt without a task: the Outcome when it is known at once, else the
        attempt in flight (it calls `on_done(outcome)` once), or None when this path does
        not apply (a host name: use `check_tcp`). Never raises but for bugs; outcomes are
        as `check_tcp`'s."""
        if not probe.host or probe.port is None:
            return failed("error", "host and port must be configured")
        address = literal_address(probe.host, probe.port)
        if address is None:
            return None
        family, sockaddr = address
        loop = self._loop
        if loop is None:
            self._open(asyncio.get_running_loop())
            loop = self._loop
            assert loop is not None
        try:
            sock = _FastSocket(family, _STREAM)
        except OSError as exc:
            kind, message = os_error(exc) or ("error", type(exc).__name__)
            return failed(kind, message)
        try:
            if not _NONBLOCK:
                sock.setblocking(False)
            started = loop.time()
            err = sock.connect_ex(sockaddr)
            if err in _PENDING:
                attempt = TcpAttempt(self, probe, sock, started, on_done)
                self._watch(attempt)
                return attempt
            if err == 0:  # loopback may connect at once
                seconds = loop.time() - started
                sock.close()
                return _connected(probe, seconds)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Outcome
            sock.close()
            kind, message = os_error(exc) or ("error", type(exc).__name__)
            return failed(kind, message)
        sock.close()
        return _refused(err)

    def _watch(self, attempt: TcpAttempt) -> None:
        fd = attempt._fd
        if self._epoll is not None:
            self._epoll.register(fd, _EPOLL_CONNECT)
            self._waiting[fd] = attempt
        else:
            assert self._loop is not None
            self._loop.add_writer(fd, attempt._writable)
        assert self._deadlines is not None
        self._deadlines.add(attempt._started + attempt._probe.timeout, attempt)

    def _forget(self, attempt: TcpAttempt) -> None:
        if self._epoll is not None:
            if self._waiting.get(attempt._fd) is attempt:
                del self._waiting[attempt._fd]
        elif self._loop is not None:
            self._loop.remove_writer(attempt._fd)

    def _ready(self) -> None:
        """The epoll set has connects that completed (or failed)."""
        if self._epoll is None:
            return
        self._batch += 1
        batch, waiting = self._batch, self._waiting
        for fd, _ in self._epoll.poll(0, 512):
            attempt = waiting.get(fd)
            # an fd closed earlier in this batch may already be a new attempt's socket
            if attempt is not None and attempt._batch != batch:
                attempt._writable()


_EPOLL_CONNECT = (select.EPOLLOUT | select.EPOLLONESHOT) if hasattr(select, "epoll") else 0
