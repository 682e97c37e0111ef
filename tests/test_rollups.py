"""Latency rollups in SQLite: the same figures as raw checks, incremental, late checks never
missed, retention keeps counts only, old databases still report."""

from __future__ import annotations

import random
import sqlite3

import pytest

from slaprobe.availability import build_report, report_to_dict
from slaprobe.checks import Check
from slaprobe.config import parse_config
from slaprobe.latency_digest import DAY_MS, HOUR_MS, LatencyDigest
from slaprobe.store import Store

CONFIG = """
[agent]
name = "a1"
timezone = "{zone}"
interval = "60s"

[sla.gold]
objective = 99.9
latency = {{ threshold = "20ms", objective = 90.0 }}

[sla.office]
objective = 99.5
hours = "Mon-Fri 09:00-17:00"
timezone = "Asia/Kolkata"

[clients.acme]
name = "ACME"
sla = "gold"

[clients.ofc]
name = "Office"
sla = "office"

[[probes]]
id = "web"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[probes]]
id = "api"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 2

[[probes]]
id = "desk"
client = "ofc"
kind = "tcp"
host = "127.0.0.1"
port = 3

[[maintenance]]
id = "m"
probes = ["web"]
start = "2026-10-11T02:00:00Z"
end = "2026-10-11T02:30:00Z"
"""

START = 1790812800.0  # 2026-10-01T00:00Z
END = 1793491200.0  # 2026-11-01T00:00Z
NOW = END + 5 * 86400
LATENCY_KEYS = ("latency_ms", "latency_objective", "apdex")


class RawOnly:
    """The store seen only through its raw-check reads (digests folded from raw values)."""

    def __init__(self, store: Store):
        self._s = store

    def checks(self, probe, start=None, end=None):
        return self._s.checks(probe, start, end)

    def checks_before(self, probe, ts, n):
        return self._s.checks_before(probe, ts, n)


def history(seed: int, start: float, end: float, agents=("a1",), step=300.0) -> list[Check]:
    rnd = random.Random(seed)
    out = []
    for probe in ("web", "api", "desk"):
        for agent in agents:
            t = start + rnd.random() * 60
            while t < end:
                ok = rnd.random() > 0.01
                lat = round(rnd.lognormvariate(2.5, 0.5), 3) if ok else None
                out.append(Check(probe, round(t, 3), ok, lat, None if ok else "timeout: x",
                                 step, agent))
                t += step
    return out


def latency_parts(report: dict) -> list:
    return [{k: e[k] for k in LATENCY_KEYS} for e in report["probes"] + report["clients"]]


def report(config, store, start=START, end=END, now=NOW) -> dict:
    return report_to_dict(build_report(config, store, start, end, now))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
def test_rollups_give_the_figures_of_raw_checks(tmp_path, zone):
    config = parse_config(CONFIG.format(zone=zone), tmp_path / "probes.toml")
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(history(1, START - 86400, END + 86400))
        assert store.roll_up(NOW) > 0
        rolled = report(config, store)
        raw = report(config, RawOnly(store))
    assert latency_parts(rolled) == latency_parts(raw)
    assert rolled["probes"][0]["latency_ms"]["p50"] is not None


def test_late_checks_mark_their_hour_and_are_folded_in(tmp_path):
    config = parse_config(CONFIG.format(zone="UTC"), tmp_path / "probes.toml")
    checks = history(2, START, END, agents=("a1", "a2"))
    late = [c for c in checks if c.agent == "a2"]
    with Store(tmp_path / "s.db") as store:
        store.insert_checks([c for c in checks if c.agent == "a1"])
        store.roll_up(NOW)
        assert store.conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
        store.insert_checks(late)  # another agent's history arrives after the roll-up
        dirty = store.conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0]
        assert dirty > 100
        # a read-only report before the next roll-up must not miss them either...
        with Store(tmp_path / "s.db", readonly=True) as ro:
            before = report(config, ro)
        # ...and a writable one rolls them up first
        after = report(config, store)
        assert store.conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
        raw = report(config, RawOnly(store))
        month = LatencyDigest.decode(store.conn.execute(
            "SELECT digest FROM latency_rollups WHERE level = 2 AND start_ms = ?"
            " AND probe_id = ?", (int(START * 1000), store.probe_id("web"))).fetchone()[0])
        ok = sum(1 for c in checks if c.probe == "web" and c.ok)
    assert month.n == ok
    assert latency_parts(after) == latency_parts(raw)
    # read-only, before the roll-up: time from the first dirty hour is read raw
    assert latency_parts(before) == latency_parts(raw)


def test_roll_up_is_incremental_and_idempotent(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(history(3, START, START + 86400))
        first = store.roll_up(START + 86400)
        assert first > 0
        assert store.roll_up(START + 86400) == 0
        n_hours = store.conn.execute(
            "SELECT count(*) FROM latency_rollups WHERE level = 0").fetchone()[0]
        assert n_hours == 3 * 24
        store.insert_checks(history(4, START + 86400, START + 86400 + 7200))
        assert 0 < store.roll_up(START + 86400 + 3600 + 59) < first
        rolled, _ = store.rollup_marks(store.probe_id("web"))
        assert rolled == int(START * 1000) + DAY_MS + HOUR_MS  # completed hours only


def test_prune_keeps_counts_only_and_reports_stay_close(tmp_path):
    config = parse_config(CONFIG.format(zone="UTC"), tmp_path / "probes.toml")
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(history(5, START, END + 86400, step=60.0))
        before = report(config, store)
        deleted = store.prune(END + 3600)
        assert deleted > 100_000
        left = store.conn.execute(
            "SELECT count(*) FROM checks WHERE ok = 1 AND ts_ms < ?", (int(END * 1000),)
        ).fetchone()[0]
        assert left == 0
        assert store.conn.execute("SELECT count(*) FROM latency_rollups WHERE level = 0"
                                  " AND start_ms < ?", (int(END * 1000),)).fetchone()[0] == 0
        flags = {r[0] for r in store.conn.execute(
            "SELECT substr(digest, 2, 1) FROM latency_rollups WHERE start_ms < ? AND level > 0",
            (int(END * 1000) - 31 * DAY_MS,))}
        assert flags <= {b"\x00", b"\x02"}  # no extremes kept
        after = report(config, store)
        # a check imported late into pruned time is folded in, never lost
        pid = store.probe_id("web")
        month = int(START * 1000)
        n0 = LatencyDigest.decode(store.conn.execute(
            "SELECT digest FROM latency_rollups WHERE probe_id = ? AND level = 2 AND"
            " start_ms = ?", (pid, month)).fetchone()[0]).n
        store.insert_checks([Check("web", START + 12345.678, True, 12.0, None, 60.0, "a9")])
        store.roll_up(NOW)
        n1 = LatencyDigest.decode(store.conn.execute(
            "SELECT digest FROM latency_rollups WHERE probe_id = ? AND level = 2 AND"
            " start_ms = ?", (pid, month)).fetchone()[0]).n
        assert n1 == n0 + 1
        assert store.conn.execute("SELECT count(*) FROM checks WHERE agent_id = ?",
                                  (store.agent_id("a9"),)).fetchone()[0] == 0
    for a, b in zip(after["probes"] + after["clients"], before["probes"] + before["clients"]):
        assert a["availability"] == b["availability"]
        # 24x7: the same checks, bucket representatives (0.5 %); office hours in pruned
        # time: whole weekdays, so other checks (sampling noise of random data)
        rel = 0.0101 if a["sla"] == "gold" else 0.05  # two digests, each within 0.5 %
        for q in ("p50", "p95", "p99"):
            assert a["latency_ms"][q] == pytest.approx(b["latency_ms"][q], rel=rel)
        assert a["apdex"]["score"] == pytest.approx(b["apdex"]["score"], abs=0.01)


def test_an_old_latency_hist_database_is_migrated(tmp_path):
    config = parse_config(CONFIG.format(zone="UTC"), tmp_path / "probes.toml")
    path = tmp_path / "old.db"
    with Store(path) as store:
        store.insert_checks(history(6, START, END, step=60.0))
        pid = store.probe_id("web")
        expected = report(config, RawOnly(store))
    # make it look like a database pruned by the previous version: latency_hist, no rollups
    c = sqlite3.connect(path)
    c.executescript("""
        DROP TABLE latency_rollups; DROP TABLE rollup_state;
        DROP TABLE rollup_dirty;
        DELETE FROM _sqlite_migrations WHERE name = 'm009_latency_rollups';
        CREATE TABLE latency_hist (probe_id INTEGER NOT NULL, hour_ms INTEGER NOT NULL,
            bucket INTEGER NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (probe_id, hour_ms, bucket)) WITHOUT ROWID;
    """)
    import math
    horizon = int(END * 1000)
    hist: dict[tuple[int, int, int], int] = {}
    for p, ts, lat in c.execute("SELECT probe_id, ts_ms, latency_ms FROM checks WHERE ok = 1"):
        key = (p, ts - ts % HOUR_MS, math.floor(math.log(max(lat, 1e-3)) / math.log(1.005)))
        hist[key] = hist.get(key, 0) + 1
    c.executemany("INSERT INTO latency_hist VALUES (?,?,?,?)", [(*k, v) for k, v in hist.items()])
    c.execute("DELETE FROM checks WHERE ok = 1")
    c.execute("INSERT OR REPLACE INTO meta VALUES ('pruned_before_ms', ?)", (str(horizon),))
    c.commit()
    c.close()
    with Store(path, readonly=True) as ro:  # not migrated: still reports, from latency_hist
        legacy = report(config, ro)
    with Store(path) as store:  # migrated
        assert not store._has_table("latency_hist")
        assert store.rollup_marks(pid) == (horizon, horizon)
        migrated = report(config, store)
    for got in (legacy, migrated):
        for a, b in zip(got["probes"], expected["probes"]):
            # old 0.5 % buckets at their middle (0.25 %), then a bucket's representative
            # (0.5 %), against the exact checks' digest (0.5 %); office hours: other
            # checks (hour middles, whole weekdays)
            rel = 0.0126 if a["sla"] == "gold" else 0.05
            for q in ("p50", "p95", "p99"):
                assert a["latency_ms"][q] == pytest.approx(b["latency_ms"][q], rel=rel)


def test_read_only_store_reads_raw_without_writing(tmp_path):
    config = parse_config(CONFIG.format(zone="Europe/Berlin"), tmp_path / "probes.toml")
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(history(7, START, END))
        raw = report(config, RawOnly(store))
    with Store(tmp_path / "s.db", readonly=True) as ro:
        got = report(config, ro)
        assert ro.conn.execute("SELECT count(*) FROM latency_rollups").fetchone()[0] == 0
    assert latency_parts(got) == latency_parts(raw)


def test_holed_blocks_give_exact_extremes_when_holes_hold_them(tmp_path):
    """A month or day read as the block less a few hours: when a taken-away hour holds the
    block's min or max of a bucket (likely with repeated values), the extremes come from
    the day and hour digests; the digest equals the one of the raw values, bucket by bucket."""
    rnd = random.Random(7)
    start, end = START - 5 * 86400, END + 2 * 86400
    checks, t = [], start
    while t < end:
        checks.append(Check("web", t, True, round(rnd.lognormvariate(2.5, 0.3), 1), None,
                            120.0, "a1"))
        t += 120.0
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(checks)
        store.roll_up(NOW)
        for trial in range(12):
            cuts = []
            for _ in range(rnd.randint(1, 6)):
                a = START + rnd.randrange(0, int(END - START) - 7200, 900)
                cuts.append((a, a + rnd.choice([900, 1800, 3600, 5400])))
            if trial % 3 == 0:  # a single day less a few hours
                d = START + 86400 * rnd.randrange(30)
                cuts = [(d + 3600 * 3, d + 3600 * 4 + 1800)]
                lo, hi = d, d + 86400
            else:
                lo, hi = START, END
            eligible, at = [], lo
            for a, b in sorted(cuts):
                a, b = max(a, lo), min(b, hi)
                if a > at:
                    eligible.append((at, a))
                at = max(at, b)
            if at < hi:
                eligible.append((at, hi))
            reader = store.latency_reader("web", lo, hi)
            got = reader.digest(tuple(eligible))
            want = LatencyDigest.of([c.latency_ms for c in checks
                                     if any(a <= c.ts < b for a, b in eligible)])
            assert got == want, (trial, eligible)
            assert [got.quantile(p) for p in (50, 95, 99, 100)] == \
                [want.quantile(p) for p in (50, 95, 99, 100)]


def test_holed_month_looks_only_for_the_side_a_hole_may_hold(tmp_path):
    """A month less a few whole hours, where every hour holds its bucket's min and max (two
    repeated values): the other days already hold the same min and max, so no day with a
    hole is looked into (no further hour digest read) and the extremes stay exact."""
    rnd = random.Random(3)
    checks = [Check("web", t, True, rnd.choice([10.0, 10.04]), None, 120.0, "a1")
              for t in range(int(START), int(END), 120)]
    days = (3, 11, 20)
    cut = [(START + 86400 * d + 3600 * 4, START + 86400 * d + 3600 * 5) for d in days]
    eligible, at = [], START
    for a, b in cut:
        eligible.append((at, a))
        at = b
    eligible.append((at, END))
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(checks)
        store.roll_up(NOW)
        reader = store.latency_reader("web", START, END)
        got = reader.digest(tuple(eligible))
        want = LatencyDigest.of([c.latency_ms for c in checks
                                 if any(a <= c.ts < b for a, b in eligible)])
        assert got == want
        assert got.values_summary() == (len(want), 10.0, 10.04)
        hours = {s for level, s in reader._blocks if level == 0}
        assert hours == {int(a * 1000) for a, _ in cut}  # the holes only


def test_holed_month_finds_a_min_left_only_in_a_day_with_a_hole(tmp_path):
    """The month's min is only in a taken-away hour and the next smallest value only in
    another hour of that same day: the day with the hole is looked into, the min is exact."""
    checks = [Check("web", t, True, 10.02, None, 120.0, "a1")
              for t in range(int(START), int(END), 120)]
    d = START + 86400 * 9
    hole = (d + 3600 * 4, d + 3600 * 5)
    for c in range(len(checks)):
        if checks[c].ts == hole[0] + 600:
            checks[c] = Check("web", checks[c].ts, True, 10.0, None, 120.0, "a1")
        if checks[c].ts == d + 3600 * 7 + 600:
            checks[c] = Check("web", checks[c].ts, True, 10.01, None, 120.0, "a1")
    eligible = ((START, hole[0]), (hole[1], END))
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(checks)
        store.roll_up(NOW)
        got = store.latency_reader("web", START, END).digest(eligible)
        assert got.values_summary() == (len(checks) - 30, 10.01, 10.02)
        assert got == LatencyDigest.of([c.latency_ms for c in checks
                                        if not hole[0] <= c.ts < hole[1]])


def test_a_large_digest_does_not_search_holed_blocks_and_stays_within_half_a_percent(
        tmp_path, monkeypatch):
    """Past EXACT_UP_TO values a holed block's uncertain extremes are not looked for: the
    percentile is the bucket's representative (within 0.5 %), and a bucket of one repeated
    value stays exact (what is left of it is that value)."""
    import slaprobe.latency_digest as ld

    rnd = random.Random(5)
    checks = [Check("web", t, True, round(rnd.lognormvariate(2.5, 0.3), 3), None, 120.0, "a1")
              for t in range(int(START), int(END), 120)]
    flat = [Check("db", t, True, 12.5, None, 120.0, "a1") for t in range(int(START), int(END), 120)]
    d = START + 86400 * 9
    eligible = ((START, d + 3600 * 4), (d + 3600 * 5 + 1800, END))
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(checks + flat)
        store.roll_up(NOW)
        want = LatencyDigest.of([c.latency_ms for c in checks
                                 if any(a <= c.ts < b for a, b in eligible)])
        exact = [want.quantile(p) for p in (1, 50, 95, 99, 100)]
        monkeypatch.setattr(ld, "EXACT_UP_TO", 100)
        got = store.latency_reader("web", START, END).digest(eligible)
        assert list(got.counts) == list(want.counts)
        for p, x in zip((1, 50, 95, 99, 100), exact, strict=True):
            assert abs(got.quantile(p) - x) <= ld.ALPHA * x * 1.0001, (p, x)
        same = store.latency_reader("db", START, END).digest(eligible)
        assert [same.quantile(p) for p in (1, 50, 99, 100)] == [12.5] * 4
