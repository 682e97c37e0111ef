"""TCP checks against real loopback listeners."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from servers import HangServer, closed_port

from slaprobe.config import Probe
from slaprobe.probes import Outcome, ProbeContext, run_check


def tcp_probe(host: str, port: int | None, **fields: object) -> Probe:
    return replace(Probe(id="db", kind="tcp", host=host, port=port, timeout=2.0), **fields)


def check(probe: Probe) -> Outcome:
    async def go() -> Outcome:
        async with ProbeContext() as ctx:
            return await run_check(probe, ctx)
    return asyncio.run(go())


def kind(outcome: Outcome) -> str | None:
    return None if outcome.error is None else outcome.error.split(":", 1)[0]


@pytest.fixture(scope="module")
def listener() -> Iterator[HangServer]:
    with HangServer() as s:  # accepts and never sends: a banner is never waited for
        yield s


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_open_port_is_up_with_connect_latency(listener: HangServer) -> None:
    started = time.perf_counter()
    outcome = check(tcp_probe("127.0.0.1", listener.port))
    assert outcome.ok, outcome
    assert outcome.latency_ms is not None and 0 < outcome.latency_ms < 1000
    assert time.perf_counter() - started < 1  # closed at once, no banner wait


def test_name_is_resolved(listener: HangServer) -> None:
    assert check(tcp_probe("localhost", listener.port)).ok


@pytest.mark.skipif(not ipv6_loopback(), reason="IPv6 loopback (::1) is not available here")
def test_ipv6_loopback_is_up() -> None:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        assert check(tcp_probe("::1", server.getsockname()[1])).ok


def test_closed_port_is_refused() -> None:
    outcome = check(tcp_probe("127.0.0.1", closed_port()))
    assert outcome == Outcome(False, None, "refused: connection refused")


def test_closed_port_on_every_address_of_a_name_is_refused() -> None:
    assert kind(check(tcp_probe("localhost", closed_port()))) == "refused"


def test_unresolvable_name_is_dns() -> None:
    outcome = check(tcp_probe("nonexistent.invalid", 80))
    assert outcome.error == "dns: name not found"


def test_tiny_timeout_is_timeout(listener: HangServer) -> None:
    # A name needs the resolver thread, so the check must wait, and 1 µs is over first.
    outcome = check(tcp_probe("localhost", listener.port, timeout=1e-6))
    assert kind(outcome) == "timeout"
    assert outcome.error is not None and "within 0.001ms" in outcome.error


def test_slower_than_max_latency_is_slow(listener: HangServer) -> None:
    outcome = check(tcp_probe("127.0.0.1", listener.port, max_latency=1e-9))
    assert kind(outcome) == "slow"
    assert outcome.latency_ms is not None


def test_missing_port_fails_instead_of_raising() -> None:
    assert check(tcp_probe("127.0.0.1", None)).error == "error: host and port must be configured"


def test_retries_return_the_last_failure() -> None:
    assert kind(check(tcp_probe("127.0.0.1", closed_port(), retries=2))) == "refused"


def test_burst_of_concurrent_checks_all_succeed(listener: HangServer) -> None:
    async def go() -> list[Outcome]:
        async with ProbeContext() as ctx:
            probe = tcp_probe("127.0.0.1", listener.port)
            return await asyncio.gather(*(run_check(probe, ctx) for _ in range(100)))
    assert all(o.ok for o in asyncio.run(go()))


# --- the fast path's shared parts (TcpEngine) ------------------------------------------


def test_connects_in_flight_add_one_loop_reader_and_one_timer(stuck_port: int) -> None:
    probe = tcp_probe("127.0.0.1", stuck_port, timeout=5.0)

    async def go() -> tuple[int, int, int, int]:
        loop = asyncio.get_running_loop()
        async with ProbeContext() as ctx:
            ctx.start_check(probe, lambda outcome: None)  # the engine's first use
            timers = len(loop._scheduled)  # type: ignore[attr-defined]
            fds = len(loop._selector.get_map())  # type: ignore[attr-defined]
            attempts = [ctx.start_check(probe, lambda outcome: None) for _ in range(50)]
            more_timers = len(loop._scheduled) - timers  # type: ignore[attr-defined]
            more_fds = len(loop._selector.get_map()) - fds  # type: ignore[attr-defined]
            in_flight = ctx.tcp.in_flight
            for attempt in attempts:
                assert attempt is not None
                attempt.cancel()
            return more_timers, more_fds, in_flight, ctx.tcp.in_flight
    more_timers, more_fds, in_flight, after_cancel = asyncio.run(go())
    assert (more_timers, more_fds) == (0, 0)
    assert in_flight == 51 and after_cancel == 1


def test_timeouts_of_many_hanging_connects_each_come_once(stuck_port: int) -> None:
    probes = [tcp_probe("127.0.0.1", stuck_port, timeout=t) for t in (0.15, 0.05, 0.1) * 10]

    async def go() -> list[tuple[float, Outcome]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[float, Outcome]] = []
        async with ProbeContext() as ctx:
            start = loop.time()
            for p in probes:
                ctx.start_check(p, lambda o, p=p: got.append((loop.time() - start - p.timeout, o)))
            await asyncio.sleep(0.3)
            assert ctx.tcp.in_flight == 0
        return got
    got = asyncio.run(go())
    assert len(got) == 30
    assert all(kind(o) == "timeout" for _, o in got)
    assert all(-1e-3 <= late < 0.1 for late, _ in got), [late for late, _ in got]


def test_an_outcome_known_at_once_is_reported_before_start_check_returns() -> None:
    async def go() -> tuple[list[Outcome], bool]:
        async with ProbeContext() as ctx:
            got: list[Outcome] = []
            started = ctx.start_check(tcp_probe("127.0.0.1", None), got.append)
            assert started is not None
            started.cancel()  # nothing left to cancel: harmless
            return got, len(got) == 1
    got, once = asyncio.run(go())
    assert once and kind(got[0]) == "error"


def test_a_refused_connect_on_the_fast_path_is_refused() -> None:
    port = closed_port()

    async def go() -> Outcome:
        async with ProbeContext() as ctx:
            got: list[Outcome] = []
            assert ctx.start_check(tcp_probe("127.0.0.1", port), got.append) is not None
            while not got:
                await asyncio.sleep(0.001)
            return got[0]
    assert kind(asyncio.run(go())) == "refused"
