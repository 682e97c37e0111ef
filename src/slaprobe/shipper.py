"""The daemon's shipper: copies the SQLite outbox to the central PostgreSQL, never blocking probing.

Usage (daemon.py)::

    shipper = Shipper(config.central, db_path, agent="fra1", location="fra", keep_raw=...)
    task = asyncio.create_task(shipper.run())
    ...                                   # the writer is closed: every check is queued
    await shipper.finish()                # ships what is left, for a few seconds at most

1. Connect (psycopg 3, async), migrate the schema, and turn the outbox on
   towards this database (the first time, every stored check is queued).
2. Loop: read the oldest queued checks (SQLite, in the shipper's own thread),
   ship them (`central.ship`), delete their keys; report the backlog and a
   heartbeat; sleep `[central] interval` when caught up; drop month
   partitions older than `[agent] keep_raw` hourly.
3. When the server is away: log once for the outage, keep everything in the
   outbox, retry with exponential backoff (1 s doubling to 60 s), and say when
   it is back. Probing and local writes never wait for any of this.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from . import __version__, central, outbox
from .config import Central
from .errors import StoreError
from .store import Store

log = logging.getLogger("slaprobe.central")
T = TypeVar("T")

MAX_BACKOFF = 60.0
OP_TIMEOUT = 120.0  # a shipment or heartbeat that takes longer is given up (dead link)
RETENTION_EVERY = 3600.0
FINISH_SECONDS = 10.0


class Shipper:
    def __init__(self, settings: Central, db_path: Path, *, agent: str, location: str | None,
                 keep_raw: float):
        self.settings = settings
        self.db_path = db_path
        self.agent = agent
        self.location = location
        self.keep_raw = keep_raw
        self.where = central.describe_dsn(settings.dsn)
        # What status and /metrics show.
        self.backlog_checks: int | None = None
        self.backlog_age_seconds: float | None = None
        self.shipped_total = 0
        self.errors_total = 0
        self.connected = False
        self.retention_runs = 0
        self.rejected_total = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="slaprobe-shipper")
        self._store: Store | None = None  # opened and used only in the executor's thread
        self._partitions: set[tuple[int, int]] = set()
        self._outage_since: float | None = None
        self._finishing = False

    # -- the outbox, in the shipper's thread --------------------------------------------
    async def _local(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _outbox(self) -> Store:
        if self._store is None:
            self._store = Store(self.db_path)
        return self._store

    def _enable(self, target: str) -> int:
        since = int((time.time() - self.keep_raw) * 1000)
        return outbox.enable(self._outbox(), target, since)

    def _next(self) -> tuple[list[outbox.Outgoing], list[outbox.Key]]:
        horizon = int((time.time() - self.keep_raw) * 1000)
        return outbox.next_batch(self._outbox(), self.settings.batch, horizon)

    def _done(self, keys: list[outbox.Key]) -> None:
        outbox.mark_shipped(self._outbox(), keys)

    def _backlog(self) -> tuple[int, float | None]:
        return outbox.backlog(self._outbox())

    def _close_local(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    async def refresh_backlog(self) -> None:
        try:
            n, oldest = await self._local(self._backlog)
        except StoreError as e:
            log.debug("outbox backlog not read: %s", e)
            return
        self.backlog_checks = n
        self.backlog_age_seconds = 0.0 if oldest is None else max(0.0, time.time() - oldest)

    # -- the loop -------------------------------------------------------------------
    async def run(self) -> None:
        """Ship until cancelled (or, after `finish`, until the outbox is empty)."""
        delay = 0.0
        while True:
            try:
                await self._session()
                return  # finishing and caught up
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - psycopg, OSError, StoreError: retry
                self.connected = False
                self.errors_total += 1
                if self._finishing:
                    raise
                if self._outage_since is None:
                    self._outage_since = time.monotonic()
                    what = ("the local outbox" if isinstance(e, StoreError)
                            else f"central database {self.where}")
                    log.error("%s unavailable; checks stay in the local outbox and are shipped "
                              "when it is back (retrying with backoff): %s", what,
                              central.reason(e))
                else:
                    log.debug("central database %s still unavailable: %s", self.where,
                              central.reason(e))
                await self.refresh_backlog()
                delay = min(max(delay * 2, 1.0), MAX_BACKOFF)
                await asyncio.sleep(delay)
            else:
                delay = 0.0

    async def _session(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(
                self.settings.dsn, autocommit=True, connect_timeout=10,
                application_name=f"slaprobe {self.agent}"[:63]) as conn:
            async with asyncio.timeout(OP_TIMEOUT):
                await central.migrate(conn)
                target = await central.instance_id(conn)
                await central.prepare(conn)
                self._partitions = await central.partitions(conn)
            queued = await self._local(self._enable, target)
            if queued:
                log.info("central: %d stored checks queued for %s", queued, self.where)
            self.connected = True
            if self._outage_since is not None:
                await self.refresh_backlog()
                log.warning("central database %s is back after %.0f s; shipping a backlog of "
                            "%s checks", self.where, time.monotonic() - self._outage_since,
                            self.backlog_checks)
                self._outage_since = None
            elif not self._finishing:
                log.info("shipping checks to central database %s", self.where)
            next_retention = time.monotonic()
            while True:
                rows, gone = await self._local(self._next)
                if rows:
                    async with asyncio.timeout(OP_TIMEOUT):
                        await self._ship(conn, rows)
                if rows or gone:
                    await self._local(self._done, [r.key for r in rows] + gone)
                await self.refresh_backlog()
                full = len(rows) + len(gone) >= self.settings.batch
                async with asyncio.timeout(OP_TIMEOUT):
                    await central.heartbeat(conn, self.agent, self.location,
                                            self.backlog_checks, self.backlog_age_seconds,
                                            __version__)
                    if self._finishing:
                        if not full:
                            return
                    elif time.monotonic() >= next_retention:
                        await self._retention(conn)
                        next_retention = time.monotonic() + RETENTION_EVERY
                if not full:
                    await asyncio.sleep(self.settings.interval)

    async def _ship(self, conn: Any, rows: list[outbox.Outgoing], *, fresh: bool = False) -> None:
        """Ship rows; a batch PostgreSQL refuses for its data (not for being away) is
        tried again once with the partition list read afresh (another agent's retention
        may have dropped one), then halved until the refused checks are found, and those
        are logged and dropped, so one odd check cannot hold the outbox up for ever."""
        import psycopg

        try:
            await central.ship(conn, rows, self._partitions)
        except (psycopg.DataError, psycopg.IntegrityError) as e:
            if not fresh:
                self._partitions = await central.partitions(conn)
                await self._ship(conn, rows, fresh=True)
                return
            if len(rows) > 1:
                half = len(rows) // 2
                await self._ship(conn, rows[:half], fresh=True)
                await self._ship(conn, rows[half:], fresh=True)
                return
            r = rows[0]
            self.rejected_total += 1
            log.error("central: PostgreSQL refused the check of probe %r by agent %r at %s; "
                      "dropped from the outbox (it stays in the local database): %s", r.probe,
                      r.agent, central.ms_to_dt(r.ts_ms).isoformat(), central.reason(e))
            return
        self.shipped_total += len(rows)

    async def _retention(self, conn: Any) -> None:
        before = datetime.fromtimestamp(time.time() - self.keep_raw, timezone.utc)
        dropped = await central.drop_partitions_before(conn, before, self._partitions)
        self.retention_runs += 1
        if dropped:
            log.info("central retention: dropped %s", ", ".join(dropped))

    async def finish(self, task: asyncio.Task[None] | None,
                     seconds: float = FINISH_SECONDS) -> None:
        """After the writer closed: ship what is queued, for `seconds` at most; what
        is left stays in the outbox for the next start."""
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._finishing = True
        try:
            async with asyncio.timeout(seconds):
                await self.run()
        except Exception as e:  # noqa: BLE001 - best effort at stop (TimeoutError too)
            log.debug("final shipment ended: %s", central.reason(e))
        await self.refresh_backlog()
        if self.backlog_checks:
            log.warning("%d checks not shipped to %s yet; they stay in the outbox for the "
                        "next start", self.backlog_checks, self.where)
        await self._local(self._close_local)
        self._executor.shutdown(wait=True)


def stop_shipping(db_path: Path) -> int:
    """Without [central]: the outbox stops queueing (and forgets) checks. Blocking."""
    with Store(db_path) as store:
        if outbox.shipping_target(store) is None:
            return 0
        return outbox.disable(store)
