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
from typing import Any

from slaprobe.config import Probe

from ._base import Outcome, failed, fmt_seconds, os_error, resolve, too_slow
from ._icmp_packet import build_echo_request, parse_echo_reply

MODES = ("auto", "dgram", "raw")
PERMISSION_ADVICE = (
    "run as root or with CAP_NET_RAW, or allow ping sockets: "
    "sysctl net.ipv4.ping_group_range='0 2147483647'"
)
SPACING = 0.005  # seconds between the echo requests of one check
_TOKEN_SIZE = 8
_COUNTER = struct.Struct("!Q")
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
        except _Busy:
            return failed("error", "too many echo requests in flight")
        except OSError as exc:
            kind, message = os_error(exc) or ("error", os.strerror(exc.errno or 0).lower())
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


class _Batch:
    """The replies one check waits for; `done` resolves when all are in."""

    __slots__ = ("done", "left", "rtts")

    def __init__(self, count: int, done: asyncio.Future[None]) -> None:
        self.rtts: list[float] = []
        self.left = count
        self.done = done

    def add(self, rtt: float) -> None:
        self.rtts.append(rtt)
        self.left -= 1
        if self.left <= 0:
            self.finish()

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


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
        # sequence -> (batch, counter, sent monotonic, sent wall clock)
        self._pending: dict[int, tuple[_Batch, int, float, float]] = {}

    @property
    def in_flight(self) -> int:
        """Echo requests still waiting for a reply."""
        return len(self._pending)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        for batch, *_ in list(self._pending.values()):
            batch.finish()
        self._pending.clear()

    async def ping(self, sockaddr: tuple[Any, ...], count: int, deadline: float) -> list[float]:
        """Send `count` echo requests SPACING apart; the RTTs of replies by `deadline`."""
        loop = self._loop
        batch = _Batch(count, loop.create_future())
        timer = loop.call_at(deadline, batch.finish)
        seqs: list[int] = []
        try:
            for i in range(count):
                if i:
                    pause = min(SPACING, deadline - loop.time())
                    if pause <= 0:
                        break
                    await asyncio.sleep(pause)
                try:
                    seqs.append(await self._send(batch, sockaddr, deadline))
                except TimeoutError:  # the send buffer stayed full until the deadline
                    break
            batch.left -= count - len(seqs)  # never sent: lost
            if batch.left > 0 and loop.time() < deadline:
                await batch.done
        finally:
            timer.cancel()
            for seq in seqs:
                entry = self._pending.get(seq)
                if entry is not None and entry[0] is batch:
                    del self._pending[seq]
        return batch.rtts

    async def _send(self, batch: _Batch, sockaddr: tuple[Any, ...], deadline: float) -> int:
        seq = self._next_seq()
        counter = self._counter
        packet = build_echo_request(self._ident, seq, self._token + _COUNTER.pack(counter),
                                    v6=self._v6)
        self._pending[seq] = (batch, counter, time.monotonic(), time.time())
        try:
            try:
                self._sock.sendto(packet, sockaddr)
            except (BlockingIOError, InterruptedError):  # send buffer full: wait, not lose
                async with asyncio.timeout_at(deadline):
                    await self._loop.sock_sendto(self._sock, packet, sockaddr)
        except BaseException:
            del self._pending[seq]
            raise
        return seq

    def _next_seq(self) -> int:
        for _ in range(0x10000):
            self._counter += 1
            seq = self._counter & 0xFFFF
            if seq not in self._pending:
                return seq
        raise _Busy()

    def _on_readable(self) -> None:
        """Drain what arrived (bounded, so one flood cannot hold the loop)."""
        for _ in range(256):
            try:
                data, ancdata, _, _ = self._sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # a queued ICMP error; reading it cleared it
                continue
            self._match(data, ancdata, time.monotonic())

    def _match(self, data: bytes, ancdata: list[tuple[int, int, bytes]], now: float) -> None:
        reply = parse_echo_reply(data, v6=self._v6)
        if reply is None or reply.payload[:_TOKEN_SIZE] != self._token:
            return
        if self._raw and reply.ident != self._ident:
            return
        entry = self._pending.get(reply.seq)
        if entry is None or reply.payload[_TOKEN_SIZE:] != _COUNTER.pack(entry[1]):
            return
        del self._pending[reply.seq]
        batch, _, sent_mono, sent_wall = entry
        rtt = now - sent_mono
        received = _kernel_time(ancdata) if self._timestamps else None
        if received is not None and 0 <= received - sent_wall <= rtt:
            rtt = received - sent_wall
        batch.add(rtt)


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
