"""The SQLite store: schema, idempotent batched writes, ordered range reads, status state."""

from __future__ import annotations

import sqlite3

import pytest

from slaprobe.checks import Check
from slaprobe.errors import StoreError
from slaprobe.store import Store


def _c(probe: str, ts: float, ok: bool = True, agent: str = "a1", **kw) -> Check:
    return Check(probe, ts, ok, kw.pop("latency_ms", 1.5 if ok else None),
                 kw.pop("error", None if ok else "timeout: no answer"), 30.0, agent, **kw)


def test_inserting_the_same_checks_twice_stores_them_once(tmp_path):
    with Store(tmp_path / "s.db") as s:
        checks = [_c("web", 1000.0 + 30 * i) for i in range(10)]
        assert s.insert_checks(checks) == 10
        assert s.insert_checks(checks) == 0
        assert s.count_checks() == 10


def test_checks_come_back_in_time_order_within_the_range(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([_c("web", t) for t in (1090.0, 1000.0, 1060.0, 1030.0)])
        s.insert_checks([_c("db", 1000.0)])
        got = s.checks("web", 1030.0, 1090.0)
        assert [c.ts for c in got] == [1030.0, 1060.0]
        assert all(c.probe == "web" for c in got)


def test_checks_before_returns_the_last_n_in_time_order(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([_c("web", 1000.0 + 30 * i) for i in range(10)])
        assert [c.ts for c in s.checks_before("web", 1150.0, 3)] == [1060.0, 1090.0, 1120.0]


def test_same_instant_from_two_agents_is_two_checks(tmp_path):
    with Store(tmp_path / "s.db") as s:
        assert s.insert_checks([_c("web", 1000.0, agent="fra"), _c("web", 1000.0, agent="ams")]) == 2
        assert sorted(c.agent for c in s.checks("web")) == ["ams", "fra"]


def test_a_check_round_trips_every_field(tmp_path):
    c = Check("web", 1700000000.123, False, None, "status: got 503", 15.0, "fra1", 42.5)
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([c])
        assert s.checks("web") == [c]


def test_state_tracks_the_current_run_and_ignores_late_older_checks(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([_c("web", 1000.0), _c("web", 1030.0, ok=False)])
        s.insert_checks([_c("web", 1060.0, ok=False)])
        st = s.states()["web"]
        assert (st.ok, st.since, st.fails, st.last_ts) == (False, 1030.0, 2, 1060.0)
        s.insert_checks([_c("web", 900.0)])  # an import of old history
        assert s.states()["web"].last_ts == 1060.0


def test_database_is_in_wal_mode_so_readers_do_not_block_the_writer(tmp_path):
    with Store(tmp_path / "s.db") as s:
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s.insert_checks([_c("web", 1000.0)])
        with Store(tmp_path / "s.db", readonly=True) as r:
            r.conn.execute("BEGIN")
            assert len(r.checks("web")) == 1
            s.insert_checks([_c("web", 1030.0)])  # a reader holds a snapshot; writing goes on
            r.conn.execute("COMMIT")
            assert len(r.checks("web")) == 2


def test_reopening_applies_no_migration_twice(tmp_path):
    Store(tmp_path / "s.db").close()
    with Store(tmp_path / "s.db") as s:
        names = [r[0] for r in s.conn.execute("SELECT name FROM _sqlite_migrations")]
        assert names == sorted(set(names), key=names.index)


def test_readonly_store_of_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no database here yet"):
        Store(tmp_path / "missing.db", readonly=True)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(bad)


def test_write_to_a_read_only_database_raises_store_error(tmp_path):
    Store(tmp_path / "s.db").close()
    with Store(tmp_path / "s.db", readonly=True) as r:
        with pytest.raises((StoreError, sqlite3.OperationalError)):
            r.insert_checks([_c("web", 1.0)])


def _segments(s: Store, probe: str = "web"):
    return [(sp.first, sp.last, sp.ok, sp.n, sp.agent) for sp in s.spans(probe)]


def test_segments_join_equal_checks_and_split_at_changes_and_gaps(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([_c("web", t) for t in (0.0, 30.0, 60.0)])
        s.insert_checks([_c("web", 90.0, ok=False), _c("web", 120.0, ok=False)])
        s.insert_checks([_c("web", 150.0), _c("web", 180.0)])
        s.insert_checks([_c("web", 240.0)])  # a gap of exactly 2 x interval still joins
        s.insert_checks([_c("web", 400.0)])  # a longer gap splits: unknown lies between
        assert _segments(s) == [
            (0.0, 60.0, True, 3, "a1"), (90.0, 120.0, False, 2, "a1"),
            (150.0, 240.0, True, 3, "a1"), (400.0, 400.0, True, 1, "a1"),
        ]


def test_segments_are_rebuilt_when_older_checks_arrive_later(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([_c("web", t) for t in (0.0, 30.0, 120.0, 150.0)])
        s.insert_checks([_c("web", 60.0, ok=False), _c("web", 90.0)])  # fills the gap
        assert _segments(s) == [(0.0, 30.0, True, 2, "a1"), (60.0, 60.0, False, 1, "a1"),
                                (90.0, 150.0, True, 3, "a1")]


def test_each_agent_has_its_own_segments(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.insert_checks([_c("web", t, agent="fra") for t in (0.0, 30.0)] +
                        [_c("web", t + 1, ok=False, agent="ams") for t in (0.0, 30.0)])
        assert _segments(s) == [(0.0, 30.0, True, 2, "fra"), (1.0, 31.0, False, 2, "ams")]


def test_segments_equal_raw_checks_for_a_random_history(tmp_path):
    import random

    from slaprobe.spans import Span

    rnd = random.Random(7)
    checks, t = [], 0.0
    for _ in range(500):
        t += rnd.choice([30.0, 30.0, 30.0, 61.0, 200.0])
        checks.append(_c("web", t, ok=rnd.random() > 0.2))
    with Store(tmp_path / "s.db") as s:
        shuffled = checks[:]
        rnd.shuffle(shuffled)
        for i in range(0, 500, 50):
            s.insert_checks(shuffled[i:i + 50])
        expanded = []
        for sp in s.spans("web"):
            expanded.append(sp.n)
        assert sum(expanded) == 500
        # re-deriving segments from the raw checks in order gives the same rows
        with Store(tmp_path / "t.db") as t2:
            t2.insert_checks(checks)
            assert t2.spans("web") == s.spans("web")
            assert all(isinstance(x, Span) for x in t2.spans("web"))


@pytest.mark.parametrize("pick", ["office", "scattered", "one_run", "duplicates"])
def test_rollup_blobs_reads_runs_of_hours_as_range_scans(tmp_path, pick):
    """Hour digests asked by runs (office hours: a few runs of several hours) are read with
    one range scan per run, in one statement; any set of starts (gaps, duplicates) gives
    exactly the rows stored for them, once each."""
    import random

    from slaprobe.latency_digest import HOUR_MS
    t0 = 1790812800  # 2026-10-01T00:00Z
    with Store(tmp_path / "s.db") as store:
        store.insert_checks([_c("web", t0 + 60 * i, latency_ms=10.0 + i % 7)
                             for i in range(60 * 24 * 6)])
        store.roll_up(t0 + 7 * 86400)
        pid = store.probe_id("web")
        t0ms = t0 * 1000
        if pick == "office":
            starts = [t0ms + d * 86400000 + h * HOUR_MS for d in range(5) for h in range(8, 18)]
        elif pick == "scattered":
            starts = sorted(random.Random(1).sample(range(t0ms, t0ms + 200 * HOUR_MS, HOUR_MS),
                                                    40))
        elif pick == "one_run":
            starts = list(range(t0ms, t0ms + 30 * HOUR_MS, HOUR_MS))
        else:
            starts = [t0ms + h * HOUR_MS for h in (1, 2, 2, 3, 9, 10, 10, 11, 12, 40, 41)]
        starts.append(t0ms + 400 * HOUR_MS)  # no row
        seen: list[str] = []
        store.conn.set_trace_callback(seen.append)
        got = store.rollup_blobs(pid, 0, starts)
        store.conn.set_trace_callback(None)
        want = store.conn.execute(
            "SELECT start_ms, digest FROM latency_rollups WHERE probe_id = ? AND level = 0",
            (pid,)).fetchall()
        assert sorted(got) == sorted(r for r in want if r[0] in set(starts))
        assert len(got) == len({s for s in starts if s < t0ms + 144 * HOUR_MS})
        assert len(seen) == 1
        if pick == "office":
            assert seen[0].count("UNION ALL") == 5 and " IN (" not in seen[0]


def test_the_newest_migration_is_the_one_a_store_checks_before_skipping_them(tmp_path):
    """A writable Store imports sqlite-utils' migrations only when the newest one is not
    recorded: that name must be the last migration schema.py registers."""
    from slaprobe import schema, store

    assert schema.migrations._migrations[-1].name == store.LATEST_MIGRATION
    assert len(schema.migrations._migrations) == store.MIGRATIONS
    with Store(tmp_path / "s.db"):
        pass
    conn = sqlite3.connect(tmp_path / "s.db")
    assert store._schema_is_current(conn)
    # an older migration missing (the newest recorded): still not current
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm010_sla_hours_rollups'")
    conn.execute("DROP TABLE rollup_hours")
    conn.commit()
    assert not store._schema_is_current(conn)
    conn.close()
    with Store(tmp_path / "s.db") as s:  # migrated again
        assert s.sla_hours() == {}
        assert s._has_table("rollup_hours")
