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
