"""Alerts: events from the checks, queued in SQLite, delivered in the background with retries.

The daemon calls `on_check` after every check (on the event loop: it only
updates a little state in memory) and runs `start()` / `close()` around its
life. Nothing here ever blocks probing:

1. `on_check` finds down / recovered / cert_expiring events (alert_events.py),
   silenced in maintenance, and keeps each with the routes that want it.
2. A delivery task writes them into alert_queue (one row per event and
   route, unique, so nothing is sent twice) on a database thread of its own,
   then sends every due row concurrently (alert_send.py). A failure is
   retried with exponential backoff (2 s, 4 s, ... at most 5 min), for up to
   a day; answers retrying cannot fix are given up at once. Rows survive a
   restart and are sent then.
3. Every minute a thread computes error-budget burn rates from the store
   (burn.py) and raises burn_page / burn_ticket once per burn episode (not
   again within the rule's long window, even across a restart).
4. A restarted agent takes up stretches of failed checks from the stored
   probe state, so an outage that spans the restart is not announced twice.

Usage (daemon.py)::

    alerts = AlertManager(lambda: daemon.config, db_path, agent_name)
    await alerts.start(); ...; alerts.on_check(probe, check, live); ...; await alerts.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ._config_alerts import AlertRoute
from .alert_events import AlertEvent, DownTracker, event_payload, local_day, ms
from .alert_queue import AlertQueue, QueuedAlert
from .alert_send import DeliveryError, Sender
from .burn import RULES, burning, window_rates
from .checks import Check
from .config import Config, Probe
from .durations import format_duration
from .intervals import Intervals, union
from .maintenance import covers, window_intervals
from .sanitize import inert

log = logging.getLogger("slaprobe.alerts")
T = TypeVar("T")

MAX_PENDING = 10_000  # events waiting for the database; beyond, the oldest are dropped
MAX_SENDING = 20  # deliveries in flight
GIVE_UP_AFTER = 86_400.0  # an alert not delivered within a day is stale
MAX_BACKOFF = 300.0


class MaintenanceNow:
    """Is a probe in a covering maintenance window at time t? Windows expanded once a day."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._range = (0.0, 0.0)
        self._windows: list[tuple[Any, Intervals]] = []
        self._probes: dict[str, Intervals] = {}

    def __call__(self, config: Config, probe: Probe, ts: float) -> bool:
        lo, hi = self._range
        if config is not self._config or not lo <= ts < hi:
            self._config, self._range = config, (ts - 3600.0, ts + 86_400.0)
            self._windows = [(w, window_intervals(w, *self._range)) for w in config.maintenance]
            self._probes = {}
        ivs = self._probes.get(probe.id)
        if ivs is None:
            ivs = self._probes[probe.id] = union(
                *[iv for w, iv in self._windows if covers(w, probe)], ())
        return any(s <= ts < e for s, e in ivs)


class AlertManager:
    def __init__(self, config: Callable[[], Config], db_path: Path, agent: str, *,
                 burn_every: float = 60.0, retry_base: float = 2.0,
                 clock: Callable[[], float] = time.time, sender: Sender | None = None):
        self._config = config
        self._db_path = db_path
        self._agent = agent
        self._burn_every = burn_every
        self._retry_base = retry_base
        self._clock = clock
        self._sender = sender or Sender()
        self._db = ThreadPoolExecutor(1, thread_name_prefix="slaprobe-alerts")
        self._queue: AlertQueue | None = None
        self._tracker = DownTracker()
        self._in_maintenance = MaintenanceNow()
        self._pending: list[tuple[str, str, str, int]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: dict[int, asyncio.Task[None]] = {}
        self._burning: set[tuple[str, str]] = set()
        self._error_logged = 0.0
        self.sent = 0
        self.failed = 0

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    # -- life ------------------------------------------------------------
    async def start(self) -> None:
        """Open the queue, take up stored stretches of failed checks, start the tasks."""
        self._queue = await self._call(AlertQueue, self._db_path)
        await self._call(self._seed, self._queue, self._config())
        self._tasks = [asyncio.create_task(self._deliver_loop(), name="alerts:deliver"),
                       asyncio.create_task(self._burn_loop(), name="alerts:burn")]
        if self._config().alerts:
            log.info("alerts: %d route(s): %s", len(self._config().alerts),
                     ", ".join(f"{r.id} ({r.kind})" for r in self._config().alerts))

    def _seed(self, queue: AlertQueue, config: Config) -> None:
        for pid, st in queue.states().items():
            probe = config.probes.get(pid)
            if probe is None or st.ok or st.fails <= 0:
                continue
            alerted = queue.has(f"down:{pid}:{ms(st.since)}")
            self._tracker.seed(pid, st.fails, st.since, alerted)

    async def close(self) -> None:
        """Stop; queue every event seen; give deliveries in flight a few seconds to finish."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._flush()
        if self._sending:
            _, late = await asyncio.wait(list(self._sending.values()), timeout=5.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._sender.close()
        if self._queue is not None:
            await self._call(self._queue.close)
        self._db.shutdown(wait=True)

    # -- events ----------------------------------------------------------
    def on_check(self, probe: Probe, check: Check, live: object = None) -> None:
        """Note one check (called on the event loop after every check); never raises."""
        if self._tracker.quiet(probe.id, check):
            return  # the common case, kept cheap: this runs for every check
        try:
            config = self._config()
            in_maint = self._in_maintenance(config, probe, check.ts)
            day = local_day(check.ts, config.agent.timezone)
            for event in self._tracker.observe(probe, check, in_maint, day):
                self._raise(config, event)
        except Exception:  # noqa: BLE001 - alerting must never break probing
            log.exception("alerts: probe %s: cannot evaluate the check", probe.id)

    def _raise(self, config: Config, event: AlertEvent) -> None:
        routes = [r for r in config.alerts if r.wants(event.event, event.probe, event.client)]
        payload = event_payload(event, config, self._agent)
        log.log(logging.INFO if routes else logging.DEBUG, "alert %s: %s -> %s", event.key,
                inert(payload["summary"]), ", ".join(r.id for r in routes) or "no route")
        if not routes:
            return
        text = json.dumps(payload, ensure_ascii=False)
        created = ms(self._clock())
        self._pending.extend((event.key, r.id, text, created) for r in routes)
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
        self._wake.set()

    # -- delivery --------------------------------------------------------
    async def _deliver_loop(self) -> None:
        while True:
            try:
                await self._flush()
                await self._dispatch()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - e.g. the database locked for long
                self._log_error(f"alerts: queue not processed: {e}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()

    async def _flush(self) -> None:
        """Write events waiting in memory into alert_queue."""
        if not self._pending or self._queue is None:
            return
        batch, self._pending = self._pending, []
        try:
            await self._call(self._queue.add, batch)
        except BaseException:
            self._pending[:0] = batch  # kept for the next round
            raise

    async def _dispatch(self) -> None:
        assert self._queue is not None
        free = MAX_SENDING - len(self._sending)
        if free <= 0:
            return
        due = await self._call(self._queue.due, ms(self._clock()), free, set(self._sending))
        routes = {r.id: r for r in self._config().alerts}
        for row in due:
            route = routes.get(row.route)
            if route is None:
                await self._call(self._queue.failed, row.id,
                                 f"route {row.route!r} is no longer configured", None)
                log.warning("alert %s: route %s is no longer configured; given up",
                            row.event_key, row.route)
                continue
            self._sending[row.id] = asyncio.create_task(self._deliver(row, route))

    async def _deliver(self, row: QueuedAlert, route: AlertRoute) -> None:
        assert self._queue is not None
        try:
            permanent = False
            try:
                await asyncio.wait_for(self._sender.send(route, json.loads(row.payload)),
                                       route.timeout + 5.0)
                error = None
            except DeliveryError as e:
                error, permanent = str(e), e.permanent
            except TimeoutError:
                error = f"no result within {route.timeout + 5.0:g} s"
            except Exception as e:  # noqa: BLE001 - a bug in a route must not stop others
                error = f"{type(e).__name__}: {e}"
            now = self._clock()
            if error is None:
                self.sent += 1
                await self._call(self._queue.sent, row.id, ms(now))
                log.info("alert %s sent to %s", row.event_key, route.id)
                return
            self.failed += 1
            wait = min(self._retry_base * 2 ** row.attempts, MAX_BACKOFF)
            stale = now + wait - row.created_ms / 1000 > GIVE_UP_AFTER
            retry = None if permanent or stale else ms(now + wait)
            await self._call(self._queue.failed, row.id, error, retry)
            if retry is None:
                log.error("alert %s to %s failed: %s; given up", row.event_key, route.id, error)
            else:
                log.warning("alert %s to %s failed (attempt %d): %s; retry in %s", row.event_key,
                            route.id, row.attempts + 1, error, format_duration(wait))
        finally:
            self._sending.pop(row.id, None)
            self._wake.set()

    def _log_error(self, message: str) -> None:
        if time.monotonic() - self._error_logged > 60:
            self._error_logged = time.monotonic()
            log.error("%s", message)

    # -- error-budget burn -------------------------------------------------
    async def _burn_loop(self) -> None:
        await asyncio.sleep(min(self._burn_every, 5.0))
        rounds = 0
        while True:
            try:
                await self._burn_round()
                if rounds % 60 == 0 and self._queue is not None:
                    keep = max(self._config().agent.keep_raw, 30 * 86_400.0)
                    await self._call(self._queue.prune, ms(self._clock() - keep))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - burn alerts must not stop the agent
                self._log_error(f"alerts: burn rates not computed: {e}")
            rounds += 1
            await asyncio.sleep(self._burn_every)

    async def _burn_round(self) -> None:
        config = self._config()
        wanted = [r for r in config.alerts if not r.events or {"burn_page", "burn_ticket"}
                  & set(r.events)]
        if not wanted:
            return
        now = self._clock()
        rates = await asyncio.to_thread(_rates, config, self._db_path, now)
        for probe in config.probes.values():
            probe_rates = rates.get(probe.id, {})
            for rule in RULES:
                key = (probe.id, rule.event)
                if not burning(probe_rates, rule):
                    self._burning.discard(key)
                    continue
                if key in self._burning or self._in_maintenance(config, probe, now):
                    continue
                self._burning.add(key)
                assert self._queue is not None
                last = await self._call(self._queue.latest_created_ms, f"{rule.event}:{probe.id}:")
                if last is not None and last >= ms(now - rule.long):
                    continue  # this episode was announced (before a restart, say)
                sla = config.sla_for_probe(probe)
                self._raise(config, AlertEvent(
                    rule.event, f"{rule.event}:{probe.id}:{ms(now)}", probe.id, probe.client, now,
                    {"objective": sla.objective if sla else None,
                     "burn_rates": {_span(w): probe_rates[w] for w in (rule.long, rule.short)},
                     "threshold": rule.threshold}))


def _span(seconds: float) -> str:
    """A window's length as written in the SRE workbook: "1h", "5m", "30m"."""
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return format_duration(seconds)


def _rates(config: Config, db_path: Path, now: float) -> dict[str, dict[float, float | None]]:
    from .store import Store

    with Store(db_path, readonly=True) as store:
        return window_rates(config, store, now)


async def start_alerts(config: Callable[[], Config], db_path: Path,
                       agent: str) -> AlertManager | None:
    """A started AlertManager, or None (logged) when it cannot start: probing goes on."""
    manager = AlertManager(config, db_path, agent)
    try:
        await manager.start()
    except Exception as e:  # noqa: BLE001 - e.g. the database cannot be opened
        log.error("alerts disabled: cannot start: %s", e)
        with contextlib.suppress(Exception):
            await manager.close()
        return None
    return manager
