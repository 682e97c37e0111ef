"""The agent: configuration -> schedule -> probes -> writer, on one asyncio loop.

Usage: ``asyncio.run(Daemon(config, db_path).run())``.

1. Each probe gets its own task that sleeps until its next due time on the
   monotonic clock, runs one check (bounded by timeout x attempts) and queues
   the result for the writer thread. A probe never overlaps itself; a hanging
   target only delays its own next check.
2. A semaphore bounds checks in flight; a check's timeout starts only once it
   holds a slot, so when the agent is overloaded checks start late (measured
   as lateness) instead of timing out falsely.
3. A failed-by-timeout check during which the loop itself stalled for a large
   part of the timeout is discarded, not stored: the agent was not measuring
   the target, so that time is unknown rather than the client's outage.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .alerts import AlertManager, start_alerts
from .checks import Check
from .cluster import probes_run_here
from .config import Config, Probe, load_config
from .durations import format_duration
from .errors import ConfigError
from .probes import Outcome, ProbeContext, run_check
from .sanitize import inert
from .schedule import first_due, next_due
from .writer import Writer

if TYPE_CHECKING:
    from .shipper import Shipper

log = logging.getLogger("slaprobe.daemon")

MAX_IN_FLIGHT = 2000
LAG_SAMPLE_EVERY = 0.1  # seconds between loop-lag samples


@dataclass
class ProbeLive:
    """What the daemon knows of a probe right now (for metrics and sd_notify STATUS)."""

    up: bool | None = None
    latency_ms: float | None = None
    cert_days: float | None = None
    checks_up: int = 0
    checks_down: int = 0
    fails_in_row: int = 0
    last_ts: float | None = None


@dataclass
class Health:
    """The agent's own health, exported as metrics."""

    started: float = field(default_factory=time.time)
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=5000))
    loop_lag: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=3000))
    lateness_sum: float = 0.0
    lateness_count: int = 0
    overload_discarded: int = 0
    clock_jumps: int = 0
    checks_total: int = 0
    recent_checks: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def max_lag_between(self, start: float, end: float) -> float:
        return max((lag for t, lag in self.loop_lag if start <= t <= end + LAG_SAMPLE_EVERY),
                   default=0.0)

    def note_lateness(self, seconds: float) -> None:
        self.lateness.append(seconds)
        self.lateness_sum += seconds
        self.lateness_count += 1

    def checks_per_second(self, now_monotonic: float, window: float = 60.0) -> float:
        n = sum(1 for t in self.recent_checks if t >= now_monotonic - window)
        running = time.time() - self.started
        return n / min(window, max(running, 1e-9))


def outcome_to_check(probe: Probe, agent: str, ts: float, outcome: Outcome) -> Check:
    return Check(probe.id, ts, outcome.ok, outcome.latency_ms, outcome.error, probe.interval,
                 agent, outcome.cert_days)


class Daemon:
    def __init__(self, config: Config, db_path: Path, *, config_path: Path | None = None,
                 agent_name: str | None = None,
                 load: Callable[[Path], Config] = load_config):
        self.config = config
        self.db_path = db_path
        self.config_path = config_path
        self.agent_name = agent_name or config.agent.name
        self._load = load
        self.writer = Writer(db_path)
        self.live: dict[str, ProbeLive] = {}
        self.health = Health()
        self._tasks: dict[str, tuple[Probe, asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._ctx: ProbeContext | None = None
        self._notifier = None
        self._metrics = None
        self.period_figures: dict[str, tuple[float | None, float | None]] = {}
        self.shipper: Shipper | None = None  # with [central]: its backlog shows in /metrics
        self.alerts: AlertManager | None = None  # while run() runs (alerts.py)

    # -- one check -------------------------------------------------------
    async def _check(self, probe: Probe) -> Check | None:
        assert self._ctx is not None
        async with self._slots:
            ts = time.time()
            started = time.monotonic()
            outcome = await run_check(probe, self._ctx)
            ended = time.monotonic()
        if not outcome.ok and outcome.error and outcome.error.startswith("timeout"):
            stalled = self.health.max_lag_between(started, ended)
            if stalled >= 0.25 * probe.timeout:
                self.health.overload_discarded += 1
                log.warning("probe %s: timeout while the agent's loop stalled %.0f ms; "
                            "not recorded (agent overload, not the target)", probe.id,
                            stalled * 1000)
                return None
        check = outcome_to_check(probe, self.agent_name, ts, outcome)
        self._note(probe, check)
        return check

    def _note(self, probe: Probe, check: Check) -> None:
        live = self.live.setdefault(probe.id, ProbeLive())
        if check.ok:
            live.checks_up += 1
            live.fails_in_row = 0
        else:
            live.checks_down += 1
            live.fails_in_row += 1
        live.up = True if check.ok else (False if live.fails_in_row >= probe.confirm else live.up)
        live.latency_ms = check.latency_ms
        if check.cert_days is not None:
            live.cert_days = check.cert_days
        live.last_ts = check.ts
        self.health.checks_total += 1
        self.health.recent_checks.append(time.monotonic())
        if self.alerts is not None:
            self.alerts.on_check(probe, check, live)

    async def _probe_loop(self, probe: Probe) -> None:
        due = first_due(probe.id, probe.interval, time.monotonic())
        while True:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.health.note_lateness(max(0.0, time.monotonic() - due))
            try:
                check = await self._check(probe)
            except asyncio.CancelledError:
                raise
            except Exception:  # a probe must never kill the daemon
                log.exception("probe %s: unexpected error in the check", probe.id)
                check = None
            if check is not None:
                self.writer.put(check)
            due = next_due(due, probe.interval, time.monotonic())

    # -- supervision -----------------------------------------------------
    async def _lag_monitor(self) -> None:
        """Sample event-loop lag and notice wall-clock jumps (suspended VM, NTP step)."""
        mono, wall = time.monotonic(), time.time()
        while True:
            await asyncio.sleep(LAG_SAMPLE_EVERY)
            m, w = time.monotonic(), time.time()
            self.health.loop_lag.append((m, max(0.0, m - mono - LAG_SAMPLE_EVERY)))
            jump = (w - wall) - (m - mono)
            if abs(jump) > 2.0:
                self.health.clock_jumps += 1
                log.warning("wall clock jumped %+.1f s; schedules follow the monotonic clock, "
                            "check times follow the wall clock", jump)
            mono, wall = m, w

    async def _notify_loop(self) -> None:
        if self._notifier is None:
            return
        interval = self._notifier.watchdog_interval()
        ping_every = interval / 2 if interval else None
        last_status = 0.0
        while True:
            now = time.monotonic()
            if ping_every:
                self._notifier.watchdog()
            if now - last_status >= 10:
                self._notifier.status(self.status_line())
                last_status = now
            await asyncio.sleep(min(ping_every or 10.0, 10.0))

    def status_line(self) -> str:
        down = sum(1 for pid in self._tasks if self.live.get(pid, ProbeLive()).up is False)
        return f"{len(self._tasks)} probes, {down} down"

    def _apply(self, config: Config) -> None:
        """Start, stop or restart probe tasks so they match `config` (unchanged ones keep running).

        With [cluster], only this member's share of its location's probes runs here.
        """
        if config.cluster and self.agent_name not in config.cluster.members:
            log.warning("agent %s is not one of [cluster] members (%s): it runs no probes",
                        self.agent_name, ", ".join(config.cluster.members))
        config = replace(config, probes=probes_run_here(config, self.agent_name))
        self.config = config
        for pid in list(self._tasks):
            old, task = self._tasks[pid]
            if config.probes.get(pid) != old:
                task.cancel()
                del self._tasks[pid]
        for pid, probe in config.probes.items():
            if pid not in self._tasks:
                self._tasks[pid] = (probe, asyncio.create_task(self._probe_loop(probe),
                                                               name=f"probe:{pid}"))

    def reload(self) -> None:
        """SIGHUP: load the file again; a bad file keeps the running configuration."""
        if self.config_path is None:
            return
        if self._notifier:
            self._notifier.reloading()
        try:
            new = self._load(self.config_path)
        except ConfigError as e:
            log.error("reload refused, keeping the running configuration:\n%s", inert(str(e)))
        except Exception as e:  # noqa: BLE001 - never die on reload
            log.error("reload failed, keeping the running configuration: %s", e)
        else:
            if new.agent.database != self.config.agent.database:
                log.warning("reload: [agent] database changed; restart to use the new file")
            if (new.central, new.cluster and new.cluster.location) != (
                    self.config.central, self.config.cluster and self.config.cluster.location):
                log.warning("reload: [central] or [cluster] location changed; restart to ship "
                            "there (probe ownership follows the new members now)")
            if new.agent.metrics != self.config.agent.metrics:
                log.warning("reload: [agent] metrics changed; restart to move the endpoint")
            self._apply(new)
            log.info("configuration reloaded: %d probes", len(new.probes))
        if self._notifier:
            self._notifier.ready()

    async def _start_metrics(self) -> None:
        if not self.config.agent.metrics:
            return
        from .metrics import MetricsServer, parse_listen
        from .metrics_snapshot import snapshot

        host, port = parse_listen(self.config.agent.metrics)
        server = MetricsServer(host, port, lambda: snapshot(self))
        try:
            await server.start()
        except OSError as e:
            log.warning("metrics endpoint %s not served: %s", self.config.agent.metrics, e)
            return
        self._metrics = server

    async def _figures_loop(self, every: float = 60.0) -> None:
        """Refresh this period's availability and budget for /metrics, off the loop thread."""
        while True:
            try:
                self.period_figures = await asyncio.to_thread(self._period_figures)
            except Exception as e:  # noqa: BLE001 - metrics must not stop probing
                log.debug("period figures not refreshed: %s", e)
            await asyncio.sleep(every)

    def _period_figures(self) -> dict[str, tuple[float | None, float | None]]:
        from .availability import build_report
        from .periods import resolve_period
        from .store import Store

        now = time.time()
        start, end, _ = resolve_period(None, None, None, self.config.agent.timezone, now)
        with Store(self.db_path) as store:
            report = build_report(self.config, store, start, end, now, latency=False,
                                  error_kinds=False)
            # `status` reads these instead of recomputing the month for every probe.
            store.save_period_figures(start, now, {
                f.id: (f.availability, f.objective, f.budget_left_seconds) for f in report.probes})
        return {f.id: (f.availability, f.budget_left_seconds) for f in report.probes}

    async def _retention_loop(self, every: float = 3600.0) -> None:
        """Prune raw checks older than [agent] keep_raw, in a thread, hourly."""
        await asyncio.sleep(min(60.0, every))
        while True:
            try:
                deleted = await asyncio.to_thread(self._prune)
                if deleted:
                    log.info("retention: pruned %d raw checks older than %s", deleted,
                             format_duration(self.config.agent.keep_raw))
            except Exception as e:  # noqa: BLE001 - retention must not stop probing
                log.error("retention: pruning failed: %s", e)
            await asyncio.sleep(every)

    def _prune(self) -> int:
        from .store import Store

        with Store(self.db_path) as store:
            return store.prune(time.time() - self.config.agent.keep_raw)

    async def _start_shipping(self) -> asyncio.Task[None] | None:
        """[central]: the shipper task; without it, the outbox is turned off."""
        from .shipper import Shipper, stop_shipping

        central = self.config.central
        if central is None:
            try:
                dropped = await asyncio.to_thread(stop_shipping, self.db_path)
            except Exception as e:  # noqa: BLE001 - never stop probing for the outbox
                log.error("outbox: could not turn shipping off: %s", e)
            else:
                if dropped:
                    log.info("no [central]: %d unshipped checks dropped from the outbox", dropped)
            return None
        location = self.config.cluster.location if self.config.cluster else None
        self.shipper = Shipper(central, self.db_path, agent=self.agent_name, location=location,
                               keep_raw=self.config.agent.keep_raw)
        return asyncio.create_task(self.shipper.run(), name="shipper")

    async def _stop_metrics(self) -> None:
        if self._metrics is not None:
            await self._metrics.close()

    # -- entry points ----------------------------------------------------
    async def run(self) -> int:
        """The daemon: until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code."""
        from .sdnotify import Notifier

        self._notifier = Notifier.from_environ()
        loop = asyncio.get_running_loop()
        self.writer.start(self.agent_name)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        helpers: list[asyncio.Task[None]] = []
        ship_task: asyncio.Task[None] | None = None
        try:
            async with ProbeContext() as ctx:
                self._ctx = ctx
                await self._start_metrics()
                self.alerts = await start_alerts(lambda: self.config, self.db_path,
                                                 self.agent_name)
                self._apply(self.config)
                helpers = [asyncio.create_task(self._lag_monitor()),
                           asyncio.create_task(self._notify_loop())]
                helpers.append(asyncio.create_task(self._figures_loop()))
                helpers.append(asyncio.create_task(self._retention_loop()))
                ship_task = await self._start_shipping()
                gc.collect()
                gc.freeze()  # start-up objects leave the collector's walks (PERFORMANCE.md)
                longest = max((p.interval for p, _ in self._tasks.values()), default=0.0)
                log.info("slaprobe agent %s running %d probes, writing %s; each probe's first "
                         "check comes within its interval (phases are spread; at most %s)",
                         self.agent_name, len(self._tasks), self.db_path,
                         format_duration(longest))
                self._notifier.ready()
                self._notifier.status(self.status_line())
                await self._stop.wait()
                log.info("stopping")
                self._notifier.stopping()
                tasks = [t for _, t in self._tasks.values()] + helpers
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._tasks.clear()
                if self.alerts is not None:
                    await self.alerts.close()
                await self._stop_metrics()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            await asyncio.to_thread(self.writer.close)
            if self.shipper is not None:  # every check is in the outbox now: ship the rest
                await self.shipper.finish(ship_task)
        log.info("stopped; %d checks written", self.writer.stats.written)
        return 0

    async def run_once(self) -> list[tuple[Probe, Check]]:
        """Every probe once, concurrently; results stored before returning."""
        self.writer.start(self.agent_name)
        results: list[tuple[Probe, Check]] = []
        try:
            async with ProbeContext() as ctx:
                self._ctx = ctx
                await self._start_metrics()
                probes = list(self.config.probes.values())
                outcomes = await asyncio.gather(*(self._once(p, ctx) for p in probes))
                for probe, check in zip(probes, outcomes, strict=True):
                    self.writer.put(check)
                    results.append((probe, check))
                await self._stop_metrics()
        finally:
            await asyncio.to_thread(self.writer.close)
        return results

    async def _once(self, probe: Probe, ctx: ProbeContext) -> Check:
        ts = time.time()
        outcome = await run_check(probe, ctx)
        check = outcome_to_check(probe, self.agent_name, ts, outcome)
        self._note(probe, check)
        return check
