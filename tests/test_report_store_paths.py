"""Reports read through segments (fast, survives retention) equal reports from raw checks."""

from __future__ import annotations

import random
import sqlite3

import pytest

from slaprobe.availability import build_report, report_to_dict
from slaprobe.checks import Check
from slaprobe.config import parse_config
from slaprobe.hours import probe_hours_specs
from slaprobe.render import render_report
from slaprobe.store import Store

CONFIG = """
[agent]
name = "a1"
timezone = "UTC"
interval = "60s"

[sla.gold]
objective = 99.9
credits = [{ below = 99.9, percent = 10 }]

[clients.acme]
name = "ACME"
sla = "gold"

[[probes]]
id = "web"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 1
confirm = 2

[[probes]]
id = "api"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 2

[[maintenance]]
id = "m"
probes = ["web"]
start = "2026-11-02T10:00:00Z"
end = "2026-11-02T11:30:00Z"
"""

START = 1793491200.0  # 2026-11-01T00:00Z
END = START + 3 * 86400


class RawOnly:
    """The store seen only through its raw-check reads (the path without segments)."""

    def __init__(self, store: Store):
        self._s = store

    def checks(self, probe, start=None, end=None):
        return self._s.checks(probe, start, end)

    def checks_before(self, probe, ts, n):
        return self._s.checks_before(probe, ts, n)


def _history(seed: int, agents=("a1",)) -> list[Check]:
    rnd = random.Random(seed)
    out = []
    for probe in ("web", "api"):
        for agent in agents:
            t = START - 3600 + rnd.random() * 60
            failing = False
            while t < END + 3600:
                if rnd.random() < 0.02:
                    failing = not failing
                kind = rnd.choice(["timeout: x", "refused: y"])
                out.append(Check(probe, round(t, 3), not failing, None if failing else
                                 rnd.uniform(1, 50), kind if failing else None, 60.0, agent))
                t += rnd.choice([60.0] * 30 + [150.0, 600.0])
    return out


def _close(a, b, path="") -> list[str]:
    """Differences between two JSON values, floats compared to 1e-6 s."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-6 * max(1.0, abs(b)) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


LATENCY_KEYS = ("latency_ms", "latency_objective", "apdex")  # from latency samples


def _figures(report: dict) -> dict:
    return {e["id"]: {k: v for k, v in e.items() if k not in LATENCY_KEYS}
            for e in report["probes"] + report["clients"]}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("agents", [("a1",), ("a1", "a2", "a3")])
def test_segment_path_equals_raw_path(tmp_path, seed, agents):
    config = parse_config(CONFIG, tmp_path / "probes.toml")
    with Store(tmp_path / "s.db") as store:
        checks = _history(seed, agents)
        random.Random(seed).shuffle(checks)
        for i in range(0, len(checks), 997):
            store.insert_checks(checks[i:i + 997])
        now = END + 7200
        fast = report_to_dict(build_report(config, store, START, END, now))
        slow = report_to_dict(build_report(config, RawOnly(store), START, END, now))
    fast["generated_at"] = slow["generated_at"]
    assert _close(_figures(fast), _figures(slow)) == []
    for a, b in zip(fast["probes"] + fast["clients"], slow["probes"] + slow["clients"]):
        for key in LATENCY_KEYS:
            assert a[key] == b[key]


def test_pruning_raw_checks_leaves_the_report_unchanged(tmp_path):
    config = parse_config(CONFIG, tmp_path / "probes.toml")
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(_history(42))
        now = END + 7200
        before = report_to_dict(build_report(config, store, START, END, now))
        raw_before = store.count_checks()
        deleted = store.prune(END + 3600 + 1)
        assert deleted > 0.9 * raw_before * 0.5  # most checks were successful ones
        after = report_to_dict(build_report(config, store, START, END, now))
    assert _close(_figures(after), _figures(before)) == []  # availability, downtime, credits
    for a, b in zip(after["probes"], before["probes"]):
        for q in ("p50", "p95", "p99"):
            # pruned latencies come from hourly 0.5 % histograms: close, not exact
            assert a["latency_ms"][q] == pytest.approx(b["latency_ms"][q], rel=0.02)
        # hourly histograms stand at the middle of their hour, so the checks counted
        # in eligible time near a window's edge move a little: Apdex stays close
        assert a["apdex"]["score"] == pytest.approx(b["apdex"]["score"], abs=0.01)


@pytest.mark.parametrize("office", [False, True])
@pytest.mark.parametrize("seed", [7, 23])
@pytest.mark.parametrize("keep_raw", ["1d", "2d", "5d"])
def test_a_report_does_not_move_when_the_prune_of_its_retention_runs(tmp_path, seed, keep_raw,
                                                                    office):
    # Time older than keep_raw is read as the prune leaves it, pruned yet or not: the
    # report made before the hourly prune is the report made after it, byte for byte
    # (latency too: days without exact extremes, the window's day taken whole).
    text = CONFIG.replace('interval = "60s"', f'interval = "60s"\nkeep_raw = "{keep_raw}"')
    if office:
        text = text.replace('[clients.acme]', '[sla.office]\nobjective = 99.5\n'
                            'hours = "Mon-Fri 08:00-18:00"\ntimezone = "Europe/Berlin"\n\n'
                            '[clients.acme]').replace('sla = "gold"', 'sla = "office"')
    config = parse_config(text, tmp_path / "probes.toml")
    now = END + 7200
    with Store(tmp_path / "s.db") as store:
        store.set_sla_hours(probe_hours_specs(config))
        store.insert_checks(_history(seed))
        store.roll_up(now)
        before = render_report(report_to_dict(build_report(config, store, START, END, now)),
                               "json")
        deleted = store.prune(now - config.agent.keep_raw)
        after = render_report(report_to_dict(build_report(config, store, START, END, now)),
                              "json")
    assert (deleted > 0) == (keep_raw != "5d")  # 5 days: nothing of the period is old yet
    assert after == before


class PerProbe:
    """The store without its batch reads (`spans_many`, `failed_details_many`,
    `latency_readers`): every probe read on its own, as a store lacking them is."""

    BATCH = ("spans_many", "failed_details_many", "latency_readers", "probe_ids")

    def __init__(self, store: Store):
        self._s = store

    def __getattr__(self, name):
        if name in self.BATCH:
            raise AttributeError(name)
        return getattr(self._s, name)

    # the methods the SegmentSource protocol checks for (a Protocol ignores __getattr__)
    def checks(self, *a): return self._s.checks(*a)
    def checks_before(self, *a): return self._s.checks_before(*a)
    def spans(self, *a): return self._s.spans(*a)
    def spans_before(self, *a): return self._s.spans_before(*a)
    def failed_checks(self, *a): return self._s.failed_checks(*a)
    def latencies(self, *a): return self._s.latencies(*a)
    def latency_histogram(self, *a): return self._s.latency_histogram(*a)
    def pruned_before_ms(self): return self._s.pruned_before_ms()


@pytest.mark.parametrize("seed", range(3))
def test_batch_reads_give_the_same_report_as_per_probe_reads(tmp_path, seed):
    office = CONFIG.replace('[clients.acme]', '[sla.office]\nobjective = 99.5\n'
                            'hours = "Mon-Fri 08:00-18:00"\ntimezone = "Europe/Berlin"\n\n'
                            '[clients.beta]\nname = "Beta"\nsla = "office"\n\n'
                            '[clients.acme]', 1).replace(
        'id = "api"\nclient = "acme"', 'id = "api"\nclient = "beta"', 1)
    for text in (CONFIG, office):
        config = parse_config(text, tmp_path / "probes.toml")
        db = tmp_path / f"s{seed}-{len(text)}.db"
        with Store(db) as store:
            checks = _history(seed, ("a1", "a2"))
            store.insert_checks([c for c in checks if c.ts < START + 86400])
            store.roll_up(START + 2 * 86400)
            store.prune(START + 86400 + 7200)  # pruned time, then checks stored late
            store.insert_checks([c for c in checks if c.ts >= START + 86400])
        with Store(db, readonly=True) as store:  # dirty hours stay dirty: read raw
            assert store.dirty_hours(store.probe_id("web"))
            now = END + 7200
            for kw in ({}, {"latency": False}, {"error_kinds": False}):
                batch = report_to_dict(build_report(config, store, START, END, now, **kw))
                single = report_to_dict(build_report(config, PerProbe(store), START, END,
                                                     now, **kw))
                assert batch == single


def test_a_long_outage_stands_as_one_stretch_per_kind_and_counts_every_check(tmp_path):
    from slaprobe.availability import read_segments
    from slaprobe.figures import count_failed

    config = parse_config(CONFIG, tmp_path / "probes.toml")
    t0 = START + 3600
    checks = [Check("api", t0 + 60 * i, True, 5.0, None, 60.0, "a1") for i in range(10)]
    t1 = t0 + 600
    checks += [Check("api", t1 + 60 * i, False, None, "timeout: no answer", 60.0, "a1")
               for i in range(1000)]
    t2 = t1 + 60_000
    checks += [Check("api", t2 + 60 * i, False, None, "refused: closed", 60.0, "a1")
               for i in range(10)]
    checks += [Check("api", t2 + 600 + 60 * i, True, 5.0, None, 60.0, "a1") for i in range(10)]
    with Store(tmp_path / "s.db") as store:
        store.insert_checks(checks)
        _, failed, _ = read_segments(store, config.probes["api"], START, END, 0.0, END,
                                     latency=False)
        assert failed.stands == ((t1, t2, "timeout"), (t2, t2 + 600, "refused"))
        # counted by segment, without reading them; one by one only where an edge cuts a run
        assert failed.runs == ((t1, t2 - 60, 1000, "a1"), (t2, t2 + 540, 10, "a1"))
        assert count_failed(failed, ((START, END),), END) == 1010
        assert count_failed(failed, ((t1 + 30, t1 + 630),), END) == 10
        assert count_failed(failed, ((t2 + 1, t2 + 7200),), t2 + 181) == 3  # before now only
        assert count_failed(failed, ((START, t1), (t2 + 600, END)), END) == 0


def _segments(path) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT * FROM segments ORDER BY probe_id, agent_id, first_ms").fetchall()


@pytest.mark.parametrize("seed", range(3))
def test_segments_from_before_kinds_are_split_by_kind_when_migrated(tmp_path, seed):
    """A database whose failed segments ignore the error kind (before schema m012) reports
    the same before (read-only: failed checks read one by one) and after migrating, and
    its migrated segments are those a new database builds."""
    config = parse_config(CONFIG, tmp_path / "probes.toml")
    path = tmp_path / "s.db"
    now = END + 7200
    with Store(path) as store:
        store.insert_checks(_history(seed, ("a1", "a2")))
        want = report_to_dict(build_report(config, RawOnly(store), START, END, now))
    fresh = _segments(path)
    assert any(r[4] == 0 and r[7] not in (None, "error") for r in fresh)
    # the segments as the previous version kept them: failed runs whatever their kinds
    c = sqlite3.connect(path)
    c.execute("ALTER TABLE segments DROP COLUMN kind")
    c.execute("DELETE FROM _sqlite_migrations WHERE name = 'm012_segment_kinds'")
    c.execute("DELETE FROM segments")
    rows = c.execute("SELECT probe_id, agent_id, ts_ms, ok, interval_ms FROM checks"
                     " ORDER BY probe_id, agent_id, ts_ms").fetchall()
    old: list[list[int]] = []
    for pid, aid, ts, ok, iv in rows:
        seg = old[-1] if old else None
        if seg and seg[:2] == [pid, aid] and seg[4] == ok and seg[3] < ts <= seg[3] + 2 * seg[6]:
            seg[3], seg[5], seg[6] = ts, seg[5] + 1, iv
        else:
            old.append([pid, aid, ts, ts, ok, 1, iv])
    c.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?)", old)
    c.commit()
    c.close()
    assert len(old) < len(fresh)  # kinds split some failed runs
    with Store(path, readonly=True) as ro:
        assert not ro.segments_have_kinds()
        before = report_to_dict(build_report(config, ro, START, END, now))
    with Store(path) as store:
        assert store.segments_have_kinds()
        after = report_to_dict(build_report(config, store, START, END, now))
    assert _segments(path) == fresh
    for got in (before, after):
        got["generated_at"] = want["generated_at"]
        assert _close(_figures(got), _figures(want)) == []
