"""The agent: configuration -> schedule -> probes -> writer, on one asyncio loop.

Usage: ``asyncio.run(Daemon(config, db_path).run())``.

1. One scheduler serves every probe: a heap of due times on the monotonic clock
   and a single loop timer for the earliest one. Every probe due at that tick
   starts its check then (phases are on a 10 ms grid, so probes share ticks). A
   probe goes back on the heap only when its check has ended, at its next tick
   not already past: a probe never overlaps itself, missed ticks are skipped
   rather than run back to back, and a hanging target only delays its own next
   check.
2. TCP and ICMP checks of an IP address run on loop callbacks alone
   (`ProbeContext.start_check`); the others (HTTP, host names) in a task each.
3. At most MAX_IN_FLIGHT checks run at once; a check's timeout starts only
   once it has a slot, so when the agent is overloaded checks start late
   (measured as lateness) instead of timing out falsely.
4. A failed-by-timeout check during which the loop itself stalled for a large
   part of the timeout is discarded, not stored: the agent was not measuring
   the target, so that time is unknown rather than the client's outage.
5. Nothing periodic holds the loop for long: /metrics is rendered in slices
   (metrics_snapshot.snapshot_async) and the period figures are refreshed a
   slice of probes at a time (`_figures_loop`).
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import logging
import math
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
from .probes import Attempt, Outcome, ProbeContext, run_check
from .sanitize import inert
from .schedule import first_due, next_due
from .writer import Writer

if TYPE_CHECKING:
    from .shipper import Shipper

log = logging.getLogger("slaprobe.daemon")

MAX_IN_FLIGHT = 2000
LAG_SAMPLE_EVERY = 0.1  # seconds between loop-lag samples
RATE_SECONDS = 120  # seconds of per-second check counts kept for checks_per_second
START_BATCH = 100  # checks started per loop callback before letting other callbacks run
FIGURES_SLICE_SECONDS = 0.002  # the longest stretch of the figures refresh on the loop
FIGURES_PAUSE = 0.01  # seconds between two slices of the figures refresh


@dataclass(slots=True)
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
    # checks per whole second of the monotonic clock, for checks_per_second (a deque of
    # every check's time cost 100,000 floats and a walk over them per scrape)
    per_second: deque[list[int]] = field(default_factory=lambda: deque(maxlen=RATE_SECONDS))

    def max_lag_between(self, start: float, end: float) -> float:
        return max((lag for t, lag in self.loop_lag if start <= t <= end + LAG_SAMPLE_EVERY),
                   default=0.0)

    def note_lateness(self, seconds: float) -> None:
        self.lateness.append(seconds)
        self.lateness_sum += seconds
        self.lateness_count += 1

    def count_check(self, now_monotonic: float) -> None:
        self.checks_total += 1
        second = int(now_monotonic)
        per = self.per_second
        if per and per[-1][0] == second:
            per[-1][1] += 1
        else:
            per.append([second, 1])

    def checks_per_second(self, now_monotonic: float, window: float = 60.0) -> float:
        since = now_monotonic - window
        n = sum(count for second, count in self.per_second if second + 1 > since)
        running = time.time() - self.started
        return n / min(window, max(running, 1e-9))


_STARTING = object()  # _Slot.running while start_check may still finish at once


class _Slot:
    """One probe's place in the schedule (see the module docstring, 1)."""

    __slots__ = ("daemon", "due", "probe", "running", "started", "stopped", "ts")

    def __init__(self, daemon: Daemon, probe: Probe, due: float) -> None:
        self.daemon = daemon
        self.probe = probe
        self.due = due  # monotonic: the tick this probe waits for, or its check ran for
        self.running: object = None  # the check in flight: an Attempt or a Task
        self.stopped = False  # removed from the schedule (reload, stop)
        self.ts = 0.0  # wall clock start of the check in flight
        self.started = 0.0  # monotonic start of the check in flight

    def finished(self, outcome: Outcome | None) -> None:
        self.daemon._finished(self, outcome)


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
        self._probes: dict[str, _Slot] = {}
        self._heap: list[tuple[float, int, _Slot]] = []  # (due, tie-break, slot)
        self._order = itertools.count()
        self._timer: asyncio.Handle | None = None  # the scheduler's one timer
        self._timer_at = math.inf
        self._in_flight = 0
        self._waiting: deque[_Slot] = deque()  # due, but MAX_IN_FLIGHT checks are running
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._ctx: ProbeContext | None = None
        self._notifier = None
        self._metrics = None
        self.period_figures: dict[str, tuple[float | None, float | None]] = {}
        self.shipper: Shipper | None = None  # with [central]: its backlog shows in /metrics
        self.alerts: AlertManager | None = None  # while run() runs (alerts.py)

    # -- the schedule ----------------------------------------------------
    def _push(self, slot: _Slot) -> None:
        heapq.heappush(self._heap, (slot.due, next(self._order), slot))
        if slot.due < self._timer_at:
            self._arm(slot.due)

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        """The scheduler's timer: start every check that is due (a batch at a time)."""
        self._timer, self._timer_at = None, math.inf
        heap = self._heap
        now = time.monotonic()
        started = 0
        while heap and heap[0][0] <= now:
            if started >= START_BATCH:  # let replies and timers in, then go on at once
                assert self._loop is not None
                self._timer, self._timer_at = self._loop.call_soon(self._tick), now
                return
            slot = heapq.heappop(heap)[2]
            if not slot.stopped:
                self._begin(slot)
                started += 1
        if heap and self._timer is None:
            self._arm(heap[0][0])

    def _begin(self, slot: _Slot) -> None:
        """Start the slot's check, or queue it while MAX_IN_FLIGHT checks run."""
        if self._in_flight >= MAX_IN_FLIGHT:
            self._waiting.append(slot)
            return
        assert self._ctx is not None and self._loop is not None
        self._in_flight += 1
        slot.started = now = time.monotonic()
        late = now - slot.due
        self.health.note_lateness(max(0.0, late))
        slot.ts = time.time()
        slot.running = _STARTING
        try:
            fast: Attempt | None = self._ctx.start_check(slot.probe, slot.finished)
        except Exception:  # a probe must never kill the daemon
            log.exception("probe %s: unexpected error starting the check", slot.probe.id)
            fast = None
            if slot.running is _STARTING:
                slot.finished(None)
                return
        if slot.running is not _STARTING:  # it ended already (and is due again)
            return
        if fast is not None:
            slot.running = fast
        else:  # HTTP, a host name: a task
            slot.running = self._loop.create_task(self._run_task(slot),
                                                  name=f"probe:{slot.probe.id}")

    async def _run_task(self, slot: _Slot) -> None:
        assert self._ctx is not None
        try:
            outcome: Outcome | None = await run_check(slot.probe, self._ctx)
        except asyncio.CancelledError:
            raise
        except Exception:  # a probe must never kill the daemon
            log.exception("probe %s: unexpected error in the check", slot.probe.id)
            outcome = None
        slot.finished(outcome)

    def _finished(self, slot: _Slot, outcome: Outcome | None) -> None:
        """A check ended: record it, put the probe back on the schedule."""
        if slot.stopped:  # dropped by a reload or stop meanwhile: nothing to record
            return
        slot.running = None
        self._in_flight -= 1
        probe = slot.probe
        now = time.monotonic()
        try:
            if outcome is not None:
                check: Check | None
                if outcome.ok:  # the common case, without _record's timeout rule
                    check = ok = Check(probe.id, slot.ts, True, outcome.latency_ms,
                                       outcome.error, probe.interval, self.agent_name,
                                       outcome.cert_days)
                    self._note(probe, ok, now)
                else:
                    check = self._record(probe, slot.ts, slot.started, now, outcome)
                if check is not None:
                    self.writer.put(check)
        except Exception:  # a probe must never kill the daemon
            log.exception("probe %s: unexpected error recording the check", probe.id)
        slot.due = next_due(slot.due, probe.interval, now)
        self._push(slot)
        if self._waiting:
            self._start_waiting()

    def _start_waiting(self) -> None:
        if self._draining:  # already in the loop below, further up the stack
            return
        self._draining = True
        try:
            while self._waiting and self._in_flight < MAX_IN_FLIGHT:
                slot = self._waiting.popleft()
                if not slot.stopped:
                    self._begin(slot)
        finally:
            self._draining = False

    def _stop_slot(self, slot: _Slot) -> None:
        """Take a probe off the schedule; a check in flight is dropped (not recorded)."""
        slot.stopped = True
        running, slot.running = slot.running, None
        if running is not None:
            running.cancel()  # type: ignore[attr-defined]
            self._in_flight -= 1
            if self._waiting:
                self._start_waiting()

    # -- one check -------------------------------------------------------
    def _record(self, probe: Probe, ts: float, started: float, ended: float,
                outcome: Outcome) -> Check | None:
        """The Check to store, or None when a timeout is the agent's own stall (rule 4)."""
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

    def _note(self, probe: Probe, check: Check, now: float | None = None) -> None:
        live = self.live.get(probe.id)
        if live is None:
            live = self.live[probe.id] = ProbeLive()
        if check.ok:
            live.checks_up += 1
            live.fails_in_row = 0
            live.up = True
        else:
            live.checks_down += 1
            live.fails_in_row += 1
            if live.fails_in_row >= probe.confirm:
                live.up = False
        live.latency_ms = check.latency_ms
        if check.cert_days is not None:
            live.cert_days = check.cert_days
        live.last_ts = check.ts
        self.health.count_check(time.monotonic() if now is None else now)
        if self.alerts is not None:
            self.alerts.on_check(probe, check, live)

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
        live = self.live
        down = sum(1 for pid in self._probes if pid in live and live[pid].up is False)
        return f"{len(self._probes)} probes, {down} down"

    def _apply(self, config: Config) -> None:
        """Start, stop or restart probe tasks so they match `config` (unchanged ones keep running).

        With [cluster], only this member's share of its location's probes runs here.
        """
        if config.cluster and self.agent_name not in config.cluster.members:
            log.warning("agent %s is not one of [cluster] members (%s): it runs no probes",
                        self.agent_name, ", ".join(config.cluster.members))
        config = replace(config, probes=probes_run_here(config, self.agent_name))
        self.config = config
        for pid in list(self._probes):
            slot = self._probes[pid]
            if config.probes.get(pid) != slot.probe:
                self._stop_slot(slot)
                del self._probes[pid]
        now = time.monotonic()
        for pid, probe in config.probes.items():
            if pid not in self._probes:
                slot = self._probes[pid] = _Slot(self, probe,
                                                 first_due(pid, probe.interval, now))
                self._push(slot)
        if len(self._heap) > 2 * len(self._probes) + 64:  # drop removed probes' entries
            self._heap = [e for e in self._heap if not e[2].stopped]
            heapq.heapify(self._heap)

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
        from .metrics_snapshot import snapshot_async

        host, port = parse_listen(self.config.agent.metrics)
        server = MetricsServer(host, port, lambda: snapshot_async(self))
        try:
            await server.start()
        except OSError as e:
            log.warning("metrics endpoint %s not served: %s", self.config.agent.metrics, e)
            return
        self._metrics = server

    async def _figures_loop(self, every: float = 60.0) -> None:
        """Refresh this period's availability and budget for /metrics every `every` seconds.

        On the loop thread, a slice of probes at a time (FIGURES_SLICE_SECONDS at most,
        FIGURES_PAUSE between slices): a whole refresh in a thread held the GIL, and so
        the probes' schedule, for as long as a report of every probe takes."""
        while True:
            try:
                # Latency digests of the hours just ended (and of late checks), so
                # reports read rollups; a few rows per probe, once an hour.
                await asyncio.to_thread(self._roll_up)
            except Exception as e:  # noqa: BLE001 - reports then read raw checks
                log.warning("latency rollups not updated: %s", e)
            try:
                self.period_figures = await self._period_figures_sliced()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - metrics must not stop probing
                log.debug("period figures not refreshed: %s", e)
            await asyncio.sleep(every)

    def _period_figures(self) -> dict[str, tuple[float | None, float | None]]:
        """Every probe's figures at once (and saved for `status`); see _period_figures_sliced."""
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

    async def _period_figures_sliced(self) -> dict[str, tuple[float | None, float | None]]:
        """`_period_figures`, computed a slice of probes at a time on the loop thread; the
        slice grows or shrinks so that each takes about FIGURES_SLICE_SECONDS."""
        from .availability import build_report
        from .periods import resolve_period
        from .store import Store

        config = self.config
        now = time.time()
        start, end, _ = resolve_period(None, None, None, config.agent.timezone, now)
        ids = list(config.probes)
        saved: dict[str, tuple[float | None, float | None, float | None]] = {}
        size, i = 1, 0
        with Store(self.db_path, readonly=True) as store:
            while i < len(ids):
                t0 = time.perf_counter()
                part = replace(config, probes={pid: config.probes[pid] for pid in ids[i:i + size]})
                report = build_report(part, store, start, end, now, latency=False,
                                      error_kinds=False)
                for f in report.probes:
                    saved[f.id] = (f.availability, f.objective, f.budget_left_seconds)
                i += size
                took = time.perf_counter() - t0
                size = max(1, min(2 * size, int(size * FIGURES_SLICE_SECONDS / max(took, 1e-6))))
                await asyncio.sleep(FIGURES_PAUSE)
        # `status` reads these instead of recomputing the month for every probe; one
        # transaction of C and SQLite work, so a thread does not hold the GIL for long.
        await asyncio.to_thread(self._save_figures, start, now, saved)
        return {pid: (v[0], v[2]) for pid, v in saved.items()}

    def _roll_up(self) -> int:
        from .hours import probe_hours_specs
        from .store import Store

        with Store(self.db_path) as store:
            store.set_sla_hours(probe_hours_specs(self.config))  # a no-op unless they changed
            return store.roll_up(time.time())

    def _save_figures(self, start: float, now: float,
                      figures: dict[str, tuple[float | None, float | None, float | None]]) -> None:
        from .store import Store

        with Store(self.db_path) as store:
            store.save_period_figures(start, now, figures)

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
        from .hours import probe_hours_specs
        from .store import Store

        with Store(self.db_path) as store:
            store.set_sla_hours(probe_hours_specs(self.config))
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
        loop = self._loop = asyncio.get_running_loop()
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
                longest = max((s.probe.interval for s in self._probes.values()), default=0.0)
                log.info("slaprobe agent %s running %d probes, writing %s; each probe's first "
                         "check comes within its interval (phases are spread; at most %s)",
                         self.agent_name, len(self._probes), self.db_path,
                         format_duration(longest))
                self._notifier.ready()
                self._notifier.status(self.status_line())
                await self._stop.wait()
                log.info("stopping")
                self._notifier.stopping()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer, self._timer_at = None, math.inf
                tasks = [s.running for s in self._probes.values()
                         if isinstance(s.running, asyncio.Task)] + helpers
                for slot in self._probes.values():
                    self._stop_slot(slot)  # checks in flight are dropped, as on a reload
                for t in helpers:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._probes.clear()
                self._heap.clear()
                self._waiting.clear()
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
