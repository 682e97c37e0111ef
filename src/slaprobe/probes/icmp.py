"""ICMP echo checks over one shared socket per address family.

Why one shared socket (PERFORMANCE.md, "ICMP"): a socket per ping costs a
syscall trio and, for raw sockets, every raw socket sees every ICMP packet on
the host. One socket per family, read with `loop.add_reader`, serves every
check; replies are matched to checks by sequence number:

1. A global 64-bit counter numbers every echo request; its low 16 bits are
   the ICMP sequence and the whole counter rides in the payload after a
   random per-socket token, so a late reply to a reused sequence is ignored.
2. Ping sockets (`SOCK_DGRAM`, "dgram" mode) let the kernel own the
   identifier and deliver only our replies; raw sockets ("raw" mode, root or
   CAP_NET_RAW) see all ICMP, so the identifier, type and token are checked
   and kernel filters drop everything but echo replies.
3. "auto" mode tries dgram, then raw; when both are refused the check fails
   with kind "permission" and both ways to fix it.
4. RTTs use kernel receive timestamps where Linux gives them, so a busy event
   loop does not make the target look slow; else the loop's clock.
5. Deadlines share one loop timer per socket (`_deadlines.Deadlines`): nearly
   every echo is answered long before its deadline, so a timer per check would
   be made and cancelled for nothing.
"""

from __future__ import annotations

import asyncio
import errno
import os
import platform
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from slaprobe.config import Probe

from ._base import Outcome, failed, fmt_seconds, literal_address, os_error, resolve, too_slow
from ._deadlines import Deadlines
from ._icmp_packet import TokenEchoRequests, parse_token_echo_reply

MODES = ("auto", "dgram", "raw")
PERMISSION_ADVICE = (
    "run as root or with CAP_NET_RAW, or allow ping sockets: "
    "sysctl net.ipv4.ping_group_range='0 2147483647'"
)
SPACING = 0.005  # seconds between the echo requests of one check
_TOKEN_SIZE = 8
_TIMESPEC = struct.Struct("@ll")
# SO_TIMESTAMPNS; Python has no constant. 35 on the asm-generic Linux ABIs.
_SO_TIMESTAMPNS = (
    35 if sys.platform == "linux"
    and platform.machine().startswith(("x86", "i686", "amd64", "aarch64", "arm", "riscv", "s390"))
    else None
)
_SOL_RAW, _ICMP_FILTER, _ICMP6_FILTER, _SO_RCVBUFFORCE = 255, 1, 1, 33
_RCVBUF = 4 << 20  # room for a burst of replies while the loop is busy


class IcmpEngine:
    """The echo sockets all checks share, one per address family, made on first use.

    `mode` is "auto" (ping socket, else raw), "dgram" or "raw"; tests force one.
    """

    def __init__(self, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"icmp mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self._sockets: dict[int, EchoSocket] = {}

    def socket_for(self, family: int) -> EchoSocket:
        """The shared socket for `family`; PermissionError when no mode is allowed."""
        sock = self._sockets.get(family)
        if sock is None:
            sock = self._sockets[family] = _open(family, self.mode)
        return sock

    def close(self) -> None:
        sockets, self._sockets = list(self._sockets.values()), {}
        for sock in sockets:
            sock.close()

    def start(self, probe: Probe,
              on_done: Callable[[Outcome], None]) -> Outcome | IcmpAttempt | None:
        """One attempt without a task (the daemon's fast path, for an IP literal): the
        Outcome when known at once, else the attempt in flight (it calls `on_done(outcome)`
        once), or None when this path does not apply (a host name: use `check`)."""
        if not probe.host:
            return failed("error", "no host configured")
        address = literal_address(probe.host, 0)
        if address is None:
            return None
        family, sockaddr = address
        sock = self._sockets.get(family)
        if sock is None:
            try:
                sock = self.socket_for(family)
            except PermissionError:
                return failed("permission", f"ICMP sockets not allowed: {PERMISSION_ADVICE}")
            except OSError as exc:
                return failed("error",
                              f"cannot open an ICMP socket ({os.strerror(exc.errno or 0)})")
        count = max(1, probe.count)
        attempt = IcmpAttempt(probe, count)
        ping = attempt._ping = _Ping(sock, sockaddr, count, sock._loop.time() + probe.timeout,
                                     attempt._finished)
        ping.start()
        outcome = attempt._outcome
        if outcome is not None:  # over before start() returned: no call to on_done
            return outcome
        attempt._on_done = on_done
        return attempt

    async def check(self, probe: Probe) -> Outcome:
        """One attempt: `probe.count` echo requests within `probe.timeout`."""
        if not probe.host:
            return failed("error", "no host configured")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + probe.timeout
        try:
            async with asyncio.timeout(probe.timeout):
                family, sockaddr = (await resolve(probe.host, 0, socket.SOCK_DGRAM))[0]
        except TimeoutError:
            return failed("timeout", f"name not resolved within {fmt_seconds(probe.timeout)}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Outcome
            kind, message = os_error(exc) or ("error", type(exc).__name__)
            return failed(kind, message)
        try:
            sock = self.socket_for(family)
        except PermissionError:
            return failed("permission", f"ICMP sockets not allowed: {PERMISSION_ADVICE}")
        except OSError as exc:
            return failed("error", f"cannot open an ICMP socket ({os.strerror(exc.errno or 0)})")
        count = max(1, probe.count)
        try:
            rtts = await sock.ping(sockaddr, count, deadline)
        except (_Busy, OSError) as exc:
            return _outcome(count, [], exc, probe)
        return verdict(count, rtts, probe.max_loss, probe.max_latency)


def _outcome(count: int, rtts: list[float], error: BaseException | None,
             probe: Probe) -> Outcome:
    if isinstance(error, _Busy):
        return failed("error", "too many echo requests in flight")
    if isinstance(error, OSError):
        kind, message = os_error(error) or ("error", os.strerror(error.errno or 0).lower())
        return failed(kind, f"send failed: {message}")
    return verdict(count, rtts, probe.max_loss, probe.max_latency)


def verdict(count: int, rtts: list[float], max_loss: float, max_latency: float | None) -> Outcome:
    """count requests and the RTTs (seconds) of the replies -> the Outcome (pure)."""
    lost = count - len(rtts)
    mean = sum(rtts) / len(rtts) if rtts else None
    latency_ms = None if mean is None else mean * 1000
    if lost / count > max_loss:
        return failed("loss", f"{lost}/{count} lost", latency_ms)
    slow = too_slow(mean, max_latency) if mean is not None else None
    if slow:
        return failed("slow", slow, latency_ms)
    return Outcome(True, latency_ms, None)


def _open(family: int, mode: str) -> EchoSocket:
    """A socket in the first allowed mode (rule 3).

    Raises the family's EAFNOSUPPORT when IPv6 (say) is off, else
    PermissionError when a mode was refused, else the last error.
    """
    errors: list[OSError] = []
    for one in ("dgram", "raw") if mode == "auto" else (mode,):
        try:
            return EchoSocket(family, one)
        except OSError as exc:  # refused, or no ping socket support
            errors.append(exc)
    unsupported = [e for e in errors if e.errno == errno.EAFNOSUPPORT]
    refused = [e for e in errors if isinstance(e, PermissionError)]
    raise (unsupported or refused or errors)[-1]


class _Busy(Exception):
    """All 65536 sequence numbers are waiting for replies."""


class _Ping:
    """One check's echo requests, driven by loop callbacks (no task): `count` requests
    SPACING apart, then `on_done(rtts, error)` once, when every reply is in or at
    `deadline`. `error` is the _Busy or OSError that stopped the sending, else None."""

    __slots__ = ("count", "deadline", "esock", "finished", "left", "on_done", "rtts", "seqs",
                 "sockaddr", "task", "wait")

    def __init__(self, esock: EchoSocket, sockaddr: tuple[Any, ...], count: int,
                 deadline: float,
                 on_done: Callable[[list[float], BaseException | None], None]) -> None:
        self.esock, self.sockaddr, self.count, self.deadline = esock, sockaddr, count, deadline
        self.on_done = on_done
        self.rtts: list[float] = []
        self.left = count
        self.seqs: list[int] = []
        self.finished = False
        self.wait: asyncio.TimerHandle | None = None  # the pause before the next request
        self.task: asyncio.Task[None] | None = None  # a send waiting for buffer space

    def start(self) -> None:
        self.esock._deadlines.add(self.deadline, self)
        self._send()

    def add(self, rtt: float) -> None:
        """A matched reply (EchoSocket._match)."""
        self.rtts.append(rtt)
        self.left -= 1
        if self.left <= 0:
            self.finish()

    def _send(self) -> None:
        self.wait = None
        if self.finished:
            return
        esock = self.esock
        try:
            seq, packet = esock._register(self)
            try:
                esock._sock.sendto(packet, self.sockaddr)
            except (BlockingIOError, InterruptedError):  # send buffer full: wait, not lose
                self.task = esock._loop.create_task(self._send_later(seq, packet))
                return
            except BaseException:
                esock._pending.pop(seq, None)
                raise
        except (_Busy, OSError) as exc:
            self.finish(exc)
            return
        self._sent(seq)

    async def _send_later(self, seq: int, packet: bytes) -> None:
        esock = self.esock
        try:
            async with asyncio.timeout_at(self.deadline):
                await esock._loop.sock_sendto(esock._sock, packet, self.sockaddr)
        except TimeoutError:  # the send buffer stayed full until the deadline
            esock._pending.pop(seq, None)
            self.task = None
            self._stop_sending()
            return
        except OSError as exc:
            esock._pending.pop(seq, None)
            self.task = None
            self.finish(exc)
            return
        self.task = None
        self._sent(seq)

    def _sent(self, seq: int) -> None:
        self.seqs.append(seq)
        if len(self.seqs) < self.count:
            loop = self.esock._loop
            pause = min(SPACING, self.deadline - loop.time())
            if pause > 0:
                self.wait = loop.call_later(pause, self._send)
                return
        self._stop_sending()

    def _stop_sending(self) -> None:
        self.left -= self.count - len(self.seqs)  # never sent: lost
        if self.left <= 0 or self.esock._loop.time() >= self.deadline:
            self.finish()

    def _release(self) -> None:
        self.finished = True  # its entry in EchoSocket._deadlines is dropped lazily
        if self.wait is not None:
            self.wait.cancel()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        pending = self.esock._pending
        for seq in self.seqs:
            entry = pending.get(seq)
            if entry is not None and entry[0] is self:
                del pending[seq]

    def finish(self, error: BaseException | None = None) -> None:
        if not self.finished:
            self._release()
            self.on_done(self.rtts, error)

    def expire(self) -> None:
        """The deadline (EchoSocket._deadlines)."""
        self.finish()

    def cancel(self) -> None:
        """Stop without calling on_done."""
        if not self.finished:
            self._release()


class IcmpAttempt:
    """One fast-path attempt in flight: `cancel()` drops it without an outcome."""

    __slots__ = ("_count", "_on_done", "_outcome", "_ping", "_probe")

    def __init__(self, probe: Probe, count: int) -> None:
        self._probe, self._count = probe, count
        self._on_done: Callable[[Outcome], None] | None = None  # set once start() returns
        self._outcome: Outcome | None = None
        self._ping: _Ping | None = None

    def _finished(self, rtts: list[float], error: BaseException | None) -> None:
        probe = self._probe
        if error is None:
            outcome = verdict(self._count, rtts, probe.max_loss, probe.max_latency)
        else:
            outcome = _outcome(self._count, rtts, error, probe)
        on_done = self._on_done
        if on_done is None:  # still inside IcmpEngine.start, which returns it
            self._outcome = outcome
        else:
            on_done(outcome)

    def cancel(self) -> None:
        if self._ping is not None:
            self._ping.cancel()


class EchoSocket:
    """One ICMP socket for one family, shared by every check (see module doc)."""

    def __init__(self, family: int, mode: str) -> None:
        self.family = family
        self.mode = mode
        self._v6 = family == socket.AF_INET6
        self._raw = mode == "raw"
        proto = socket.IPPROTO_ICMPV6 if self._v6 else socket.IPPROTO_ICMP
        kind = socket.SOCK_RAW if self._raw else socket.SOCK_DGRAM
        self._sock = socket.socket(family, kind, proto)
        try:
            self._sock.setblocking(False)
            self._timestamps = _tune(self._sock, self._v6, self._raw)
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
        except BaseException:
            self._sock.close()
            raise
        self._ident = int.from_bytes(os.urandom(2), "big")  # raw only; ping sockets set their own
        self._token = os.urandom(_TOKEN_SIZE)
        self._counter = int.from_bytes(os.urandom(2), "big")
        self._requests = TokenEchoRequests(self._ident, self._token, v6=self._v6)
        # sequence -> (ping, counter, sent monotonic, sent wall clock)
        self._pending: dict[int, tuple[_Ping, int, float, float]] = {}
        self._deadlines = Deadlines(self._loop)  # every ping's deadline, one timer (5.)

    @property
    def in_flight(self) -> int:
        """Echo requests still waiting for a reply."""
        return len(self._pending)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        pings = [entry[0] for entry in self._pending.values()]
        pings += self._deadlines.close()  # type: ignore[arg-type]
        for ping in pings:
            ping.finish()
        self._pending.clear()

    @property
    def deadlines_kept(self) -> int:
        """Entries in the deadline heap (finished pings' entries until they are dropped)."""
        return len(self._deadlines)

    async def ping(self, sockaddr: tuple[Any, ...], count: int, deadline: float) -> list[float]:
        """Send `count` echo requests SPACING apart; the RTTs of replies by `deadline`.
        Raises _Busy or the OSError of a failed send."""
        done: asyncio.Future[tuple[list[float], BaseException | None]] = \
            self._loop.create_future()

        def on_done(rtts: list[float], error: BaseException | None) -> None:
            if not done.done():
                done.set_result((rtts, error))

        ping = _Ping(self, sockaddr, count, deadline, on_done)
        ping.start()
        try:
            rtts, error = await done
        except BaseException:
            ping.cancel()
            raise
        if error is not None:
            raise error
        return rtts

    def _register(self, ping: _Ping) -> tuple[int, bytes]:
        """A new sequence number for `ping`, noted as waiting, and its packet."""
        counter = self._counter + 1
        seq = counter & 0xFFFF
        if seq in self._pending:
            self._counter = counter - 1
            seq = self._next_seq()
            counter = self._counter
        else:
            self._counter = counter
        packet = self._requests.build(seq, counter)
        self._pending[seq] = (ping, counter, time.monotonic(), time.time())
        return seq, packet

    def _next_seq(self) -> int:
        for _ in range(0x10000):
            self._counter += 1
            seq = self._counter & 0xFFFF
            if seq not in self._pending:
                return seq
        raise _Busy()

    def _on_readable(self) -> None:
        """Drain what arrived (bounded, so one flood cannot hold the loop)."""
        recvmsg, match, monotonic = self._sock.recvmsg, self._match, time.monotonic
        for _ in range(256):
            try:
                data, ancdata, _, _ = recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # a queued ICMP error; reading it cleared it
                continue
            match(data, ancdata, monotonic())

    def _match(self, data: bytes, ancdata: list[tuple[int, int, bytes]], now: float) -> None:
        reply = parse_token_echo_reply(data, v6=self._v6)
        if reply is None:
            return
        ident, seq, token, counter = reply
        if token != self._token or (self._raw and ident != self._ident):
            return
        entry = self._pending.get(seq)
        if entry is None or entry[1] != counter:
            return
        del self._pending[seq]
        ping, _, sent_mono, sent_wall = entry
        rtt = now - sent_mono
        if self._timestamps and ancdata:
            received = _kernel_time(ancdata)
            if received is not None and 0 <= received - sent_wall <= rtt:
                rtt = received - sent_wall
        ping.add(rtt)


def _tune(sock: socket.socket, v6: bool, raw: bool) -> bool:
    """Best-effort socket options; returns whether kernel timestamps are on."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _RCVBUF)
            break
        except OSError:
            continue
    if raw:
        try:
            if v6:  # Linux ICMP6_FILTER: a set bit blocks that type; pass only 129
                words = [0xFFFFFFFF] * 8
                words[129 >> 5] &= ~(1 << (129 & 31)) & 0xFFFFFFFF
                sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words))
            else:  # Linux ICMP_FILTER: a set bit blocks that type; pass only 0
                sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", 0xFFFFFFFE))
        except OSError:
            pass
    if _SO_TIMESTAMPNS is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def _kernel_time(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The SCM_TIMESTAMPNS receive time (wall clock seconds) in `ancdata`, if any."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) == _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(data)
            return float(seconds + nanoseconds / 1e9)
    return None
