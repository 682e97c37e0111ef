"""The SQLite schema: sqlite-utils' versioned migrations (table `_sqlite_migrations`).

Imported only by a writable `store.Store` (read-only commands such as `report` and
`status` never migrate, so they skip importing sqlite-utils). The tables are described
in `store`'s docstring and the README.

Usage: ``apply_migrations(conn)``
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .checks import error_kind
from .latency_digest import _HEAD, DAY_MS, VERSION, LatencyDigest, bucket_of, month_start_ms
from .store import legacy_bucket_value


def apply_migrations(conn: sqlite3.Connection) -> None:
    """Bring the database on `conn` to the newest schema (each migration once, in order)."""
    migrations.apply(Database(conn))


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


@migrations()
def m009_latency_rollups(db: Database) -> None:
    """Latency digests per probe and UTC hour, day and month, replacing latency_hist.

    latency_rollups(probe_id, level, start_ms, digest): level 0 hour, 1 day, 2
    month; `digest` a `latency_digest.LatencyDigest` BLOB of the latencies of
    every agent's successful checks in [start, start + length). rollup_state:
    per probe, raw checks before `rolled_until_ms` are in the digests (completed
    hours only), and before `pruned_until_ms` (a UTC day boundary) raw successful
    checks and hour digests are gone, day and month digests keep counts only.
    rollup_dirty: hours that got checks after they were rolled up (imports, late
    shipping), filled by `Store.insert_checks` in the same transaction as the
    checks, emptied by `Store.roll_up`.

    latency_hist (0.5 % buckets per hour, only for pruned time) becomes day and
    month digests (counts only), and the probes it held start with both marks at
    the UTC day of the old pruning horizon.
    """
    db.execute(
        """CREATE TABLE latency_rollups (
            probe_id INTEGER NOT NULL,
            level INTEGER NOT NULL,
            start_ms INTEGER NOT NULL,
            digest BLOB NOT NULL,
            PRIMARY KEY (probe_id, level, start_ms)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE rollup_state (
            probe_id INTEGER PRIMARY KEY,
            rolled_until_ms INTEGER NOT NULL,
            pruned_until_ms INTEGER
        )"""
    )
    db.execute(
        """CREATE TABLE rollup_dirty (
            probe_id INTEGER NOT NULL,
            hour_ms INTEGER NOT NULL,
            PRIMARY KEY (probe_id, hour_ms)
        ) WITHOUT ROWID"""
    )
    _migrate_latency_hist(db.conn)
    db.execute("DROP TABLE latency_hist")


@migrations()
def m010_sla_hours_rollups(db: Database) -> None:
    """Latency digests of the time inside a probe's SLA hours.

    latency_rollups gets levels 3 (UTC day) and 4 (UTC month): the digest of the
    latencies of the successful checks inside the probe's SLA hours there, so a
    report under office hours merges one BLOB per month instead of ~220 hour
    digests. rollup_hours(probe_id, spec, from_ms): the hours they follow
    (`hours.hours_spec`, set by `Store.set_sla_hours` from the configuration) and
    the UTC day boundary from which they are complete.
    """
    db.execute(
        """CREATE TABLE rollup_hours (
            probe_id INTEGER PRIMARY KEY,
            spec TEXT NOT NULL,
            from_ms INTEGER NOT NULL
        )"""
    )


@migrations()
def m011_failed_checks_covering_index(db: Database) -> None:
    """The failed checks' partial index also holds what reports read of them (agent,
    interval, error, and ok, which SQLite needs to see it as covering), so reading a
    year's failed checks never visits the table."""
    db.execute("DROP INDEX IF EXISTS checks_failed")
    db.execute("CREATE INDEX checks_failed ON checks (probe_id, ts_ms, agent_id, interval_ms,"
               " error, ok) WHERE ok = 0")


@migrations()
def m012_segment_kinds(db: Database) -> None:
    """Failed segments carry their error kind (`kind`), split where it changes, so a report
    takes incidents' error kinds from segments instead of reading every failed check.
    Older failed segments are split by the kinds of their raw failed checks (never
    pruned); one whose checks are missing keeps "error", as reports read it before."""
    conn = db.conn
    conn.execute("ALTER TABLE segments ADD COLUMN kind TEXT")
    failed = conn.execute("SELECT probe_id, agent_id, first_ms, last_ms, n, interval_ms"
                          " FROM segments WHERE ok = 0").fetchall()
    for pid, aid, first, last, n, interval in failed:
        runs: list[list] = []  # type: ignore[type-arg]  # [first, last, n, interval, kind]
        for ts, iv, err in conn.execute(
                "SELECT ts_ms, interval_ms, error FROM checks WHERE probe_id = ? AND agent_id = ?"
                " AND ts_ms >= ? AND ts_ms <= ? AND ok = 0 ORDER BY ts_ms",
                (pid, aid, first, last)):
            kind = error_kind(err)
            if runs and runs[-1][4] == kind:
                runs[-1][1:4] = [ts, runs[-1][2] + 1, iv]
            else:
                runs.append([ts, ts, 1, iv, kind])
        if len(runs) <= 1:
            conn.execute("UPDATE segments SET kind = ? WHERE probe_id = ? AND first_ms = ?"
                         " AND agent_id = ?", (runs[0][4] if runs else "error", pid, first, aid))
            continue
        # the segment's bounds and count stay whole (its timeline is unchanged)
        runs[0][0], runs[-1][1] = first, last
        runs[-1][2] += n - sum(r[2] for r in runs)
        runs[-1][3] = interval
        conn.execute("DELETE FROM segments WHERE probe_id = ? AND first_ms = ? AND agent_id = ?",
                     (pid, first, aid))
        conn.executemany("INSERT INTO segments (probe_id, agent_id, first_ms, last_ms, ok, n,"
                         " interval_ms, kind) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                         [(pid, aid, *r) for r in runs])


def _migrate_latency_hist(conn: sqlite3.Connection) -> None:
    """latency_hist -> counts-only day and month digests (each old bucket at its middle value)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'pruned_before_ms'").fetchone()
    if row is None:
        return
    horizon = int(row[0])
    horizon -= horizon % DAY_MS
    days: dict[tuple[int, int], dict[int, int]] = {}
    for pid, day, bucket, count in conn.execute(
            "SELECT probe_id, hour_ms - hour_ms % 86400000, bucket, sum(count) FROM latency_hist"
            " GROUP BY 1, 2, 3"):
        key = bucket_of(legacy_bucket_value(bucket))
        acc = days.setdefault((pid, day), {})
        acc[key] = acc.get(key, 0) + count
    months: dict[tuple[int, int], list[LatencyDigest]] = {}
    for (pid, day), counts in days.items():
        d = _coarse(counts)
        conn.execute("INSERT OR REPLACE INTO latency_rollups VALUES (?, 1, ?, ?)",
                     (pid, day, d.encode(extremes=False)))
        months.setdefault((pid, month_start_ms(day)), []).append(d)
    for (pid, month), ds in months.items():
        conn.execute("INSERT OR REPLACE INTO latency_rollups VALUES (?, 2, ?, ?)",
                     (pid, month, LatencyDigest.merged(ds).encode(extremes=False)))
    for (pid,) in conn.execute("SELECT DISTINCT probe_id FROM latency_hist").fetchall():
        conn.execute("INSERT OR REPLACE INTO rollup_state VALUES (?, ?, ?)",
                     (pid, horizon, horizon))


def _coarse(counts: dict[int, int]) -> LatencyDigest:
    """A counts-only digest of {bucket key: count}."""
    base = min(counts)
    dense = [0] * (max(counts) - base + 1)
    for k, c in counts.items():
        dense[k - base] += c
    return LatencyDigest.decode(_HEAD.pack(VERSION, 2 if max(dense) > 0xFFFF else 0, base,
                                           len(dense)) + LatencyDigest._pack_counts(dense))
