"""SQLite storage of checks: batched writes, range reads, latency rollups (schema: `schema.py`).

Tables (see the README for operators' queries):

    probes(id, name)                 probe ids as small integers, so keys stay short
    agents(id, name)                 agent names likewise
    checks(probe_id, ts_ms, agent_id, ok, latency_ms, error, interval_ms, cert_days)
                                     one row per check; primary key (probe_id, ts_ms, agent_id),
                                     WITHOUT ROWID, so a probe's checks lie together in time order
    probe_state(probe_id, ...)       the latest check and the current up/down stretch per probe
    segments(probe_id, agent_id, first_ms, last_ms, ok, n, interval_ms, kind)
                                     derived: each maximal run of one agent's consecutive checks
                                     with the same result (and, failed, the same error kind:
                                     `kind`) and no gap of more than 2 x interval.
                                     It yields exactly the timeline of the raw checks, so reports
                                     over long periods (and over pruned months) read a few rows
                                     per probe instead of every check
    agent_runs(agent, started_ms, stopped_ms, pid)
                                     when each agent ran
    latency_rollups(probe_id, level, start_ms, digest)
                                     derived: a latency digest (latency_digest.py) of every
                                     agent's successful checks per probe and UTC hour (level
                                     0), day (1) and month (2), so reports read a few BLOBs
                                     per probe instead of every check (`roll_up`, `prune`)
    rollup_state(probe_id, rolled_until_ms, pruned_until_ms)
                                     how far raw checks are rolled up / were pruned
    rollup_dirty(probe_id, hour_ms)  hours that got checks after they were rolled up
    rollup_hours(probe_id, spec, from_ms)
                                     the SLA hours whose latencies are also rolled up per UTC
                                     day (level 3) and month (level 4), and from when

WAL mode lets the CLI read while the daemon writes. Only one connection per
thread: sqlite-utils connections are not shared across threads.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from .checks import Check, error_kind
from .errors import StoreError
from .hours import hours_ms
from .intervals import Intervals, clip, normalize, subtract
from .latency_digest import (
    DAY_HOLES,
    DAY_MS,
    HOUR_MS,
    MONTH_HOLES,
    LatencyDigest,
    decompose_shared,
    month_start_ms,
    next_month_ms,
)
from .latency_digest import (
    _first_ms_at_or_after as _first_ms,
)
from .spans import Span

LATEST_MIGRATION = "m012_segment_kinds"  # the last in schema.py (tested)
MIGRATIONS = 12  # how many schema.py has


def _schema_is_current(conn: sqlite3.Connection) -> bool:
    """Whether every migration, the newest too, is recorded as applied (none is pending)."""
    try:
        n, latest = conn.execute(
            "SELECT count(*), sum(name = ?) FROM _sqlite_migrations"
            " WHERE migration_set = 'slaprobe'", (LATEST_MIGRATION,)).fetchone()
    except sqlite3.OperationalError:  # no such table: a new or pre-migrations database
        return False
    return bool(n == MIGRATIONS and latest)


def _continues(seg: list[Any], ts_ms: int, ok: int, kind: str | None) -> bool:
    """Does a check at ts_ms with result ok (and error kind, failed) extend the segment
    (first, last, ok, n, interval, kind)?"""
    return seg[2] == ok and seg[5] == kind and seg[1] < ts_ms <= seg[1] + 2 * seg[4]


def _kind(ok: int, error: str | None) -> str | None:
    """A segment's kind for a check: None when ok, else its error kind."""
    return None if ok else error_kind(error)


def _span(r: tuple[Any, ...]) -> Span:
    """A segment row (first_ms, last_ms, ok, n, interval_ms, agent, kind, ...) as a Span; a
    failed one's `error` is its kind (None on a database from before kinds)."""
    return Span(r[0] / 1000, r[1] / 1000, bool(r[2]), r[3], r[4] / 1000, r[5], None, r[6])


def legacy_bucket_value(bucket: int) -> float:
    """The middle of a latency_hist bucket (0.5 % wide, geometric), in ms."""
    return math.exp((bucket + 0.5) * math.log(1.005))


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
        if not readonly:
            try:
                if not _schema_is_current(self.conn):  # sqlite-utils only then (~50 ms import)
                    from .schema import apply_migrations

                    apply_migrations(self.conn)
            except sqlite3.DatabaseError as e:
                raise StoreError(f"{self.path}: not a slaprobe database ({e})") from e
        self._probe_ids: dict[str, int] = {}
        self._agent_ids: dict[str, int] = {}
        self._identity: tuple[int, int] | None = None
        self._hours: dict[int, tuple[str, int]] = {}  # SLA-hours specs, read by roll_up
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
                    self._mark_late(rows)
                if update_state and by_probe:
                    self._advance_state(by_probe, live)
                return inserted
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot write checks: {e}") from e

    def _mark_late(self, rows: list[tuple]) -> None:
        """Successful checks older than their probe's roll-up mark (imports, late shipping,
        another agent's history) make their hour dirty, for `roll_up` to bring its digests
        up to date. Read under the write lock this transaction holds, so a concurrent
        roll-up cannot slip between. A duplicate (not inserted) marks it too: harmless."""
        low: dict[int, int] = {}
        for r in rows:
            if r[3] and r[4] is not None and (r[0] not in low or r[1] < low[r[0]]):
                low[r[0]] = r[1]
        if not low:
            return
        marks = ",".join("?" * len(low))
        rolled = dict(self.conn.execute(
            f"SELECT probe_id, rolled_until_ms FROM rollup_state WHERE probe_id IN ({marks})",
            tuple(low)).fetchall())
        if not any(pid in rolled and ts < rolled[pid] for pid, ts in low.items()):
            return
        dirty = {(r[0], r[1] - r[1] % HOUR_MS) for r in rows
                 if r[3] and r[4] is not None and r[0] in rolled and r[1] < rolled[r[0]]}
        self.conn.executemany("INSERT OR IGNORE INTO rollup_dirty (probe_id, hour_ms)"
                              " VALUES (?, ?)", sorted(dirty))

    def _update_segments(self, rows: list[tuple]) -> None:
        """Extend each (probe, agent)'s newest segment, or rebuild from raw when checks arrive
        out of order (imports, several agents' histories)."""
        by_key: dict[tuple[int, int], list[tuple[int, int, int, str | None]]] = {}
        for r in rows:
            by_key.setdefault((r[0], r[2]), []).append((r[1], r[3], r[6], _kind(r[3], r[5])))
        for (pid, aid), items in by_key.items():
            items.sort(key=itemgetter(0))
            row = self.conn.execute(
                "SELECT first_ms, last_ms, ok, n, interval_ms, kind FROM segments"
                " WHERE probe_id = ? AND agent_id = ? ORDER BY first_ms DESC LIMIT 1",
                (pid, aid)).fetchone()
            if row is not None and items[0][0] <= row[1]:
                self._rebuild_segments(pid, aid, items[0][0])
                continue
            self._fold_segments(pid, aid, list(row) if row is not None else None, items)

    def _fold_segments(self, pid: int, aid: int, seg: list[Any] | None,
                       checks: Iterable[tuple[int, int, int, str | None]]) -> None:
        """Extend `seg` (first, last, ok, n, interval, kind) by time-ordered (ts_ms, ok,
        interval_ms, kind) checks, writing each segment as it closes and the open one at
        the end."""
        for ts_ms, ok, interval_ms, kind in checks:
            if seg is not None and _continues(seg, ts_ms, ok, kind):
                seg[1], seg[3], seg[4] = ts_ms, seg[3] + 1, interval_ms
                continue
            if seg is not None:
                self._put_segment(pid, aid, seg)
            seg = [ts_ms, ts_ms, ok, 1, interval_ms, kind]
        if seg is not None:
            self._put_segment(pid, aid, seg)

    def _put_segment(self, pid: int, aid: int, seg: list[Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO segments (probe_id, agent_id, first_ms, last_ms, ok, n,"
            " interval_ms, kind) VALUES (?,?,?,?,?,?,?,?)", (pid, aid, *seg))

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
            "SELECT first_ms, last_ms, ok, n, interval_ms, kind FROM segments WHERE probe_id = ?"
            " AND agent_id = ? AND first_ms < ? ORDER BY first_ms DESC LIMIT 1",
            (pid, aid, start)).fetchone()
        if prev is not None and prev[1] >= start:
            # Only after pruning: the segment straddles the horizon and its raw checks are
            # gone, so it stays as it is and late checks inside it change raw rows only.
            start = prev[1] + 1
        self.conn.execute("DELETE FROM segments WHERE probe_id = ? AND agent_id = ?"
                          " AND first_ms >= ?", (pid, aid, start))
        raw = self.conn.execute(
            "SELECT ts_ms, ok, interval_ms, error FROM checks WHERE probe_id = ? AND agent_id = ?"
            " AND ts_ms >= ? ORDER BY ts_ms", (pid, aid, start)).fetchall()
        self._fold_segments(pid, aid, list(prev) if prev is not None else None,
                            ((t, ok, iv, _kind(ok, err)) for t, ok, iv, err in raw))

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
            f"SELECT s.first_ms, s.last_ms, s.ok, s.n, s.interval_ms, a.name, {self._kind_col}"
            " FROM segments s JOIN agents a ON a.id = s.agent_id WHERE s.probe_id = ?"
            " AND s.first_ms < ? AND s.last_ms + 2 * s.interval_ms > ?"
            " ORDER BY s.first_ms, a.name", (pid, hi, lo)).fetchall()
        return [_span(r) for r in rows]

    def segments_have_kinds(self) -> bool:
        """Whether failed segments carry their error kind (schema m012 on): a report then
        reads no failed checks, but for the few it counts one by one."""
        return self._has_column("segments", "kind")

    @property
    def _kind_col(self) -> str:
        return "s.kind" if self.segments_have_kinds() else "NULL"

    def probe_ids(self, names: Iterable[str]) -> dict[str, int | None]:
        """`probe_id` of many names, in one statement for those not looked up yet."""
        names = list(dict.fromkeys(names))
        missing = [n for n in names if n not in self._probe_ids]
        for i in range(0, len(missing), 500):
            chunk = missing[i:i + 500]
            self._probe_ids.update(self.conn.execute(
                f"SELECT name, id FROM probes WHERE name IN ({','.join('?' * len(chunk))})",
                chunk).fetchall())
        return {n: self._probe_ids.get(n) for n in names}

    def spans_many(self, wanted: Iterable[tuple[str, float]], end: float,
                   ) -> dict[str, list[Span]]:
        """`spans(probe, start, end)` of many (probe, start) at once (few statements): the
        same lists, by probe name (unknown probes: [])."""
        wanted = list(wanted)
        hi = _ms_range(None, end)[1]
        out: dict[str, list[Span]] = {n: [] for n, _ in wanted}
        for by_pid, values, flat in self._probe_chunks(
                wanted, lambda lo: _ms_range(lo, None)[0], out):
            rows = self.conn.execute(
                f"WITH w(pid, lo) AS (VALUES {values}) SELECT s.first_ms, s.last_ms, s.ok,"
                f" s.n, s.interval_ms, a.name, {self._kind_col}, s.probe_id FROM w"
                " JOIN segments s ON s.probe_id = w.pid AND s.first_ms < ?"
                " AND s.last_ms + 2 * s.interval_ms > w.lo JOIN agents a ON a.id = s.agent_id"
                " ORDER BY s.probe_id, s.first_ms, a.name", (*flat, hi))
            for r in rows:
                by_pid[r[7]].append(_span(r))
        return out

    def _probe_chunks(self, wanted: list[tuple[str, float]], lo_ms: Callable[[float], int],
                      out: dict[str, list[Any]],
                      ) -> Iterator[tuple[dict[int, list[Any]], str, list[int]]]:
        """(lists by probe id, "(?,?),..." VALUES text, its arguments) per chunk of 300
        (probe, lower bound) pairs: one statement reads many probes, each from its own
        start, within SQLite's limit on bound parameters."""
        ids = self.probe_ids(n for n, _ in wanted)
        args = [(pid, lo_ms(lo), n) for n, lo in wanted if (pid := ids[n]) is not None]
        for i in range(0, len(args), 300):
            chunk = args[i:i + 300]
            flat = [v for pid, lo, _ in chunk for v in (pid, lo)]
            yield ({pid: out[n] for pid, _, n in chunk}, ",".join(["(?,?)"] * len(chunk)),
                   flat)

    def spans_before(self, probe: str, ts: float, n: int) -> list[Span]:
        """Up to n segments (all agents) that start before ts, newest last."""
        pid = self.probe_id(probe)
        if pid is None or n <= 0:
            return []
        rows = self.conn.execute(
            f"SELECT s.first_ms, s.last_ms, s.ok, s.n, s.interval_ms, a.name, {self._kind_col}"
            " FROM segments s JOIN agents a ON a.id = s.agent_id WHERE s.probe_id = ?"
            " AND s.first_ms < ? ORDER BY s.first_ms DESC LIMIT ?",
            (pid, int(round(ts * 1000)), n)).fetchall()
        return [_span(r) for r in reversed(rows)]

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

    def failed_details(self, probe: str, start: float, end: float,
                       ) -> list[tuple[float, str | None, float, str]]:
        """(ts, error, interval_s, agent) of `failed_checks`, in the same order: what a
        report needs of them, without building Checks."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        hint = " INDEXED BY checks_failed" if self._has_index("checks_failed") else ""
        name = self._agent_names()
        return [(ts, err, iv, name[aid]) for ts, err, iv, aid in self.conn.execute(
            f"SELECT c.ts_ms / 1000.0, c.error, c.interval_ms / 1000.0, c.agent_id"
            f" FROM checks c{hint} WHERE c.probe_id = ? AND c.ts_ms >= ? AND c.ts_ms < ?"
            " AND c.ok = 0 ORDER BY c.ts_ms, c.agent_id",
            (pid, int(round(start * 1000)), int(round(end * 1000))))]

    def failed_times(self, probe: str, agent: str, first: float, last: float) -> list[float]:
        """Times of one agent's failed checks of the probe from `first` to `last` (both
        included: a failed segment), in order."""
        pid, aid = self.probe_id(probe), self.agent_id(agent)
        if pid is None or aid is None:
            return []
        hint = " INDEXED BY checks_failed" if self._has_index("checks_failed") else ""
        return [r[0] for r in self.conn.execute(
            f"SELECT ts_ms / 1000.0 FROM checks{hint} WHERE probe_id = ? AND ts_ms >= ?"
            " AND ts_ms <= ? AND agent_id = ? AND ok = 0 ORDER BY ts_ms",
            (pid, int(round(first * 1000)), int(round(last * 1000)), aid))]

    def _agent_names(self) -> dict[int, str]:
        """Agent id -> name (few rows: read whole, for mapping rows read without a join)."""
        return dict(self.conn.execute("SELECT id, name FROM agents"))

    def failed_details_many(self, wanted: Iterable[tuple[str, float]], end: float,
                            ) -> dict[str, list[tuple[float, str | None, float, str]]]:
        """`failed_details(probe, start, end)` of many (probe, start) at once: the same
        lists, by probe name (unknown probes: [])."""
        wanted = list(wanted)
        hi = int(round(end * 1000))
        out: dict[str, list[tuple[float, str | None, float, str]]] = {n: [] for n, _ in wanted}
        hint = " INDEXED BY checks_failed" if self._has_index("checks_failed") else ""
        name = self._agent_names()
        for by_pid, values, flat in self._probe_chunks(
                wanted, lambda lo: int(round(lo * 1000)), out):
            rows = self.conn.execute(
                f"WITH w(pid, lo) AS (VALUES {values}) SELECT c.probe_id, c.ts_ms / 1000.0,"
                f" c.error, c.interval_ms / 1000.0, c.agent_id FROM w JOIN checks c{hint}"
                " ON c.probe_id = w.pid AND c.ts_ms >= w.lo AND c.ts_ms < ? AND c.ok = 0"
                " ORDER BY c.probe_id, c.ts_ms, c.agent_id", (*flat, hi))
            for pid, ts, err, iv, aid in rows:
                by_pid[pid].append((ts, err, iv, name[aid]))
        return out

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
        """(hour start, bucket, count) of a database from before rollups (latency_hist, 0.5 %
        buckets, see `legacy_bucket_value`), opened read-only so not migrated; else []."""
        pid = self.probe_id(probe)
        if pid is None or not self._has_table("latency_hist"):
            return []
        rows = self.conn.execute(
            "SELECT hour_ms, bucket, count FROM latency_hist WHERE probe_id = ? AND hour_ms >= ?"
            " AND hour_ms < ?", (pid, int(start * 1000) - 3_599_999, int(end * 1000))).fetchall()
        return [(r[0] / 1000, r[1], r[2]) for r in rows]

    def _in_schema(self, kind: str, name: str) -> bool:
        """Whether the database has this table or index (cached: an older, read-only
        database may lack what migrations add)."""
        cache = self.__dict__.setdefault("_schema", {})
        if (kind, name) not in cache:
            cache[kind, name] = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?",
                (kind, name)).fetchone() is not None
        return bool(cache[kind, name])

    def _has_index(self, name: str) -> bool:
        return self._in_schema("index", name)

    def _has_table(self, name: str) -> bool:
        return self._in_schema("table", name)

    def _has_column(self, table: str, column: str) -> bool:
        """Whether `table` has `column` (cached like `_in_schema`)."""
        cache = self.__dict__.setdefault("_schema", {})
        if ("column", table, column) not in cache:
            cache["column", table, column] = any(
                r[1] == column for r in self.conn.execute(f"PRAGMA table_info({table})"))
        return bool(cache["column", table, column])

    # -- latency rollups -----------------------------------------------------------
    def has_rollups(self) -> bool:
        """Whether this database has latency rollups (a read-only, never migrated one has not)."""
        return self._has_table("latency_rollups")

    def latency_reader(self, probe: str, start: float, end: float,
                       horizon: float | None = None) -> RollupLatency:
        """The latencies of `probe` for a report of [start, end), from rollups and raw checks
        (see `RollupLatency`; `horizon`: now - keep_raw)."""
        return RollupLatency(self, self.probe_id(probe), (start, end), horizon=horizon)

    def latency_readers(self, groups: Iterable[Iterable[str]], start: float, end: float,
                        hours: Mapping[str, str | None] | None = None,
                        horizon: float | None = None,
                        ) -> dict[str, RollupLatency]:
        """`latency_reader` of many probes at once, by name: their rollup marks and dirty
        hours in one statement each; the probes of one group (the same eligible time)
        share the reads of the few blocks and raw ranges they all need (one statement
        for the group). Each reader answers as `latency_reader`'s would. `hours`: each
        probe's `hours.hours_spec` in the report: where the SLA-hours digests kept are
        of those hours, the readers use them."""
        groups = [list(g) for g in groups]
        ids = self.probe_ids(n for g in groups for n in g)
        pids = sorted({pid for pid in ids.values() if pid is not None})
        marks: dict[int, tuple[int | None, int | None]] = {}
        dirty: dict[int, list[int]] = {}
        if pids and self.has_rollups():
            for i in range(0, len(pids), 500):
                chunk = pids[i:i + 500]
                q = ",".join("?" * len(chunk))
                for pid, rolled, pruned in self.conn.execute(
                        "SELECT probe_id, rolled_until_ms, pruned_until_ms FROM rollup_state"
                        f" WHERE probe_id IN ({q})", chunk):
                    marks[pid] = (rolled, pruned)
                for pid, hour in self.conn.execute(
                        f"SELECT probe_id, hour_ms FROM rollup_dirty WHERE probe_id IN ({q})"
                        " ORDER BY probe_id, hour_ms", chunk):
                    dirty.setdefault(pid, []).append(hour)
        kept = self.sla_hours() if pids and hours else {}
        out: dict[str, RollupLatency] = {}
        for g in groups:
            shared = _SharedReads(self, [pid for n in g if (pid := ids[n]) is not None])
            for n in g:
                pid = ids[n]
                mine = kept.get(pid) if pid is not None else None
                out[n] = RollupLatency(
                    self, pid, (start, end),
                    known=(marks.get(pid, (None, None)), dirty.get(pid, []))
                    if pid is not None else None, shared=shared,
                    hours=mine if mine is not None and hours and mine[0] == hours.get(n)
                    else None, horizon=horizon)
        return out

    def rollup_marks(self, pid: int) -> tuple[int | None, int | None]:
        """(rolled_until_ms, pruned_until_ms) of a probe id; None where not set."""
        row = self.conn.execute("SELECT rolled_until_ms, pruned_until_ms FROM rollup_state"
                                " WHERE probe_id = ?", (pid,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    def rollup_blobs(self, pid: int, level: int, starts: list[int]) -> list[tuple[int, bytes]]:
        """(start, digest) stored for a probe id at `level` (0 hour, 1 day, 2 month) and those
        starts (sorted); a block without values has no row."""
        out: list[tuple[int, bytes]] = []
        step = HOUR_MS if level == 0 else DAY_MS
        for i in range(0, len(starts), 500):
            chunk = starts[i:i + 500]
            runs = _runs(chunk, step) if level < 2 else []
            if len(runs) == 1:
                rows = self.conn.execute(
                    "SELECT start_ms, digest FROM latency_rollups WHERE probe_id = ?"
                    " AND level = ? AND start_ms >= ? AND start_ms <= ?",
                    (pid, level, *runs[0]))
            elif runs and len(runs) <= min(_MAX_RUNS, len(chunk) // 2):
                # a few runs (e.g. office hours): one range scan each beats a look-up per start
                one = ("SELECT start_ms, digest FROM latency_rollups WHERE probe_id = ?"
                       " AND level = ? AND start_ms >= ? AND start_ms <= ?")
                args: list[int] = []
                for a, b in runs:
                    args += (pid, level, a, b)
                rows = self.conn.execute(" UNION ALL ".join([one] * len(runs)), args)
            else:
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    "SELECT start_ms, digest FROM latency_rollups WHERE probe_id = ? AND level = ?"
                    f" AND start_ms IN ({marks})", (pid, level, *chunk))
            out.extend(rows)
        return out

    def raw_latencies(self, pid: int, lo_ms: int, hi_ms: int) -> list[float]:
        """Latencies of a probe id's successful checks (all agents) with lo_ms <= ts_ms < hi_ms."""
        return [r[0] for r in self.conn.execute(
            "SELECT latency_ms FROM checks WHERE probe_id = ? AND ts_ms >= ? AND ts_ms < ?"
            " AND ok = 1 AND latency_ms IS NOT NULL", (pid, lo_ms, hi_ms))]

    def raw_latencies_in(self, pid: int, ranges: list[tuple[int, int]]) -> list[float]:
        """`raw_latencies` of several [lo_ms, hi_ms) ranges, in one statement (any order)."""
        out: list[float] = []
        one = ("SELECT latency_ms FROM checks WHERE probe_id = ? AND ts_ms >= ? AND ts_ms < ?"
               " AND ok = 1 AND latency_ms IS NOT NULL")
        for i in range(0, len(ranges), 100):
            chunk = ranges[i:i + 100]
            args: list[int] = []
            for lo, hi in chunk:
                args += (pid, lo, hi)
            out.extend([r[0] for r in self.conn.execute(
                " UNION ALL ".join([one] * len(chunk)), args)])
        return out

    def dirty_hours(self, pid: int) -> list[int]:
        """A probe id's hours with checks stored after they were rolled up, oldest first."""
        return [r[0] for r in self.conn.execute(
            "SELECT hour_ms FROM rollup_dirty WHERE probe_id = ? ORDER BY hour_ms", (pid,))]

    def _abandoned(self, what: str, e: sqlite3.Error) -> StoreError:
        """Roll back the open transaction of a failed multi-step write; the error to raise."""
        if self.conn.in_transaction:
            self.conn.rollback()
        return StoreError(f"{self.path}: {what}: {e}")

    def _begin(self) -> None:
        if self.conn.in_transaction:
            self.conn.commit()
        self.conn.execute("BEGIN IMMEDIATE")

    def set_sla_hours(self, specs: Mapping[str, str | None]) -> int:
        """Make each probe's SLA-hours digests (levels 3 and 4) follow `specs`: probe name ->
        `hours.hours_spec` of its SLA, None for 24x7 (none needed).

        A probe whose hours changed drops its old ones; `roll_up` builds the new ones
        from the first UTC day it has not rolled up yet (`from_ms`); reports read
        older time hour by hour, as without them. Probes not stored yet, or not in
        `specs`, are left alone. Cheap when nothing changed (the daemon calls it before
        each roll-up). Returns how many probes changed."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only: cannot record SLA hours")
        try:
            current = dict(self.conn.execute("SELECT probe_id, spec FROM rollup_hours"))
            ids = self.probe_ids(specs)
            todo = [(pid, specs[name]) for name, pid in ids.items()
                    if pid is not None and current.get(pid) != specs[name]]
            if not todo:
                return 0
            with self.conn:
                for pid, spec in todo:
                    self.conn.execute("DELETE FROM latency_rollups WHERE probe_id = ? AND"
                                      " level IN (3, 4)", (pid,))
                    self.conn.execute("DELETE FROM rollup_hours WHERE probe_id = ?", (pid,))
                    if spec is None:
                        continue
                    rolled = self.rollup_marks(pid)[0]
                    from_ms = 0 if rolled is None else -(-rolled // DAY_MS) * DAY_MS
                    self.conn.execute("INSERT INTO rollup_hours (probe_id, spec, from_ms)"
                                      " VALUES (?, ?, ?)", (pid, spec, from_ms))
            return len(todo)
        except sqlite3.Error as e:
            raise self._abandoned("cannot record SLA hours", e) from e

    def sla_hours(self) -> dict[int, tuple[str, int]]:
        """Probe id -> (spec, from_ms) of the SLA-hours digests kept (see `set_sla_hours`)."""
        if not self._has_table("rollup_hours"):
            return {}
        return {pid: (spec, frm) for pid, spec, frm in self.conn.execute(
            "SELECT probe_id, spec, from_ms FROM rollup_hours")}

    def roll_up(self, now: float | None = None) -> int:
        """Fold the latencies of raw successful checks of completed UTC hours into digests.

        1. Dirty hours first (checks stored after their hour was rolled up: imports,
           late shipping, several agents): an hour whose raw checks are all there is
           rebuilt, and its day and month get the difference; in pruned time the new
           raw checks are added to the digests and then deleted, as pruning would.
        2. Then each probe from its `rolled_until_ms` (else its first check's hour)
           up to the last completed hour before `now`: one range scan of the checks
           by their key per UTC month, hour, day and month digests written, the mark
           moved, in one short transaction each.
        Incremental and cheap when called often (an hour of one probe is a few rows
        read and three written). Returns the number of latencies folded.

        Usage: call after inserting history (import) and about every 5-15 minutes in
        the daemon (`store.roll_up(time.time())`); reports call it first when the
        store is writable.
        """
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only: cannot roll up latencies")
        now_ms = int((time.time() if now is None else now) * 1000)
        limit = now_ms - now_ms % HOUR_MS
        folded = 0
        try:
            self._hours = self.sla_hours()
            dirty: dict[int, list[int]] = {}
            for pid, hour in self.conn.execute(
                    "SELECT probe_id, hour_ms FROM rollup_dirty ORDER BY probe_id, hour_ms"):
                dirty.setdefault(pid, []).append(hour)
            for pid, hours in dirty.items():
                folded += self._roll_dirty(pid, hours)
            states = dict(self.conn.execute(
                "SELECT probe_id, rolled_until_ms FROM rollup_state").fetchall())
            for (pid,) in self.conn.execute("SELECT id FROM probes").fetchall():
                frm = states.get(pid)
                if frm is not None and frm >= limit:
                    continue
                if frm is None:
                    row = self.conn.execute(
                        "SELECT min(ts_ms) FROM checks WHERE probe_id = ?", (pid,)).fetchone()
                    if row[0] is None:
                        continue
                    frm = row[0] - row[0] % HOUR_MS
                while frm < limit:
                    to = min(limit, next_month_ms(month_start_ms(frm)))
                    n = self._roll_range(pid, frm, to)
                    if n < 0:
                        break  # another connection rolled this probe meanwhile
                    folded += n
                    frm = to
        except sqlite3.Error as e:
            raise self._abandoned("cannot roll up latencies", e) from e
        return folded

    def _roll_range(self, pid: int, frm: int, to: int) -> int:
        """Roll [frm, to) (within one UTC month) of a probe, if its mark is still at frm."""
        self._begin()
        try:
            marks = self.rollup_marks(pid)
            if marks[0] is not None and marks[0] != frm:
                self.conn.rollback()
                return -1
            rows = self.conn.execute(
                "SELECT ts_ms, latency_ms FROM checks WHERE probe_id = ? AND ts_ms >= ?"
                " AND ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL ORDER BY ts_ms",
                (pid, frm, to)).fetchall()
            if rows:
                by_hour: dict[int, list[float]] = {}
                by_day: dict[int, list[float]] = {}
                for ts, v in rows:
                    h = ts - ts % HOUR_MS
                    vals = by_hour.get(h)
                    if vals is None:
                        vals = by_hour[h] = []
                    vals.append(v)
                for h, vals in by_hour.items():
                    by_day.setdefault(h - h % DAY_MS, []).extend(vals)
                fresh = [(0, h, LatencyDigest.of(v)) for h, v in by_hour.items()]
                fresh += [(1, d, LatencyDigest.of(v)) for d, v in by_day.items()]
                fresh.append((2, month_start_ms(frm), LatencyDigest.of(v for _, v in rows)))
                hours = self._hours.get(pid)
                if hours is not None and to > hours[1]:
                    fresh += _sla_hours_digests(hours[0], max(frm, hours[1]), to, rows)
                self._add_digests(pid, fresh)
            self.conn.execute(
                "INSERT INTO rollup_state (probe_id, rolled_until_ms) VALUES (?, ?)"
                " ON CONFLICT (probe_id) DO UPDATE SET rolled_until_ms = excluded.rolled_until_ms",
                (pid, to))
            self.conn.commit()
            return len(rows)
        except BaseException:
            self.conn.rollback()
            raise

    def _add_digests(self, pid: int, items: list[tuple[int, int, LatencyDigest]]) -> None:
        """Merge each (level, start, digest) into the stored one (or store it)."""
        for level, start, d in items:
            if not d.counts:
                continue
            row = self.conn.execute(
                "SELECT digest FROM latency_rollups WHERE probe_id = ? AND level = ?"
                " AND start_ms = ?", (pid, level, start)).fetchone()
            if row is not None:
                d = LatencyDigest.merged((LatencyDigest.decode(row[0]), d))
            self.conn.execute(
                "INSERT OR REPLACE INTO latency_rollups (probe_id, level, start_ms, digest)"
                " VALUES (?, ?, ?, ?)", (pid, level, start, d.encode()))

    def _roll_dirty(self, pid: int, hours: list[int]) -> int:
        """Bring the digests of a probe's dirty hours up to date (see `roll_up`)."""
        self._begin()
        try:
            rolled, pruned = self.rollup_marks(pid)
            kept = self._hours.get(pid)
            folded = 0
            for h in hours:
                self.conn.execute("DELETE FROM rollup_dirty WHERE probe_id = ? AND hour_ms = ?",
                                  (pid, h))
                if rolled is None or h >= rolled:
                    continue  # not rolled yet: the forward pass takes it
                end = h + HOUR_MS
                values = self.raw_latencies(pid, h, end)
                row = self.conn.execute(
                    "SELECT digest FROM latency_rollups WHERE probe_id = ? AND level = 0"
                    " AND start_ms = ?", (pid, h)).fetchone()
                old = LatencyDigest.decode(row[0]) if row is not None else LatencyDigest()
                if pruned is not None and h < pruned:
                    # raw successful checks here were pruned: those left came late, uncounted
                    delta = LatencyDigest.of(values)
                    items = [(1, h - h % DAY_MS, delta), (2, month_start_ms(h), delta)]
                    if row is not None:
                        items.append((0, h, delta))
                    if kept is not None and h >= kept[1]:
                        rows = self.conn.execute(
                            "SELECT ts_ms, latency_ms FROM checks WHERE probe_id = ? AND"
                            " ts_ms >= ? AND ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL"
                            " ORDER BY ts_ms", (pid, h, end)).fetchall()
                        items += _sla_hours_digests(kept[0], h, end, rows)
                    self.conn.execute("DELETE FROM checks WHERE probe_id = ? AND ts_ms >= ?"
                                      " AND ts_ms < ? AND ok = 1", (pid, h, end))
                else:
                    new = LatencyDigest.of(values)
                    delta = new.minus(old)
                    if row is not None:
                        self.conn.execute("DELETE FROM latency_rollups WHERE probe_id = ? AND"
                                          " level = 0 AND start_ms = ?", (pid, h))
                    items = [(0, h, new), (1, h - h % DAY_MS, delta),
                             (2, month_start_ms(h), delta)]
                self._add_digests(pid, items)
                folded += delta.n
            if kept is not None and rolled is not None:
                spec, from_ms = kept
                for d in sorted({h - h % DAY_MS for h in hours if from_ms <= h < rolled
                                 and (pruned is None or h >= pruned)}):
                    self._redo_sla_hours_day(pid, spec, d, min(d + DAY_MS, rolled))
            self.conn.commit()
            return folded
        except BaseException:
            self.conn.rollback()
            raise

    def _redo_sla_hours_day(self, pid: int, spec: str, day: int, end: int) -> None:
        """Rebuild a UTC day's SLA-hours digest from its raw checks up to `end` (late checks
        came), and give its month the difference (checks are only ever added there)."""
        rows = self.conn.execute(
            "SELECT ts_ms, latency_ms FROM checks WHERE probe_id = ? AND ts_ms >= ? AND"
            " ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL ORDER BY ts_ms",
            (pid, day, end)).fetchall()
        got = _sla_hours_digests(spec, day, end, rows)  # [(3, day, d), (4, month, d)] or []
        new = got[0][2] if got else LatencyDigest()
        row = self.conn.execute("SELECT digest FROM latency_rollups WHERE probe_id = ? AND"
                                " level = 3 AND start_ms = ?", (pid, day)).fetchone()
        old = LatencyDigest.decode(row[0]) if row is not None else LatencyDigest()
        self.conn.execute("DELETE FROM latency_rollups WHERE probe_id = ? AND level = 3"
                          " AND start_ms = ?", (pid, day))
        self._add_digests(pid, [(3, day, new), (4, month_start_ms(day), new.minus(old))])

    def prune(self, before: float, *, batch_days: int = 31) -> int:
        """Delete successful raw checks older than `before`, keeping what reports need.

        1. Segments (runs of equal checks) already hold the timeline: nothing to do.
        2. Failed checks stay: they carry the error kinds of incidents and are few.
        3. Latencies: raw checks are rolled up first (`roll_up(before)`), and only
           rolled-up ones are deleted, up to the UTC day boundary at or before
           `before` (per probe, never past its `rolled_until_ms`). Hour digests
           before that boundary are dropped; day and month digests wholly before it
           keep counts only, so what stays for old time is about 0.1 MB per
           probe-year at 60 s. Reports over pruned time take whole UTC days: a day
           counts whole when some of it is eligible and at least half of it lies
           in the period (SLA hours and maintenance within a day are not applied to
           latencies there), and percentiles come from bucket representatives
           (within 0.5 %).
        Works in batches of up to `batch_days` days per probe, each its own short
        transaction, so the writer is never blocked for long. Returns the number of
        checks deleted.
        """
        before_ms = int(before * 1000)
        horizon = before_ms - before_ms % DAY_MS
        deleted = 0
        try:
            self.roll_up(before)
            with self.conn:
                old = self.pruned_before_ms()
                if old is None or horizon > old:
                    # before deleting, so segments are never rebuilt from half-pruned raw
                    self.conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('pruned_before_ms', ?)",
                        (str(horizon),))
            states = self.conn.execute(
                "SELECT probe_id, rolled_until_ms, pruned_until_ms FROM rollup_state").fetchall()
            for pid, rolled, pruned in states:
                target = _prune_target(before_ms, rolled)
                frm = pruned
                if frm is None:
                    row = self.conn.execute("SELECT min(ts_ms) FROM checks WHERE probe_id = ?"
                                            " AND ok = 1", (pid,)).fetchone()
                    frm = target if row[0] is None else min(target, row[0] - row[0] % DAY_MS)
                if frm >= target and pruned is not None:
                    continue
                lo = -(2 ** 62) if pruned is None else frm
                while True:
                    to = max(frm, min(target, frm + batch_days * DAY_MS))
                    with self.conn:
                        cur = self.conn.execute(
                            "DELETE FROM checks WHERE probe_id = ? AND ts_ms >= ? AND ts_ms < ?"
                            " AND ok = 1", (pid, frm, to))
                        deleted += max(cur.rowcount, 0)
                        self._coarsen(pid, lo, to)
                        self.conn.execute("UPDATE rollup_state SET pruned_until_ms = ?"
                                          " WHERE probe_id = ?", (to, pid))
                    frm = lo = to
                    if frm >= target:
                        break
        except sqlite3.Error as e:
            raise self._abandoned("pruning failed", e) from e
        return deleted

    def _coarsen(self, pid: int, lo: int, to: int) -> None:
        """Digests of time now pruned ([lo, to), and before): hours before `to` dropped;
        days and months (plain and SLA-hours) that end by `to` keep counts only."""
        self.conn.execute("DELETE FROM latency_rollups WHERE probe_id = ? AND level = 0"
                          " AND start_ms < ?", (pid, to))
        rows = self.conn.execute(
            "SELECT level, start_ms, digest FROM latency_rollups WHERE probe_id = ? AND"
            " ((level IN (1, 3) AND start_ms >= ? AND start_ms < ?) OR (level IN (2, 4) AND"
            " start_ms >= ? AND start_ms < ?))",
            (pid, lo - DAY_MS, to, lo - 62 * DAY_MS, to)).fetchall()
        for level, start, blob in rows:
            if _block_end(level, start) > to or not (blob[1] & 1):
                continue
            self.conn.execute(
                "UPDATE latency_rollups SET digest = ? WHERE probe_id = ? AND level = ?"
                " AND start_ms = ?",
                (LatencyDigest.decode(blob).encode(extremes=False), pid, level, start))

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


_MAX_RUNS = 100  # ranges per statement in Store.rollup_blobs (4 parameters each)


def _runs(starts: list[int], step: int) -> list[tuple[int, int]]:
    """`starts` (distinct, in order) as the (first, last) of runs `step` apart."""
    starts = sorted(set(starts))
    out: list[tuple[int, int]] = []
    a = b = starts[0]
    for s in starts[1:]:
        if s != b + step:
            out.append((a, b))
            a = s
        b = s
    out.append((a, b))
    return out


def _split_at_days(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted [a, b) ms ranges cut at UTC day boundaries."""
    out: list[tuple[int, int]] = []
    for a, b in ranges:
        while a < b:
            cut = min(b, a - a % DAY_MS + DAY_MS)
            out.append((a, cut))
            a = cut
    return out


def _sla_hours_digests(spec: str, lo: int, hi: int, rows: list[tuple[int, float]],
                       ) -> list[tuple[int, int, LatencyDigest]]:
    """(level, start, digest) of the rows (ts_ms order) of [lo, hi), a part of one UTC month,
    inside the hours: per UTC day (3) and for the month (4)."""
    by_day: dict[int, list[float]] = {}
    i, n = 0, len(rows)
    for a, b in _split_at_days(hours_ms(spec, lo, hi)):
        while i < n and rows[i][0] < a:
            i += 1
        j = i
        while j < n and rows[j][0] < b:
            j += 1
        if j > i:
            by_day.setdefault(a - a % DAY_MS, []).extend([v for _, v in rows[i:j]])
        i = j
    out = [(3, d, LatencyDigest.of(v)) for d, v in by_day.items()]
    if out:
        out.append((4, month_start_ms(lo), LatencyDigest.of(
            v for vals in by_day.values() for v in vals)))
    return out


def _prune_target(before_ms: int, rolled: int) -> int:
    """Where `Store.prune(before)` ends a probe's pruned time: the UTC day at or before
    `before`, never past its rolled-up days."""
    return min(before_ms - before_ms % DAY_MS, rolled - rolled % DAY_MS)


def _block_end(level: int, start: int) -> int:
    """The end of a day (levels 1 and 3) or month (2 and 4) digest block."""
    return start + DAY_MS if level in (1, 3) else next_month_ms(start)


def _pruned_as_of(rolled: int | None, pruned: int | None, horizon: float | None) -> int | None:
    """Where pruned time ends for a report at the retention `horizon`: where `Store.prune`
    run at that horizon would end it, or where it already ends, whichever is later."""
    if horizon is None or rolled is None:
        return pruned
    target = _prune_target(int(horizon * 1000), rolled)
    return pruned if pruned is not None and pruned >= target else target


class RollupLatency:
    """One probe's latencies for a report, read from rollups and raw checks.

    `digest(intervals)` (the `figures.LatencySource` of a stored probe): the
    intervals are split by `latency_digest.decompose` into whole UTC months,
    days and hours that have digests, and raw ranges (sub-hour edges, time not
    rolled up yet) whose successful checks are read and folded in; pruned time
    is taken by whole days (see `Store.prune`). Blocks and results are cached,
    so a probe and its client reading the same time decode each block once.

    `horizon` (now - [agent] keep_raw): time before it is read as `Store.prune`
    leaves it, whether or not the hourly prune has run yet (days without exact
    extremes, no hours or raw checks). A report then does not move when the
    prune runs, and does not read raw checks that are about to go.
    """

    def __init__(self, store: Store, pid: int | None, period: tuple[float, float], *,
                 known: tuple[tuple[int | None, int | None], list[int]] | None = None,
                 shared: _SharedReads | None = None, hours: tuple[str, int] | None = None,
                 horizon: float | None = None):
        # known: (rollup_marks, dirty_hours) of pid already read; shared: reads shared with
        # other probes of the same eligible time (Store.latency_readers); hours: the
        # (spec, from_ms) of SLA-hours digests kept for pid, when they are the report's
        self.store, self.pid, self.period = store, pid, period
        self.hours = hours
        self.marks: tuple[int | None, int | None] = (None, None)
        self.late: list[int] = []  # dirty hours in pruned time: their raw checks are extra
        self._shared = shared
        if pid is not None and store.has_rollups():
            (rolled, pruned), dirty = known if known is not None else (
                store.rollup_marks(pid), store.dirty_hours(pid))
            if dirty and rolled is not None:
                # not rolled up yet (read-only): digests from the first dirty hour on lack
                # those checks, so that time is read raw; in pruned time the raw checks
                # still there are exactly the ones the digests lack
                self.late = [h for h in dirty if pruned is not None and h < pruned]
                fresh = [h for h in dirty if pruned is None or h >= pruned]
                if fresh:
                    rolled = min(rolled, fresh[0])
            self.marks = (rolled, _pruned_as_of(rolled, pruned, horizon))
        self._blocks: dict[tuple[int, int], LatencyDigest] = {}
        self._cache: dict[tuple[tuple[float, float], ...], LatencyDigest] = {}

    def digest(self, intervals: Iterable[tuple[float, float]], *,
               holes: int = 2) -> LatencyDigest:
        """The digest of the latencies in `intervals`; `holes`: the highest level read as a
        block less a few hours (2 months and days, 1 days, 0 none; see `decompose`)."""
        key = tuple(intervals)
        got = self._cache.get(key) if holes == 2 else None
        if got is not None:
            return got
        if self.pid is None:
            return LatencyDigest()
        if holes == 2 and self.hours is not None:
            got = self._with_sla_hours(key)
            if got is not None:
                self._cache[key] = got
                return got
        return self._plain(key, holes)

    def _with_sla_hours(self, key: tuple[tuple[float, float], ...]) -> LatencyDigest | None:
        """`digest(key)` from SLA-hours digests (levels 3 and 4) where they hold the eligible
        time but for a few hours (maintenance inside the hours), the rest the plain way;
        None when they cannot serve (time not inside the hours, late checks in pruned time).

        A UTC month (else day) in rolled-up time since `from_ms` is read as its SLA-hours
        digest less the hours' parts that are not eligible: each hour touching them is
        taken away (its digest when wholly inside the hours, else its raw checks there)
        and its eligible part read raw, as `decompose` does for plain blocks; extremes the
        subtraction cannot tell come from the plain path. In pruned time (no hour digests
        or raw checks left) only blocks with nothing to take away are read: counts only,
        but of exactly the SLA hours, where the plain path takes whole days."""
        assert self.hours is not None and self.pid is not None
        spec, from_ms = self.hours
        rolled, pruned = self.marks
        if rolled is None or self.late:
            return None
        eligible = tuple((a, b) for a, b in ((_first_ms(s), _first_ms(e)) for s, e in key)
                         if a < b)
        if not eligible:
            return None
        # the hours over whole UTC months around the eligible time: blocks are whole
        inside = hours_ms(spec, month_start_ms(eligible[0][0]),
                          next_month_ms(month_start_ms(eligible[-1][1] - 1)))
        if subtract(eligible, inside):  # not a part of the hours: nothing to gain here
            return None
        first = from_ms
        parts: list[LatencyDigest] = []
        raw: list[tuple[int, int]] = []
        used: list[tuple[int, int]] = []
        m = month_start_ms(max(eligible[0][0], first))
        while m < eligible[-1][1]:
            m1 = next_month_ms(m)
            got = self._block_less_hours(4, m, m1, eligible, inside, MONTH_HOLES) \
                if m >= first and m1 <= rolled else None
            if got is None:
                for d in range(max(m, first), min(m1, rolled - rolled % DAY_MS), DAY_MS):
                    if d + DAY_MS <= eligible[0][0]:
                        continue
                    one = self._block_less_hours(3, d, d + DAY_MS, eligible, inside, DAY_HOLES)
                    if one is not None:
                        parts.append(one[0])
                        raw += one[1]
                        used.append((d, d + DAY_MS))
            else:
                parts.append(got[0])
                raw += got[1]
                used.append((m, m1))
            m = m1
        if not used:
            return None
        rest = tuple((a / 1000, b / 1000) for a, b in subtract(eligible, normalize(used)))
        if rest:
            parts.append(self._plain(rest, 2))
        if raw:
            shared = self._shared
            ranges = tuple((int(a), int(b)) for a, b in normalize(raw))
            values = shared.raw(self.pid, ranges) if shared is not None \
                else self.store.raw_latencies_in(self.pid, list(ranges))
            if values:
                parts.append(LatencyDigest.of(values))
        return LatencyDigest.merged(parts)

    def _block_less_hours(self, level: int, b0: int, b1: int, eligible: Intervals,
                          inside: Intervals, limit: int,
                          ) -> tuple[LatencyDigest, list[tuple[int, int]]] | None:
        """The SLA-hours block [b0, b1) of `level` less its hours' parts that are not
        eligible, and the raw ranges to add back; None when eligible time misses it or
        more than `limit` hours would be taken away."""
        el = clip(eligible, b0, b1)
        if not el:
            return None
        gaps = subtract(clip(inside, b0, b1), el)
        hours: list[int] = []
        for g0, g1 in gaps:
            h = int(g0) - int(g0) % HOUR_MS
            while h < g1:
                if not hours or hours[-1] != h:
                    hours.append(h)
                h += HOUR_MS
            if len(hours) > limit:
                return None
        if hours and self.marks[1] is not None and b0 < self.marks[1]:
            return None  # pruned: no hour digests or raw checks left to take away or add back
        self._load(level, [b0])
        block = self._blocks[(level, b0)]
        if not hours:
            return block, []
        whole = [h for h in hours if clip(inside, h, h + HOUR_MS) == ((h, h + HOUR_MS),)]
        self._load(0, whole)
        holes = [self._blocks[(0, h)] for h in whole]
        part_hours = [r for h in hours if h not in whole for r in clip(inside, h, h + HOUR_MS)]
        if part_hours:
            holes.append(LatencyDigest.of(self.store.raw_latencies_in(self.pid, part_hours)))  # type: ignore[arg-type]
        back = [(int(a), int(b)) for h in hours for a, b in clip(el, h, h + HOUR_MS)]
        fine = tuple((a / 1000, b / 1000) for a, b in el)
        return LatencyDigest.holed(block, holes, lambda: self._plain(fine, 2)), back

    def _plain(self, key: tuple[tuple[float, float], ...], holes: int) -> LatencyDigest:
        """`digest(key)` from hour, day and month digests and raw checks (see `decompose`)."""
        assert self.pid is not None
        pid, store = self.pid, self.store
        blocks = decompose_shared(key, self.marks[0], self.marks[1], self.period, holes=holes)
        parts: list[LatencyDigest] = []
        cache = self._blocks
        hours_cached = [h for h in blocks.hours if (0, h) in cache]
        hours_new = [h for h in blocks.hours if (0, h) not in cache] \
            if len(hours_cached) < len(blocks.hours) else []
        by_level: dict[int, list[int]] = {2: list(blocks.months), 1: list(blocks.days), 0: []}
        for level, start, hours, _ in blocks.holed:
            by_level[level].append(start)
            by_level[0].extend(hours)
        for level, starts in by_level.items():
            self._load(level, starts)
        for level in (2, 1, 0):
            parts.extend(cache[(level, s)] for s in (
                blocks.months if level == 2 else blocks.days if level == 1 else hours_cached))
        if hours_new:  # many hours (SLA hours): counts merged at once, extremes read lazily
            parts.append(LatencyDigest.decode_merged(
                blob for _, blob in store.rollup_blobs(pid, 0, hours_new)))
        for level, start, hours, inside in blocks.holed:
            ranges = tuple((a / 1000, b / 1000) for a, b in inside)
            parts.append(LatencyDigest.holed(
                cache[(level, start)], [cache[(0, h)] for h in hours],
                lambda ranges=ranges, lvl=level, b0=start, hs=tuple(hours):  # type: ignore[misc, arg-type]
                _BlockLess(self, lvl, b0, hs,
                           lambda: self.digest(ranges, holes=lvl - 1))))
        values: list[float] = []
        raw = list(blocks.raw)
        for h in self.late:
            raw += [(max(lo, h), min(hi, h + HOUR_MS)) for lo, hi in (
                (_first_ms(a), _first_ms(b)) for a, b in key) if lo < h + HOUR_MS and hi > h]
        if raw:
            shared = self._shared
            values = shared.raw(pid, tuple(raw)) if shared is not None and not self.late \
                else store.raw_latencies_in(pid, raw)
        if values:
            parts.append(LatencyDigest.of(values))
        got = LatencyDigest.merged(parts)
        if holes == 2:
            self._cache[key] = got
        return got

    def _load(self, level: int, starts: list[int]) -> None:
        """Decode the blocks of `level` at `starts` not decoded yet (missing: empty)."""
        cache = self._blocks
        need = sorted({s for s in starts if (level, s) not in cache})
        if not need:
            return
        shared = self._shared
        if self.pid is None:  # a probe without checks has no blocks
            return
        rows = shared.blobs(self.pid, level, need) if shared is not None \
            and len(need) <= _SharedReads.MAX_BLOCKS else \
            self.store.rollup_blobs(self.pid, level, need)
        pruned = self.marks[1]
        for start, blob in rows:
            # a day or month that ends in pruned time keeps counts only (`Store._coarsen`)
            cache[(level, start)] = LatencyDigest.decode(
                blob, exact=level == 0 or pruned is None or _block_end(level, start) > pruned)
        for s in need:
            if (level, s) not in cache:
                cache[(level, s)] = LatencyDigest()


class _SharedReads:
    """Reads that the probes of one group (the same eligible time, so mostly the same
    blocks and raw ranges) share: the first probe asking for a few blocks, or for raw
    ranges, reads them for every probe of the group in one statement."""

    MAX_BLOCKS = 8  # more (e.g. a month of days) are read per probe: few probes need them

    def __init__(self, store: Store, pids: list[int]):
        self.store, self.pids = store, sorted(set(pids))
        self._blobs: dict[tuple[int, int, int], bytes] = {}
        self._read: set[tuple[int, int]] = set()  # (level, start) read for every pid
        self._raw: dict[tuple[tuple[int, int], ...], dict[int, list[float]]] = {}

    def blobs(self, pid: int, level: int, starts: list[int]) -> list[tuple[int, bytes]]:
        """`Store.rollup_blobs(pid, level, starts)`, from the group's reads."""
        if pid not in self.pids:
            return self.store.rollup_blobs(pid, level, starts)
        new = [s for s in starts if (level, s) not in self._read]
        if new:
            for i in range(0, len(self.pids), 500):
                chunk = self.pids[i:i + 500]
                rows = self.store.conn.execute(
                    "SELECT probe_id, start_ms, digest FROM latency_rollups WHERE probe_id IN"
                    f" ({','.join('?' * len(chunk))}) AND level = ? AND start_ms IN"
                    f" ({','.join('?' * len(new))})", (*chunk, level, *new))
                for p, s, blob in rows:
                    self._blobs[(p, level, s)] = blob
            self._read.update((level, s) for s in new)
        got = self._blobs
        return [(s, got[(pid, level, s)]) for s in starts if (pid, level, s) in got]

    def raw(self, pid: int, ranges: tuple[tuple[int, int], ...]) -> list[float]:
        """`Store.raw_latencies_in(pid, ranges)` (as a multiset), from the group's reads."""
        if pid not in self.pids or len(ranges) > 16:
            return self.store.raw_latencies_in(pid, list(ranges))
        by_pid = self._raw.get(ranges)
        if by_pid is None:
            by_pid = self._raw[ranges] = {}
            one = ("SELECT probe_id, latency_ms FROM checks WHERE probe_id IN ({}) AND ts_ms >= ?"
                   " AND ts_ms < ? AND ok = 1 AND latency_ms IS NOT NULL")
            for i in range(0, len(self.pids), 300):
                chunk = self.pids[i:i + 300]
                q = one.format(",".join("?" * len(chunk)))
                args: list[int] = []
                for lo, hi in ranges:
                    args += (*chunk, lo, hi)
                for p, v in self.store.conn.execute(" UNION ALL ".join([q] * len(ranges)), args):
                    got = by_pid.get(p)
                    if got is None:
                        got = by_pid[p] = []
                    got.append(v)
        return by_pid.get(pid, [])


_INF = float("inf")


def _has(d: LatencyDigest, key: int) -> bool:
    i = key - d.base
    return 0 <= i < len(d.counts) and bool(d.counts[i])


def _extremes_of(digests: Iterable[LatencyDigest], key: int,
                 ) -> tuple[float, float] | None | Literal[False]:
    """(min, max) of bucket `key` over the digests that hold it; False when none does, None
    when one cannot tell (coarse)."""
    lo, hi, found = _INF, -_INF, False
    for d in digests:
        if not _has(d, key):
            continue
        x = d.extremes(key)
        if x is None:
            return None
        found = True
        lo = min(lo, x[0])
        hi = max(hi, x[1])
    return (lo, hi) if found else False


class _BlockLess:
    """The exact extremes of a rolled-up UTC month (level 2) or day (level 1) less some whole
    hours inside it, bucket by bucket, from the day and hour digests (no raw checks read):
    what `LatencyDigest.holed` asks when a taken-away hour may hold the block's min or max.
    Anything it cannot tell (a coarse digest, counts that disagree) is answered by
    `fallback()`, the exact digest of the eligible part built another way."""

    __slots__ = ("_fallback", "fallback", "holes", "level", "reader", "start")

    def __init__(self, reader: RollupLatency, level: int, start: int, holes: tuple[int, ...],
                 fallback: Callable[[], LatencyDigest]):
        self.reader, self.level, self.start, self.holes = reader, level, start, holes
        self.fallback = fallback
        self._fallback: LatencyDigest | None = None

    def extremes(self, key: int) -> tuple[float, float] | None:
        got = self._less(key)
        if got is not None:
            return got
        if self._fallback is None:
            self._fallback = self.fallback()
        return self._fallback.extremes(key)

    def extremes_knowing(self, key: int, lo: float | None,
                         hi: float | None) -> tuple[float, float] | None:
        """`extremes(key)`, told a side already known exactly (the block's, when no hole can
        hold it): only the other side is looked for, so days and hours that cannot change
        it are not read."""
        got = self._less(key, lo is None, hi is None)
        if got is not None:
            return (got[0] if lo is None else lo, got[1] if hi is None else hi)
        if self._fallback is None:
            self._fallback = self.fallback()
        return self._fallback.extremes(key)

    def _less(self, key: int, want_lo: bool = True,
              want_hi: bool = True) -> tuple[float, float] | None:
        """The extremes of bucket `key` left (a side not wanted: a bound only), or None."""
        r = self.reader
        if self.level == 1:
            return _day_less(r, self.start, self.holes, key, want_lo, want_hi) or None
        end = next_month_ms(self.start)
        days = list(range(self.start, end, DAY_MS))
        r._load(1, days)
        by_day: dict[int, list[int]] = {}
        for h in self.holes:
            by_day.setdefault(h - h % DAY_MS, []).append(h)
        whole = _extremes_of((r._blocks[(1, d)] for d in days if d not in by_day), key)
        if whole is None:
            return None
        lo, hi, found = (whole[0], whole[1], True) if whole else (_INF, -_INF, False)
        holed: list[tuple[int, tuple[float, float]]] = []
        for d in days:
            day = r._blocks[(1, d)]
            if d not in by_day or not _has(day, key):
                continue
            e = day.extremes(key)
            if e is None:
                return None
            holed.append((d, e))
        # days with holes last: what is left of one lies within its day's extremes, so
        # a day that cannot lower the min (raise the max) found so far is not looked into
        for d, e in holed:
            need_lo = want_lo and e[0] < lo
            need_hi = want_hi and e[1] > hi
            if not (need_lo or need_hi):
                continue
            x = _day_less(r, d, tuple(by_day[d]), key, need_lo, need_hi)
            if x is None:
                return None
            if x is False:
                continue
            found = True
            if need_lo:
                lo = min(lo, x[0])
            if need_hi:
                hi = max(hi, x[1])
        return (lo, hi) if found else None


def _day_less(r: RollupLatency, day: int, holes: tuple[int, ...], key: int,
              want_lo: bool = True, want_hi: bool = True,
              ) -> tuple[float, float] | None | Literal[False]:
    """Extremes of bucket `key` in UTC `day` less the hours `holes`: (min, max), False when
    no value is left there, None when unknown. A side not wanted may be the day's (a bound)."""
    r._load(1, [day])
    d = r._blocks[(1, day)]
    if not _has(d, key):
        return False
    e = d.extremes(key)
    if e is None:
        return None
    r._load(0, list(holes))
    lo, hi = e
    lo_ok = hi_ok = True
    for h in holes:
        hd = r._blocks[(0, h)]
        if not _has(hd, key):
            continue
        x = hd.extremes(key)
        if x is None:
            return None
        if x[0] <= lo:
            lo_ok = False
        if x[1] >= hi:
            hi_ok = False
    if (lo_ok or not want_lo) and (hi_ok or not want_hi):
        return e
    taken = set(holes)
    rest = [h for h in range(day, day + DAY_MS, HOUR_MS) if h not in taken]
    r._load(0, rest)
    return _extremes_of((r._blocks[(0, h)] for h in rest), key)
