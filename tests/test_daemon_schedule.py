"""The daemon's one-timer scheduler, the callback fast paths for TCP and ICMP, and the
sliced /metrics and figures work, in process (fast) against loopback sockets."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import time
from typing import Any

import pytest
from faultkit import by_probe, config_text, db_checks, tcp_probe

import slaprobe.daemon as daemon_mod
from slaprobe.config import Probe, parse_config
from slaprobe.daemon import Daemon, ProbeLive
from slaprobe.metrics import (
    AgentMetrics,
    MetricsSnapshot,
    ProbeMetrics,
    render_metrics,
    render_metrics_async,
)
from slaprobe.metrics_snapshot import snapshot, snapshot_async
from slaprobe.probes import Outcome, ProbeContext, run_check


def _open_port() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0), backlog=512)
    return server, server.getsockname()[1]


# --- the fast TCP path ---------------------------------------------------------------


def test_a_tcp_check_of_an_address_runs_without_a_task() -> None:
    server, port = _open_port()
    with server:
        async def go() -> tuple[Outcome, bool]:
            async with ProbeContext() as ctx:
                got: list[Outcome] = []
                fast = ctx.start_check(Probe(id="p", kind="tcp", host="127.0.0.1", port=port),
                                       got.append)
                assert fast is not None
                while not got:
                    await asyncio.sleep(0.001)
                named = ctx.start_check(Probe(id="n", kind="tcp", host="localhost", port=port),
                                        got.append)
                return got[0], named is None
        outcome, name_declined = asyncio.run(go())
    assert outcome.ok and outcome.latency_ms is not None
    assert name_declined  # a host name needs the resolver: the coroutine path


def test_a_hanging_connect_times_out_on_the_fast_path(stuck_port: int) -> None:
    probe = Probe(id="p", kind="tcp", host="127.0.0.1", port=stuck_port, timeout=0.2)

    async def go() -> tuple[Outcome, float]:
        async with ProbeContext() as ctx:
            t = time.monotonic()
            outcome = await run_check(probe, ctx)
            return outcome, time.monotonic() - t
    outcome, took = asyncio.run(go())
    assert outcome == Outcome(False, None, "timeout: no TCP connection within 200ms")
    assert 0.19 <= took < 0.6


def test_fast_path_retries_and_cancel(stuck_port: int) -> None:
    probe = Probe(id="p", kind="tcp", host="127.0.0.1", port=stuck_port, timeout=0.1,
                  retries=2)

    async def go() -> tuple[float, list[Outcome]]:
        async with ProbeContext() as ctx:
            t = time.monotonic()
            await run_check(probe, ctx)  # three attempts, one after another
            took = time.monotonic() - t
            got: list[Outcome] = []
            fast = ctx.start_check(probe, got.append)
            assert fast is not None
            fast.cancel()
            await asyncio.sleep(0.25)
            return took, got
    took, got = asyncio.run(go())
    assert 0.29 <= took < 0.8
    assert got == []  # a cancelled check never reports


# --- /metrics built in slices -----------------------------------------------------


def _random_probe(rng: random.Random, i: int) -> ProbeMetrics:
    ids = ['say "hi"', "back\\slash", "new\nline", "ünïcode ✓", "}{,=", "", "plain"]

    def maybe(v: Any) -> Any:
        return v if rng.random() < 0.7 else None

    counts = {"up": rng.randrange(100), "down": rng.randrange(5)}
    if rng.random() < 0.1:
        counts = {"down": 3, "odd\"one": 1}
    return ProbeMetrics(
        id=f"{rng.choice(ids)}-{i}", kind=rng.choice(["tcp", "icmp", "http"]),
        client=rng.choice([None, "acme", 'a"b']), up=maybe(rng.choice([0, 1])),
        latency_seconds=maybe(rng.choice([0.001, 1e-7, float("inf"), float("nan"), 3.0])),
        checks_total=counts, availability_ratio=maybe(rng.random()),
        error_budget_remaining_seconds=maybe(rng.choice([-5.5, 0.0, 120.0, 7])),
        tls_cert_expiry_seconds=maybe(rng.choice([86400.0 * 30, -1.5])),
        location=rng.choice([None, "fra", 'x\\y']))


def test_sliced_rendering_is_the_same_text() -> None:
    rng = random.Random(7)
    snap = MetricsSnapshot(
        AgentMetrics(version="1", start_time_seconds=1.0, probes=1234,
                     lateness_quantiles=((0.5, 0.001),), central_backlog_checks=3,
                     central_backlog_age_seconds=1.5),
        tuple(_random_probe(rng, i) for i in range(1234)))
    text = asyncio.run(render_metrics_async(snap, slice_size=100))
    assert text == render_metrics(snap)


def test_the_daemon_snapshot_in_slices_is_the_snapshot(tmp_path) -> None:
    probes = [tcp_probe(f"p{i:04d}", "127.0.0.1", 9) for i in range(1200)]
    config = parse_config(config_text(probes), tmp_path / "probes.toml")
    d = Daemon(config, tmp_path / "t.db")
    for i, pid in enumerate(config.probes):
        if i % 3:
            d.live[pid] = ProbeLive(up=bool(i % 2), latency_ms=i / 7, checks_up=i,
                                    checks_down=i % 5, cert_days=(i if i % 4 else None))
        if i % 5:
            d.period_figures[pid] = (99.5 if i % 2 else None, float(i))
    full = snapshot(d)
    sliced = asyncio.run(snapshot_async(d, slice_size=100))
    assert sliced.probes == full.probes
    assert render_metrics(sliced) == render_metrics(full)


# --- the scheduler, in a running daemon -------------------------------------------


def _run(daemon: Daemon, seconds: float, during=None) -> float:
    """Run the daemon for `seconds` after it applied its configuration; return how
    long it really ran (wall clock), which a loaded machine stretches."""
    async def main() -> None:
        async def script() -> None:
            try:
                while not daemon._probes:  # run() has not applied the configuration yet
                    await asyncio.sleep(0.005)
                if during is not None:
                    await during(daemon)
                await asyncio.sleep(seconds)
            finally:
                daemon._stop.set()
        helper = asyncio.create_task(script())
        assert await daemon.run() == 0
        await helper
    started = time.monotonic()
    asyncio.run(main())
    return time.monotonic() - started


def test_probes_run_on_their_ticks_and_a_slow_one_skips_ticks(tmp_path, stuck_port) -> None:
    server, port = _open_port()
    with server:
        probes = [tcp_probe(f"ok{i}", "127.0.0.1", port, interval="100ms") for i in range(20)]
        probes.append(tcp_probe("hang", "127.0.0.1", stuck_port, interval="100ms",
                                timeout="250ms"))
        path = tmp_path / "probes.toml"
        config = parse_config(config_text(probes, database=str(tmp_path / "t.db")), path)
        d = Daemon(config, tmp_path / "t.db", config_path=path)
        ran = _run(d, 2.0)
    checks = by_probe(db_checks(tmp_path / "t.db"))
    # Only bounds a loaded machine cannot break: lateness delays checks, it never
    # adds any, so counts have a ceiling and gaps a floor (timing is in bench/).
    for i in range(20):
        got = checks[f"ok{i}"]
        # 2 s of 100 ms ticks, none doubled; the ceiling is what the daemon really ran
        assert 8 <= len(got) <= ran / 0.1 + 1, (i, len(got), ran)
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(got[1:])]  # the first: start-up
        assert min(gaps) > 0.02, gaps  # missed ticks are skipped, not run back to back
    hang = checks["hang"]
    gaps = [b.ts - a.ts for a, b in itertools.pairwise(hang)]
    # a 250 ms check on a 100 ms interval: never overlapping (the next starts after the
    # previous timed out), so at most one check per 250 ms
    assert hang and all(c.error == "timeout: no TCP connection within 250ms" for c in hang)
    assert all(g >= 0.245 for g in gaps), gaps
    assert len(hang) <= 8
    assert d.health.lateness_count >= 20 * 8


def test_a_timeout_while_the_loop_stalled_is_not_recorded(tmp_path, stuck_port) -> None:
    probes = [tcp_probe("hang", "127.0.0.1", stuck_port, interval="1s", timeout="200ms")]
    path = tmp_path / "probes.toml"
    config = parse_config(config_text(probes, database=str(tmp_path / "t.db")), path)
    d = Daemon(config, tmp_path / "t.db", config_path=path)

    async def stall_during_checks(daemon: Daemon) -> None:
        for _ in range(3):
            slot = daemon._probes["hang"]
            while slot.running is None:  # wait for the check to start, then stall the loop
                await asyncio.sleep(0.002)
            time.sleep(0.15)  # noqa: ASYNC251 - the stall under test
            while slot.running is not None:
                await asyncio.sleep(0.01)

    _run(d, 0.1, stall_during_checks)
    assert d.health.overload_discarded == 3
    assert "hang" not in by_probe(db_checks(tmp_path / "t.db"))


def test_checks_beyond_the_in_flight_cap_wait_and_all_run(tmp_path, stuck_port,
                                                          monkeypatch) -> None:
    monkeypatch.setattr(daemon_mod, "MAX_IN_FLIGHT", 3)
    probes = [tcp_probe(f"h{i}", "127.0.0.1", stuck_port, interval="1s", timeout="100ms")
              for i in range(9)]
    path = tmp_path / "probes.toml"
    config = parse_config(config_text(probes, database=str(tmp_path / "t.db")), path)
    d = Daemon(config, tmp_path / "t.db", config_path=path)
    seen: list[int] = []

    async def watch(daemon: Daemon) -> None:
        async def sample() -> None:
            while True:
                seen.append(daemon._in_flight)
                await asyncio.sleep(0.005)
        asyncio.get_running_loop().create_task(sample())

    _run(d, 1.2, watch)
    checks = by_probe(db_checks(tmp_path / "t.db"))
    assert max(seen) <= 3
    assert all(len(checks.get(f"h{i}", [])) >= 1 for i in range(9)), checks.keys()


def test_a_reload_restarts_changed_probes_only(tmp_path) -> None:
    server, port = _open_port()
    with server:
        path = tmp_path / "probes.toml"
        db = str(tmp_path / "t.db")
        first = [tcp_probe("same", "127.0.0.1", port, interval="100ms"),
                 tcp_probe("gone", "127.0.0.1", port, interval="100ms")]
        second = [tcp_probe("same", "127.0.0.1", port, interval="100ms"),
                  tcp_probe("new", "127.0.0.1", port, interval="100ms")]
        path.write_text(config_text(first, database=db))
        d = Daemon(parse_config(path.read_text(), path), tmp_path / "t.db", config_path=path)
        slots: list[object] = []

        async def reload(daemon: Daemon) -> None:
            await asyncio.sleep(0.5)
            slots.append(daemon._probes["same"])
            path.write_text(config_text(second, database=db))
            daemon.reload()
            slots.append(daemon._probes["same"])
            await asyncio.sleep(0.1)
            daemon.reload()  # unchanged: nothing restarts
            slots.append(daemon._probes["same"])

        _run(d, 0.6, reload)
    assert slots[0] is slots[1] is slots[2]
    assert set(d.live) >= {"same", "gone", "new"}
    checks = by_probe(db_checks(tmp_path / "t.db"))
    same = checks["same"]
    assert max(b.ts - a.ts for a, b in itertools.pairwise(same)) < 0.15
    assert max(c.ts for c in checks["gone"]) < min(c.ts for c in checks["new"]) + 0.2


def test_the_figures_in_slices_are_the_figures(tmp_path) -> None:
    from slaprobe.checks import Check
    from slaprobe.store import Store

    probes = [tcp_probe(f"p{i:03d}", "127.0.0.1", 9, interval="10s") for i in range(60)]
    path = tmp_path / "probes.toml"
    config = parse_config(config_text(probes, database=str(tmp_path / "t.db")), path)
    now = time.time()
    with Store(tmp_path / "t.db") as store:
        store.insert_checks([Check(f"p{i:03d}", now - 600 + 10 * k, (i + k) % 7 != 0, 1.0,
                                   None if (i + k) % 7 else "refused: x", 10.0, "t1")
                             for i in range(60) for k in range(60)], live=True)
    d = Daemon(config, tmp_path / "t.db", config_path=path)
    sliced = asyncio.run(d._period_figures_sliced())
    full = d._period_figures()
    assert set(sliced) == set(config.probes)
    for pid, (availability, budget) in full.items():
        a2, b2 = sliced[pid]
        assert availability == pytest.approx(a2, abs=0.1), pid  # `now` moved a little
        assert (budget is None) == (b2 is None)
