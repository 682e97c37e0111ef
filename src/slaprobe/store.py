"""SQLite storage of checks, via sqlite-utils: schema, migrations, batched writes, range reads.

Tables (see the README for operators' queries):

    probes(id, name)                 probe ids as small integers, so keys stay short
    agents(id, name)                 agent names likewise
    checks(probe_id, ts_ms, agent_id, ok, latency_ms, error, interval_ms, cert_days)
                                     one row per check; primary key (probe_id, ts_ms, agent_id),
                                     WITHOUT ROWID, so a probe's checks lie together in time order
    probe_state(probe_id, ...)       the latest check and the current up/down stretch per probe
    segments(probe_id, agent_id, first_ms, last_ms, ok, n, interval_ms)
                                     derived: each maximal run of one agent's consecutive checks
                                     with the same result and no gap of more than 2 x interval.
                                     It yields exactly the timeline of the raw checks, so reports
                                     over long periods (and over pruned months) read a few rows
                                     per probe instead of every check
    agent_runs(agent, started_ms, stopped_ms, pid)
                                     when each agent ran

WAL mode lets the CLI read while the daemon writes. Only one connection per
thread: sqlite-utils connections are not shared across threads.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .checks import Check
from .errors import StoreError
from .spans import Span

migrations = Migrations("slaprobe")


@migrations()
def m001_initial(db: Database) -> None:
    db.execute("CREATE TABLE probes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    db.execute("CREATE TABLE agents (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    db.execute(
        """CREATE TABLE checks (
            probe_id INTEGER NOT NULL,
            ts_ms INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            latency_ms REAL,
            error TEXT,
            interval_ms INTEGER NOT NULL,
            cert_days REAL,
            PRIMARY KEY (probe_id, ts_ms, agent_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE probe_state (
            probe_id INTEGER PRIMARY KEY,
            last_ts_ms INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            since_ms INTEGER NOT NULL,
            fails INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL,
            error TEXT,
            interval_ms INTEGER NOT NULL,
            cert_days REAL
        )"""
    )
    db.execute(
        """CREATE TABLE agent_runs (
            id INTEGER PRIMARY KEY,
            agent TEXT NOT NULL,
            started_ms INTEGER NOT NULL,
            stopped_ms INTEGER,
            pid INTEGER
        )"""
    )


@migrations()
def m002_segments(db: Database) -> None:
    db.execute(
        """CREATE TABLE segments (
            probe_id INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            first_ms INTEGER NOT NULL,
            last_ms INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            n INTEGER NOT NULL,
            interval_ms INTEGER NOT NULL,
            PRIMARY KEY (probe_id, first_ms, agent_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


@migrations()
def m003_latency_histograms(db: Database) -> None:
    db.execute(
        """CREATE TABLE latency_hist (
            probe_id INTEGER NOT NULL,
            hour_ms INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (probe_id, hour_ms, bucket)
        ) WITHOUT ROWID"""
    )


@migrations()
def m004_shipping(db: Database) -> None:
    """The outbox of [central]: keys of checks not yet in PostgreSQL (see outbox.py).

    The trigger queues every check actually inserted (INSERT OR IGNORE skips it for
    duplicates) while meta holds 'ship'; oldest first by the key, so the backlog's
    age is one lookup.
    """
    db.execute(
        """CREATE TABLE ship_queue (
            ts_ms INTEGER NOT NULL,
            probe_id INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            PRIMARY KEY (ts_ms, probe_id, agent_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TRIGGER ship_enqueue AFTER INSERT ON checks
           WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'ship')
           BEGIN
             INSERT OR IGNORE INTO ship_queue (ts_ms, probe_id, agent_id)
             VALUES (NEW.ts_ms, NEW.probe_id, NEW.agent_id);
           END"""
    )



@migrations()
def m005_alert_queue(db: Database) -> None:
    """Alerts waiting for (or done with) delivery, one row per event and route (alerts.py).

    (event_key, route) is unique, so an event is never queued twice for a route,
    whatever restarts happen; pending rows have sent_ms NULL and next_try_ms set;
    given-up rows keep last_error and have next_try_ms NULL.
    """
    db.execute(
        """CREATE TABLE alert_queue (
            id INTEGER PRIMARY KEY,
            event_key TEXT NOT NULL,
            route TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_ms INTEGER,
            sent_ms INTEGER,
            last_error TEXT,
            UNIQUE (event_key, route)
        )"""
    )
    db.execute("CREATE INDEX alert_queue_due ON alert_queue (next_try_ms) WHERE sent_ms IS NULL")


@migrations()
def m006_statements(db: Database) -> None:
    """Frozen monthly statements and when each maintenance window was first seen.

    statements: every statement made (history; verify compares with the newest
    of a period and client). inputs_json holds the per-part digests that
    inputs_digest sums up, so verify can say which input changed.
    windows_seen: (window id, fingerprint of its definition) -> first seen
    (statement.py, windows_seen.py).
    """
    db.execute(
        """CREATE TABLE statements (
            id INTEGER PRIMARY KEY,
            period TEXT NOT NULL,
            client TEXT,
            created_at INTEGER NOT NULL,
            report_json TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            inputs_digest TEXT NOT NULL,
            inputs_json TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX statements_period ON statements (period, client, id)")
    db.execute(
        """CREATE TABLE windows_seen (
            window_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            first_seen_ms INTEGER NOT NULL,
            PRIMARY KEY (window_id, fingerprint)
        ) WITHOUT ROWID"""
    )


LATENCY_STEP = math.log(1.005)  # histogram buckets 0.5 % wide: percentiles within 0.25 %


def latency_bucket(latency_ms: float) -> int:
    return math.floor(math.log(max(latency_ms, 1e-3)) / LATENCY_STEP)


def bucket_value(bucket: int) -> float:
    """The middle of a latency bucket (geometric), in milliseconds."""
    return math.exp((bucket + 0.5) * LATENCY_STEP)


def _continues(seg: tuple[int, int, int, int, int], ts_ms: int, ok: int) -> bool:
    """Does a check at ts_ms with result ok extend the segment (first, last, ok, n, interval)?"""
    return seg[2] == ok and seg[1] < ts_ms <= seg[1] + 2 * seg[4]


@migrations()
def m007_failed_checks_index(db: Database) -> None:
    """Failed checks are few but read by every report: a partial index finds them directly."""
    db.execute("CREATE INDEX checks_failed ON checks (probe_id, ts_ms) WHERE ok = 0")


@migrations()
def m008_period_figures(db: Database) -> None:
    """This period's figures per probe, refreshed by the daemon each minute for `status`."""
    db.execute(
        """CREATE TABLE period_figures (
            probe_id INTEGER PRIMARY KEY,
            period_start_ms INTEGER NOT NULL,
            computed_ms INTEGER NOT NULL,
            availability REAL,
            objective REAL,
            budget_left REAL
        )"""
    )


def _ms_range(start: float | None, end: float | None) -> tuple[int, int]:
    """[start, end) in epoch milliseconds; None is open-ended."""
    return (-(2**62) if start is None else int(round(start * 1000)),
            2**62 if end is None else int(round(end * 1000)))


@dataclass(frozen=True)
class ProbeState:
    """The newest check of a probe and how long its current ok/failed run has lasted."""

    probe: str
    last_ts: float
    ok: bool
    since: float  # start of the current run of equal results
    fails: int  # consecutive failed checks (0 when ok)
    latency_ms: float | None
    error: str | None
    interval_s: float
    cert_days: float | None


def _reason(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            if not path.exists():
                raise StoreError(f"{path}: no database here yet (has `slaprobe run` written to it?)")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open database: {e}") from e
    except OSError as e:
        raise StoreError(f"{path}: cannot open database: {e.strerror or e}") from e


class Store:
    """The checks database. Use one Store per thread.

    Usage: ``store = Store(path); store.insert_checks(checks); list(store.checks("web"))``
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.conn = _connect(self.path, readonly)
        self.db = Database(self.conn)
        if not readonly:
            try:
                migrations.apply(self.db)
            except sqlite3.DatabaseError as e:
                raise StoreError(f"{self.path}: not a slaprobe database ({e})") from e
        self._probe_ids: dict[str, int] = {}
        self._agent_ids: dict[str, int] = {}
        self._identity: tuple[int, int] | None = None
        if not readonly:
            try:
                self._identity = _identity(self.path)
            except OSError:  # not a file we can watch (":memory:"): nothing to rescue
                pass
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.conn.close()

    # -- the file under us -------------------------------------------------
    def file_lost(self) -> bool:
        """Whether `path` no longer names the file this connection writes: it was
        deleted, renamed or replaced while open. Writes would then go on succeeding
        into a file nobody can open again, and vanish when the agent stops."""
        if self._identity is None:
            return False
        try:
            return _identity(self.path) != self._identity
        except FileNotFoundError:
            return True
        except OSError:  # cannot tell (e.g. the folder is unreadable): assume it is there
            return False

    def rescue(self) -> tuple[Store, Path]:
        """Save what this connection holds into a file again; returns the Store to write
        from now on (on `path`) and where the copy went. Raises StoreError.

        1. The copy is SQLite's online backup of this still-open connection, made
           under a temporary name.
        2. This connection is closed before anything new opens at `path`: closing
           removes "-wal" and "-shm" at `path` by name, and those are this
           connection's files, not the new one's.
        3. Nothing at `path` (deleted, renamed): the copy takes the name, after any
           WAL files still left there (kept by a reader) are removed, or SQLite
           would replay them into the copy. Another file at `path` (replaced): it
           is used from now on and the copy goes beside it, "NAME.rescued-TIME".
        When the copy fails this connection is left open, so nothing is lost yet.
        """
        path = self.path
        replaced = path.exists()
        target = path
        if replaced:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = path.with_name(f"{path.name}.rescued-{stamp}")
        tmp = path.with_name(f".{path.name}.rescue-{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            dst = sqlite3.connect(tmp)
            try:
                self.conn.backup(dst)
            finally:
                dst.close()
        except (sqlite3.Error, OSError) as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"{path}: cannot save the open database: {_reason(e)}") from e
        # SQLite skips the checkpoint on close once the file has moved; done here, a
        # renamed file (mv slaprobe.db old.db) is left whole too.
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.close()
        try:
            if not replaced:
                for suffix in ("-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{path}{suffix}")
            os.replace(tmp, target)
            return Store(path), target
        except (OSError, StoreError) as e:
            raise StoreError(f"{path}: cannot reopen the saved database ({_reason(e)}); "
                             f"the copy is in {tmp if tmp.exists() else target}") from e

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ids -------------------------------------------------------------
    def _id(self, table: str, cache: dict[str, int], name: str, create: bool) -> int | None:
        if name in cache:
            return cache[name]
        row = self.conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
        if row is None:
            if not create:
                return None
            row = (self.conn.execute(f"INSERT INTO {table} (name) VALUES (?)", (name,)).lastrowid,)
        cache[name] = row[0]
        return row[0]

    def probe_id(self, name: str, create: bool = False) -> int | None:
        return self._id("probes", self._probe_ids, name, create)

    def agent_id(self, name: str, create: bool = False) -> int | None:
        return self._id("agents", self._agent_ids, name, create)

    # -- writes ----------------------------------------------------------
    def insert_checks(self, checks: Iterable[Check], *, update_state: bool = True,
                      live: bool = False) -> int:
        """Store checks in one transaction; a check already stored is skipped. Returns new rows.

        `live`: the checks are the agent's own, in the order they were taken, so the
        status view follows that order even if the wall clock stepped back meanwhile;
        otherwise (imports) it keeps the check with the newest time.
        """
        conn = self.conn
        try:
            with conn:
                rows = []
                by_probe: dict[int, list[Check]] = {}
                for c in checks:
                    pid = self.probe_id(c.probe, create=True)
                    aid = self.agent_id(c.agent, create=True)
                    rows.append((pid, int(round(c.ts * 1000)), aid, 1 if c.ok else 0, c.latency_ms,
                                 c.error, int(round(c.interval_s * 1000)), c.cert_days))
                    if update_state:
                        by_probe.setdefault(pid, []).append(c)  # type: ignore[arg-type]
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO checks (probe_id, ts_ms, agent_id, ok, latency_ms, error,"
                    " interval_ms, cert_days) VALUES (?,?,?,?,?,?,?,?)",
                    rows,
                )
                inserted = conn.total_changes - before
                if inserted:
                    self._update_segments(rows)
                if update_state and by_probe:
                    self._advance_state(by_probe, live)
                return inserted
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot write checks: {e}") from e

    def _update_segments(self, rows: list[tuple]) -> None:
        """Extend each (probe, agent)'s newest segment, or rebuild from raw when checks arrive
        out of order (imports, several agents' histories)."""
        by_key: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for r in rows:
            by_key.setdefault((r[0], r[2]), []).append((r[1], r[3], r[6]))
        for (pid, aid), items in by_key.items():
            items.sort()
            row = self.conn.execute(
                "SELECT first_ms, last_ms, ok, n, interval_ms FROM segments WHERE probe_id = ?"
                " AND agent_id = ? ORDER BY first_ms DESC LIMIT 1", (pid, aid)).fetchone()
            if row is not None and items[0][0] <= row[1]:
                self._rebuild_segments(pid, aid, items[0][0])
                continue
            self._fold_segments(pid, aid, list(row) if row is not None else None, items)

    def _fold_segments(self, pid: int, aid: int, seg: list[int] | None,
                       checks: Iterable[tuple[int, int, int]]) -> None:
        """Extend `seg` (first, last, ok, n, interval) by time-ordered (ts_ms, ok, interval_ms)
        checks, writing each segment as it closes and the open one at the end."""
        for ts_ms, ok, interval_ms in checks:
            if seg is not None and _continues(tuple(seg), ts_ms, ok):  # type: ignore[arg-type]
                seg[1], seg[3], seg[4] = ts_ms, seg[3] + 1, interval_ms
                continue
            if seg is not None:
                self._put_segment(pid, aid, seg)
            seg = [ts_ms, ts_ms, ok, 1, interval_ms]
        if seg is not None:
            self._put_segment(pid, aid, seg)

    def _put_segment(self, pid: int, aid: int, seg: list[int]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO segments (probe_id, agent_id, first_ms, last_ms, ok, n,"
            " interval_ms) VALUES (?,?,?,?,?,?,?)", (pid, aid, *seg))

    def _rebuild_segments(self, pid: int, aid: int, from_ms: int) -> None:
        """Recompute one agent's segments of a probe from the raw checks at or after the
        segment that holds from_ms (raw checks older than retention are already segments)."""
        row = self.conn.execute(
            "SELECT first_ms FROM segments WHERE probe_id = ? AND agent_id = ? AND first_ms <= ?"
            " ORDER BY first_ms DESC LIMIT 1", (pid, aid, from_ms)).fetchone()
        start = min(from_ms, row[0]) if row is not None else from_ms
        horizon = self.pruned_before_ms()
        if horizon is not None and start < horizon:
            start = max(start, horizon)
        prev = self.conn.execute(
            "SELECT first_ms, last_ms, ok, n, interval_ms FROM segments WHERE probe_id = ?"
            " AND agent_id = ? AND first_ms < ? ORDER BY first_ms DESC LIMIT 1",
            (pid, aid, start)).fetchone()
        if prev is not None and prev[1] >= start:
            # Only after pruning: the segment straddles the horizon and its raw checks are
            # gone, so it stays as it is and late checks inside it change raw rows only.
            start = prev[1] + 1
        self.conn.execute("DELETE FROM segments WHERE probe_id = ? AND agent_id = ?"
                          " AND first_ms >= ?", (pid, aid, start))
        raw = self.conn.execute(
            "SELECT ts_ms, ok, interval_ms FROM checks WHERE probe_id = ? AND agent_id = ?"
            " AND ts_ms >= ? ORDER BY ts_ms", (pid, aid, start)).fetchall()
        self._fold_segments(pid, aid, list(prev) if prev is not None else None, raw)

    def pruned_before_ms(self) -> int | None:
        """Raw checks older than this were pruned; only segments remain there."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'pruned_before_ms'").fetchone()
        return int(row[0]) if row else None

    def _advance_state(self, by_probe: dict[int, list[Check]], live: bool) -> None:
        """Fold each probe's checks, one by one, into probe_state (the status view), so a
        batch of several failed checks (a short interval, or checks kept in memory while
        the database was unwritable) counts every one of them towards `confirm`."""
        for pid, checks in by_probe.items():
            row = self.conn.execute(
                "SELECT last_ts_ms, ok, since_ms, fails FROM probe_state WHERE probe_id = ?", (pid,)
            ).fetchone()
            state = None if row is None else (row[0], bool(row[1]), row[2], row[3])
            last = None
            for c in checks if live else sorted(checks, key=lambda c: c.ts):
                ts_ms = int(round(c.ts * 1000))
                if state is not None and state[0] >= ts_ms and not live:
                    continue  # an older (or the same) check imported: status keeps the newest
                if state is not None and state[1] == c.ok:
                    state = (ts_ms, c.ok, state[2], 0 if c.ok else state[3] + 1)
                else:
                    state = (ts_ms, c.ok, ts_ms, 0 if c.ok else 1)
                last = c
            if last is None or state is None:
                continue
            ts_ms, _, since_ms, fails = state
            c = last
            self.conn.execute(
                "INSERT OR REPLACE INTO probe_state (probe_id, last_ts_ms, ok, since_ms, fails,"
                " latency_ms, error, interval_ms, cert_days) VALUES (?,?,?,?,?,?,?,?,?)",
                (pid, ts_ms, 1 if c.ok else 0, since_ms, fails, c.latency_ms, c.error,
                 int(round(c.interval_s * 1000)), c.cert_days),
            )

    def record_start(self, agent: str, ts: float) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO agent_runs (agent, started_ms, pid) VALUES (?, ?, ?)",
                (agent, int(ts * 1000), os.getpid()),
            )
        return int(cur.lastrowid or 0)

    def record_stop(self, run_id: int, ts: float) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE agent_runs SET stopped_ms = ? WHERE id = ?", (int(ts * 1000), run_id)
            )

    # -- reads -----------------------------------------------------------
    _SELECT = (
        "SELECT p.name, c.ts_ms, c.ok, c.latency_ms, c.error, c.interval_ms, a.name, c.cert_days"
        " FROM checks c JOIN probes p ON p.id = c.probe_id JOIN agents a ON a.id = c.agent_id"
    )

    @staticmethod
    def _row(r: tuple) -> Check:
        return Check(probe=r[0], ts=r[1] / 1000, ok=bool(r[2]), latency_ms=r[3], error=r[4],
                     interval_s=r[5] / 1000, agent=r[6], cert_days=r[7])

    def checks(self, probe: str, start: float | None = None, end: float | None = None) -> list[Check]:
        """One probe's checks with start <= ts < end, in time order (all agents)."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        lo, hi = _ms_range(start, end)
        rows = self.conn.execute(
            self._SELECT + " WHERE c.probe_id = ? AND c.ts_ms >= ? AND c.ts_ms < ?"
            " ORDER BY c.ts_ms, a.name", (pid, lo, hi),
        ).fetchall()
        return [self._row(r) for r in rows]

    def checks_before(self, probe: str, ts: float, n: int) -> list[Check]:
        """The last n checks (all agents) of a probe before ts, in time order."""
        pid = self.probe_id(probe)
        if pid is None or n <= 0:
            return []
        rows = self.conn.execute(
            self._SELECT + " WHERE c.probe_id = ? AND c.ts_ms < ? ORDER BY c.ts_ms DESC LIMIT ?",
            (pid, int(round(ts * 1000)), n),
        ).fetchall()
        return [self._row(r) for r in reversed(rows)]

    def iter_all(self, start: float | None = None, end: float | None = None,
                 probe: str | None = None) -> Iterator[Check]:
        """Every stored check in [start, end), ordered by probe then time (for export)."""
        lo, hi = _ms_range(start, end)
        sql = self._SELECT + " WHERE c.ts_ms >= ? AND c.ts_ms < ?"
        args: list[object] = [lo, hi]
        if probe is not None:
            sql += " AND p.name = ?"
            args.append(probe)
        sql += " ORDER BY p.name, c.ts_ms, a.name"
        for r in self.conn.execute(sql, args):
            yield self._row(r)

    def spans(self, probe: str, start: float | None = None, end: float | None = None) -> list[Span]:
        """The probe's segments (all agents) that reach into [start, end), in time order."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        lo, hi = _ms_range(start, end)
        rows = self.conn.execute(
            "SELECT s.first_ms, s.last_ms, s.ok, s.n, s.interval_ms, a.name FROM segments s"
            " JOIN agents a ON a.id = s.agent_id WHERE s.probe_id = ? AND s.first_ms < ?"
            " AND s.last_ms + 2 * s.interval_ms > ? ORDER BY s.first_ms, a.name",
            (pid, hi, lo)).fetchall()
        return [Span(r[0] / 1000, r[1] / 1000, bool(r[2]), r[3], r[4] / 1000, r[5]) for r in rows]

    def spans_before(self, probe: str, ts: float, n: int) -> list[Span]:
        """Up to n segments (all agents) that start before ts, newest last."""
        pid = self.probe_id(probe)
        if pid is None or n <= 0:
            return []
        rows = self.conn.execute(
            "SELECT s.first_ms, s.last_ms, s.ok, s.n, s.interval_ms, a.name FROM segments s"
            " JOIN agents a ON a.id = s.agent_id WHERE s.probe_id = ? AND s.first_ms < ?"
            " ORDER BY s.first_ms DESC LIMIT ?", (pid, int(round(ts * 1000)), n)).fetchall()
        return [Span(r[0] / 1000, r[1] / 1000, bool(r[2]), r[3], r[4] / 1000, r[5])
                for r in reversed(rows)]

    def failed_checks(self, probe: str, start: float, end: float) -> list[Check]:
        """The probe's failed checks (all agents) in [start, end), in time order."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        rows = self.conn.execute(
            self._SELECT + " WHERE c.probe_id = ? AND c.ts_ms >= ? AND c.ts_ms < ? AND c.ok = 0"
            " ORDER BY c.ts_ms, a.name", (pid, int(round(start * 1000)), int(round(end * 1000))),
        ).fetchall()
        return [self._row(r) for r in rows]

    def latencies(self, probe: str, start: float, end: float) -> list[tuple[float, float]]:
        """(ts, latency_ms) of the probe's successful checks in [start, end)."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        return self.conn.execute(
            "SELECT ts_ms / 1000.0, latency_ms FROM checks WHERE probe_id = ? AND ts_ms >= ?"
            " AND ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL ORDER BY ts_ms",
            (pid, int(round(start * 1000)), int(round(end * 1000)))).fetchall()

    def latency_histogram(self, probe: str, start: float, end: float) -> list[tuple[float, int, int]]:
        """(hour start, bucket, count) of pruned successful checks in hours within [start, end)."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        rows = self.conn.execute(
            "SELECT hour_ms, bucket, count FROM latency_hist WHERE probe_id = ? AND hour_ms >= ?"
            " AND hour_ms < ?", (pid, int(start * 1000) - 3_599_999, int(end * 1000))).fetchall()
        return [(r[0] / 1000, r[1], r[2]) for r in rows]

    def prune(self, before: float, *, batch: int = 50_000) -> int:
        """Delete successful raw checks older than `before`, keeping what reports need.

        1. Segments (runs of equal checks) already hold the timeline: nothing to do.
        2. Failed checks stay: they carry the error kinds of incidents and are few.
        3. Successful checks' latencies are folded into hourly histograms first,
           so latency percentiles of pruned months stay (within 0.25 %).
        Works in batches, each its own short transaction, so the writer is never
        blocked for long. Returns the number of checks deleted.
        """
        before_ms = int(before * 1000)
        deleted = 0
        try:
            while True:
                with self.conn:
                    rows = self.conn.execute(
                        "SELECT probe_id, ts_ms, agent_id, latency_ms FROM checks"
                        " WHERE ok = 1 AND ts_ms < ? LIMIT ?", (before_ms, batch)).fetchall()
                    if not rows:
                        break
                    hist: dict[tuple[int, int, int], int] = {}
                    for pid, ts_ms, _aid, lat in rows:
                        if lat is None:
                            continue
                        key = (pid, ts_ms - ts_ms % 3_600_000, latency_bucket(lat))
                        hist[key] = hist.get(key, 0) + 1
                    self.conn.executemany(
                        "INSERT INTO latency_hist (probe_id, hour_ms, bucket, count)"
                        " VALUES (?,?,?,?) ON CONFLICT (probe_id, hour_ms, bucket)"
                        " DO UPDATE SET count = count + excluded.count",
                        [(*k, v) for k, v in hist.items()])
                    self.conn.executemany(
                        "DELETE FROM checks WHERE probe_id = ? AND ts_ms = ? AND agent_id = ?",
                        [(r[0], r[1], r[2]) for r in rows])
                    deleted += len(rows)
            with self.conn:
                old = self.pruned_before_ms()
                if old is None or before_ms > old:
                    self.conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('pruned_before_ms', ?)",
                        (str(before_ms),))
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: pruning failed: {e}") from e
        return deleted

    def save_period_figures(self, period_start: float, computed: float,
                            figures: dict[str, tuple[float | None, float | None, float | None]],
                            ) -> None:
        """Replace the cached figures (availability, objective, budget left) of this period."""
        rows = [(self.probe_id(pid, create=True), int(period_start * 1000), int(computed * 1000),
                 *values) for pid, values in figures.items()]
        try:
            with self.conn:
                self.conn.execute("DELETE FROM period_figures")
                self.conn.executemany(
                    "INSERT INTO period_figures (probe_id, period_start_ms, computed_ms,"
                    " availability, objective, budget_left) VALUES (?,?,?,?,?,?)", rows)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot save period figures: {e}") from e

    def period_figures(self, period_start: float, ) -> tuple[
            float | None, dict[str, tuple[float | None, float | None, float | None]]]:
        """(computed at, figures by probe id) cached for the period starting at period_start."""
        rows = self.conn.execute(
            "SELECT p.name, f.computed_ms, f.availability, f.objective, f.budget_left"
            " FROM period_figures f JOIN probes p ON p.id = f.probe_id"
            " WHERE f.period_start_ms = ?", (int(period_start * 1000),)).fetchall()
        if not rows:
            return None, {}
        return min(r[1] for r in rows) / 1000, {r[0]: (r[2], r[3], r[4]) for r in rows}

    def states(self) -> dict[str, ProbeState]:
        rows = self.conn.execute(
            "SELECT p.name, s.last_ts_ms, s.ok, s.since_ms, s.fails, s.latency_ms, s.error,"
            " s.interval_ms, s.cert_days FROM probe_state s JOIN probes p ON p.id = s.probe_id"
        ).fetchall()
        return {
            r[0]: ProbeState(r[0], r[1] / 1000, bool(r[2]), r[3] / 1000, r[4], r[5], r[6],
                             r[7] / 1000, r[8])
            for r in rows
        }

    def count_checks(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM checks").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
