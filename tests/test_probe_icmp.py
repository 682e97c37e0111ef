"""ICMP echo checks to the loopback addresses, over the shared sockets."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from slaprobe.config import Probe
from slaprobe.probes import Outcome, ProbeContext, run_check
from slaprobe.probes.icmp import PERMISSION_ADVICE, IcmpEngine, verdict

PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


def icmp_probe(host: str, **fields: object) -> Probe:
    return replace(Probe(id="gw", kind="icmp", host=host, count=3, timeout=1.0), **fields)


def check(probe: Probe, mode: str = "auto") -> Outcome:
    async def go() -> Outcome:
        async with ProbeContext(icmp_mode=mode) as ctx:
            return await run_check(probe, ctx)
    return asyncio.run(go())


def kind(outcome: Outcome) -> str | None:
    return None if outcome.error is None else outcome.error.split(":", 1)[0]


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.connect(("::1", 9))
        return True
    except OSError:
        return False


def raw_sockets_allowed() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True
    except OSError:
        return False


def ping_group_allows(gid: int) -> bool:
    try:
        low, high = map(int, PING_GROUP_RANGE.read_text().split())
    except (OSError, ValueError):
        return False
    return low <= gid <= high


needs_icmp = pytest.mark.skipif(
    not raw_sockets_allowed() and not ping_group_allows(os.getgid()),
    reason="no ICMP socket allowed here (neither CAP_NET_RAW nor ping_group_range)",
)
needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(),
                                reason="IPv6 loopback (::1) is not available here")


@pytest.fixture
def ping_group_lock() -> Iterator[None]:
    """Serialise tests that change or rely on ping_group_range across test processes,
    so parallel runs cannot save each other's temporary value as "the original"."""
    with open(os.path.join(tempfile.gettempdir(), "slaprobe-ping-group-range.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture
def ping_sockets_enabled(ping_group_lock: None) -> Iterator[None]:
    """Widen net.ipv4.ping_group_range for one test, then put it back."""
    try:
        old = PING_GROUP_RANGE.read_text()
        PING_GROUP_RANGE.write_text("0 2147483647")
    except OSError as exc:
        pytest.skip(f"cannot enable ping sockets via {PING_GROUP_RANGE}: {exc}")
    try:
        yield
    finally:
        PING_GROUP_RANGE.write_text(old)


@pytest.fixture
def ping_sockets_denied(ping_group_lock: None) -> None:
    if ping_group_allows(os.getgid()):
        pytest.skip("ping sockets are allowed for this process's group here")


# --- the verdict (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "rtts", "max_loss", "max_latency", "expected"),
    [
        (3, [0.001, 0.002, 0.003], 0.0, None, Outcome(True, 2.0, None)),
        (3, [0.001, 0.003], 0.0, None, Outcome(False, 2.0, "loss: 1/3 lost")),
        (3, [0.001, 0.003], 0.34, None, Outcome(True, 2.0, None)),
        (3, [0.002], 0.34, None, Outcome(False, 2.0, "loss: 2/3 lost")),
        (3, [], 0.5, None, Outcome(False, None, "loss: 3/3 lost")),
        (3, [], 1.0, None, Outcome(True, None, None)),  # the operator allowed total loss
        (1, [0.5], 0.0, 0.2, Outcome(False, 500.0, "slow: 500 ms > max 200 ms")),
        (2, [0.1, 0.3], 0.0, 0.2, Outcome(True, 200.0, None)),  # the mean is what counts
    ],
)
def test_verdict(count: int, rtts: list[float], max_loss: float, max_latency: float | None,
                 expected: Outcome) -> None:
    outcome = verdict(count, rtts, max_loss, max_latency)
    assert (outcome.ok, outcome.error) == (expected.ok, expected.error)
    assert outcome.latency_ms == pytest.approx(expected.latency_ms)


# --- real echoes -------------------------------------------------------------------


@needs_icmp
def test_ipv4_loopback_answers_every_echo() -> None:
    outcome = check(icmp_probe("127.0.0.1"))
    assert outcome.ok, outcome
    assert outcome.latency_ms is not None and 0 < outcome.latency_ms < 1000


@needs_icmp
@needs_ipv6
def test_ipv6_loopback_answers_every_echo() -> None:
    outcome = check(icmp_probe("::1"))
    assert outcome.ok, outcome
    assert outcome.latency_ms is not None and outcome.latency_ms > 0


@needs_icmp
def test_names_are_resolved() -> None:
    assert check(icmp_probe("localhost")).ok


def test_unresolvable_name_is_dns() -> None:
    assert check(icmp_probe("nonexistent.invalid")).error == "dns: name not found"


@needs_icmp
def test_no_reply_before_the_deadline_is_loss() -> None:
    # With a 1 µs budget the check never yields to the loop, so no reply is read.
    assert check(icmp_probe("127.0.0.1", timeout=1e-6)).error == "loss: 3/3 lost"


@needs_icmp
def test_slower_than_max_latency_is_slow() -> None:
    outcome = check(icmp_probe("127.0.0.1", count=1, max_latency=1e-9))
    assert kind(outcome) == "slow"


@needs_icmp
def test_concurrent_burst_shares_one_socket_and_matches_every_reply() -> None:
    async def go() -> tuple[list[Outcome], int]:
        async with ProbeContext() as ctx:
            outcomes = await asyncio.gather(
                *(run_check(icmp_probe("127.0.0.1", timeout=1.5), ctx) for _ in range(200)))
            return outcomes, ctx.icmp.socket_for(socket.AF_INET).in_flight
    outcomes, in_flight = asyncio.run(go())
    assert [o.error for o in outcomes if not o.ok] == []
    assert in_flight == 0


@needs_icmp
@needs_ipv6
def test_concurrent_checks_to_both_families_do_not_mix() -> None:
    async def go() -> list[Outcome]:
        async with ProbeContext() as ctx:
            hosts = ["127.0.0.1", "::1", "127.0.0.2"] * 30
            return await asyncio.gather(*(run_check(icmp_probe(h), ctx) for h in hosts))
    assert all(o.ok for o in asyncio.run(go()))


@needs_icmp
def test_cancelled_checks_leave_nothing_in_flight() -> None:
    async def go() -> int:
        async with ProbeContext() as ctx:
            tasks = [asyncio.create_task(run_check(icmp_probe("127.0.0.1", count=5), ctx))
                     for _ in range(20)]
            await asyncio.sleep(0.002)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return ctx.icmp.socket_for(socket.AF_INET).in_flight
    assert asyncio.run(go()) == 0


# --- socket modes and permissions ----------------------------------------------------


@pytest.mark.skipif(not raw_sockets_allowed(), reason="raw sockets need root or CAP_NET_RAW")
def test_raw_mode_works_when_forced() -> None:
    async def go() -> tuple[Outcome, str]:
        async with ProbeContext(icmp_mode="raw") as ctx:
            outcome = await run_check(icmp_probe("127.0.0.1"), ctx)
            return outcome, ctx.icmp.socket_for(socket.AF_INET).mode
    outcome, mode = asyncio.run(go())
    assert outcome.ok, outcome
    assert mode == "raw"


def test_dgram_mode_works_when_ping_sockets_are_allowed(ping_sockets_enabled: None) -> None:
    hosts = ["127.0.0.1"] + (["::1"] if ipv6_loopback() else [])

    async def go() -> tuple[list[Outcome], list[str]]:
        async with ProbeContext(icmp_mode="dgram") as ctx:
            outcomes = await asyncio.gather(*(run_check(icmp_probe(h), ctx) for h in hosts * 20))
            families = [socket.AF_INET] + ([socket.AF_INET6] if len(hosts) > 1 else [])
            return outcomes, [ctx.icmp.socket_for(f).mode for f in families]
    outcomes, modes = asyncio.run(go())
    assert [o.error for o in outcomes if not o.ok] == []
    assert set(modes) == {"dgram"}


def test_auto_mode_prefers_ping_sockets(ping_sockets_enabled: None) -> None:
    async def go() -> str:
        async with ProbeContext() as ctx:
            assert (await run_check(icmp_probe("127.0.0.1"), ctx)).ok
            return ctx.icmp.socket_for(socket.AF_INET).mode
    assert asyncio.run(go()) == "dgram"


def test_dgram_mode_refused_is_permission_naming_both_fixes(ping_sockets_denied: None) -> None:
    outcome = check(icmp_probe("127.0.0.1", retries=3), mode="dgram")
    assert outcome.error == f"permission: ICMP sockets not allowed: {PERMISSION_ADVICE}"
    assert "CAP_NET_RAW" in PERMISSION_ADVICE
    assert "net.ipv4.ping_group_range='0 2147483647'" in PERMISSION_ADVICE


# Run in a child that first drops CAP_NET_RAW (capget/capset, version 3 ABI).
DROP_NET_RAW_THEN_PING = """
import asyncio, ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))
data = ctypes.create_string_buffer(24)
assert libc.capget(header, data) == 0, ctypes.get_errno()
caps = list(struct.unpack("6I", data.raw))
caps[0] &= ~(1 << 13)  # effective
caps[1] &= ~(1 << 13)  # permitted
data = ctypes.create_string_buffer(struct.pack("6I", *caps))
assert libc.capset(header, data) == 0, ctypes.get_errno()
from slaprobe.config import Probe
from slaprobe.probes import ProbeContext, run_check
async def go():
    async with ProbeContext() as ctx:
        print((await run_check(Probe(id="p", kind="icmp", host="127.0.0.1"), ctx)).error)
asyncio.run(go())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="drops a Linux capability")
def test_process_without_icmp_rights_gets_permission_outcome(ping_sockets_denied: None) -> None:
    result = subprocess.run([sys.executable, "-c", DROP_NET_RAW_THEN_PING],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"permission: ICMP sockets not allowed: {PERMISSION_ADVICE}"


def test_unknown_mode_is_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="icmp mode"):
        IcmpEngine("udp")


def test_missing_host_fails_instead_of_raising() -> None:
    assert check(Probe(id="p", kind="icmp")).error == "error: no host configured"


@needs_icmp
def test_checks_in_flight_share_one_deadline_timer() -> None:
    async def go() -> tuple[int, list[Outcome]]:
        loop = asyncio.get_running_loop()
        got: list[Outcome] = []
        async with ProbeContext() as ctx:
            probe = icmp_probe("127.0.0.1", count=1, timeout=5.0)
            ctx.start_check(probe, got.append)  # opens the socket
            timers = len(loop._scheduled)  # type: ignore[attr-defined]
            for _ in range(100):
                assert ctx.start_check(probe, got.append) is not None
            more = len(loop._scheduled) - timers  # type: ignore[attr-defined]
            while len(got) < 101:
                await asyncio.sleep(0.001)
        return more, got
    more, got = asyncio.run(go())
    assert more == 0
    assert all(o.ok for o in got)


@needs_icmp
def test_an_unanswered_fast_path_check_is_loss_at_its_deadline() -> None:
    async def go() -> tuple[Outcome, float]:
        loop = asyncio.get_running_loop()
        got: list[tuple[float, Outcome]] = []
        async with ProbeContext() as ctx:
            esock = ctx.icmp.socket_for(socket.AF_INET)
            esock._match = lambda *args: None  # type: ignore[method-assign]  # replies lost
            start = loop.time()
            ctx.start_check(icmp_probe("127.0.0.1", count=1, timeout=0.1),
                            lambda o: got.append((loop.time() - start, o)))
            while not got:
                await asyncio.sleep(0.005)
            assert esock.in_flight == 0
        return got[0][1], got[0][0]
    outcome, took = asyncio.run(go())
    assert outcome.error == "loss: 1/1 lost"
    assert 0.1 - 1e-3 <= took < 0.2
