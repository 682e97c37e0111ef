"""SLA-hours digests (levels 3 and 4) give exactly the report of the hour-by-hour path.

Each test builds the same history twice: one store keeps SLA-hours digests (as the
daemon and `slaprobe import` do), the other has none; reports over many periods must
be byte-identical, through late checks, changed hours and retention.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from slaprobe.availability import build_report, report_to_dict
from slaprobe.checks import Check
from slaprobe.config import parse_config
from slaprobe.hours import hours_ms, hours_spec, probe_hours_specs
from slaprobe.latency_digest import DAY_MS, LatencyDigest
from slaprobe.store import Store

START = datetime(2026, 9, 20, tzinfo=UTC).timestamp()
END = datetime(2026, 11, 6, tzinfo=UTC).timestamp()  # across Berlin's DST end (Oct 25)
NOW = END + 3600


def _config(db: Path, office: str = "Mon-Fri 08:00-18:00", zone: str = "Europe/Berlin",
            weekly: str = "FREQ=WEEKLY;BYDAY=TU;BYHOUR=9;BYMINUTE=30"):
    text = f'''
[agent]
name = "a1"
database = "{db}"
timezone = "Europe/Berlin"
interval = "300s"

[sla.office]
objective = 99.5
hours = "{office}"
timezone = "{zone}"

[sla.shift]
objective = 99.0
hours = "Mon-Sat 08:30-17:15"
timezone = "Asia/Kolkata"

[sla.gold]
objective = 99.9

[clients.a]
name = "A"
sla = "office"

[clients.b]
name = "B"
sla = "shift"

[clients.c]
name = "C"
sla = "gold"

[[probes]]
id = "a-web"
client = "a"
kind = "tcp"
host = "127.0.0.1"
port = 1

[[probes]]
id = "a-db"
client = "a"
kind = "tcp"
host = "127.0.0.1"
port = 2

[[probes]]
id = "b-api"
client = "b"
kind = "tcp"
host = "127.0.0.1"
port = 3

[[probes]]
id = "c-web"
client = "c"
kind = "tcp"
host = "127.0.0.1"
port = 4

[[maintenance]]
id = "weekly"
rrule = "{weekly}"
duration = "45m"

[[maintenance]]
id = "a-move"
clients = ["a"]
start = "2026-10-07T10:20:00+02:00"
end = "2026-10-08T15:10:00+02:00"

[[maintenance]]
id = "long"
probes = ["b-api"]
start = "2026-10-12T06:00:00Z"
end = "2026-10-14T12:00:00Z"
'''
    path = db.with_suffix(".toml")
    path.write_text(text)
    return parse_config(text, path)


def _checks(seed: int, start: float, end: float, probes=("a-web", "a-db", "b-api", "c-web"),
            agents=("a1", "a2")) -> list[Check]:
    rnd = random.Random(seed)
    out = []
    for probe in probes:
        for agent in agents:
            t, failing = start + rnd.random() * 300, False
            while t < end:
                if rnd.random() < 0.01:
                    failing = not failing
                # repeated values (exact ranks) and spread ones (bucket extremes)
                lat = rnd.choice([12.5, 12.5, rnd.uniform(1, 80), rnd.lognormvariate(3, 0.5)])
                out.append(Check(probe, round(t, 3), not failing, None if failing else lat,
                                 "refused: x" if failing else None, 300.0, agent))
                t += rnd.choice([300.0] * 20 + [900.0])
    return out


def _pair(tmp_path: Path, checks: list[Check], now: float = NOW, **config_kw):
    """(store with SLA-hours digests, store without, config), both rolled up at `now`."""
    kept, plain = tmp_path / "kept.db", tmp_path / "plain.db"
    config = _config(kept, **config_kw)
    with Store(kept) as s:
        s.insert_checks(checks)
        s.set_sla_hours(probe_hours_specs(config))
        s.roll_up(now)
    shutil.copy(kept, plain)
    c = sqlite3.connect(plain)
    c.execute("DELETE FROM rollup_hours")
    c.execute("DELETE FROM latency_rollups WHERE level IN (3, 4)")
    c.commit()
    c.close()
    return kept, plain, config


PERIODS = [
    ("2026-10-01T00:00:00+02:00", "2026-11-01T00:00:00+01:00"),  # a local month, DST inside
    ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),  # the UTC month
    ("2026-09-21T10:17:00Z", "2026-11-05T13:00:00Z"),  # most of the history
    ("2026-10-06T09:45:00+02:00", "2026-10-09T11:00:00+02:00"),  # maintenance edges
    ("2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z"),  # the DST weekend
]


def _reports(db: Path, config, periods=PERIODS) -> list[str]:
    out = []
    with Store(db, readonly=True) as store:
        for a, b in periods:
            r = build_report(config, store, datetime.fromisoformat(a).timestamp(),
                             datetime.fromisoformat(b).timestamp(), NOW)
            out.append(json.dumps(report_to_dict(r), sort_keys=True))
    return out


def _used_levels(db: Path) -> dict[int, int]:
    c = sqlite3.connect(db)
    try:
        return dict(c.execute("SELECT level, count(*) FROM latency_rollups GROUP BY level"))
    finally:
        c.close()


def test_sla_hours_digests_hold_exactly_the_checks_inside_the_hours(tmp_path) -> None:
    kept, _, _ = _pair(tmp_path, _checks(1, START, END))
    spec = hours_spec("Mon-Sat 08:30-17:15", "Asia/Kolkata")  # half-hour offsets: partial hours
    c = sqlite3.connect(kept)
    pid = c.execute("SELECT id FROM probes WHERE name = 'b-api'").fetchone()[0]
    days = c.execute("SELECT start_ms, digest FROM latency_rollups WHERE probe_id = ? AND"
                     " level = 3", (pid,)).fetchall()
    assert len(days) > 30
    for day, blob in days:
        want = [v for a, b in hours_ms(spec, day, day + DAY_MS) for (v,) in c.execute(
            "SELECT latency_ms FROM checks WHERE probe_id = ? AND ts_ms >= ? AND ts_ms < ?"
            " AND ok = 1 AND latency_ms IS NOT NULL", (pid, a, b))]
        assert LatencyDigest.decode(blob) == LatencyDigest.of(want), day
    gold = c.execute("SELECT count(*) FROM latency_rollups l JOIN probes p ON p.id = l.probe_id"
                     " WHERE p.name = 'c-web' AND level IN (3, 4)").fetchone()[0]
    assert gold == 0  # 24x7 needs none
    c.close()


def test_reports_from_sla_hours_digests_equal_the_hour_by_hour_reports(tmp_path) -> None:
    kept, plain, config = _pair(tmp_path, _checks(2, START, END))
    assert _used_levels(kept).get(4, 0) >= 3 and 3 not in _used_levels(plain)
    assert _reports(kept, config) == _reports(plain, config)


def test_late_checks_rebuild_their_days(tmp_path) -> None:
    checks = _checks(3, START, END, agents=("a1",))
    kept, plain, config = _pair(tmp_path, checks)
    late = _checks(4, START + 10 * 86400, START + 20 * 86400, agents=("a2",))
    for db in (kept, plain):
        with Store(db) as s:
            s.insert_checks(late)
            s.roll_up(NOW)
    (tmp_path / "fresh").mkdir()
    fresh, _, _ = _pair(tmp_path / "fresh", checks + late)
    assert _reports(kept, config) == _reports(plain, config) == _reports(fresh, config)


def test_a_report_before_the_late_checks_are_rolled_up_reads_them_raw(tmp_path) -> None:
    kept, plain, config = _pair(tmp_path, _checks(5, START, END, agents=("a1",)))
    late = _checks(6, START + 12 * 86400, START + 13 * 86400, agents=("a2",))
    for db in (kept, plain):
        with Store(db) as s:
            s.insert_checks(late)  # dirty hours, not rolled up: the report must still count them
    assert _reports(kept, config) == _reports(plain, config)


def test_changed_hours_drop_the_old_digests_and_old_time_is_read_hour_by_hour(tmp_path) -> None:
    checks = _checks(7, START, END)
    cut = START + 20 * 86400 + 5 * 3600  # 05:00 UTC on 2026-10-10: mid-day
    kept, plain, _ = _pair(tmp_path, [c for c in checks if c.ts < cut], now=cut)
    new = _config(kept, office="Mon-Thu 07:00-19:30")
    with Store(kept) as s:
        assert s.set_sla_hours(probe_hours_specs(new)) == 2  # a-web, a-db
        assert s.set_sla_hours(probe_hours_specs(new)) == 0  # nothing changed since
        s.insert_checks([c for c in checks if c.ts >= cut])
        s.roll_up(NOW)
        changed = {v for v in s.sla_hours().values() if v[0].startswith("Mon-Thu")}
    # complete from the first UTC day the roll-up had not reached: 2026-10-11
    assert changed == {(hours_spec("Mon-Thu 07:00-19:30", "Europe/Berlin"),
                        int(datetime(2026, 10, 11, tzinfo=UTC).timestamp() * 1000))}
    c = sqlite3.connect(kept)
    first = c.execute("SELECT min(l.start_ms) FROM latency_rollups l JOIN probes p ON"
                      " p.id = l.probe_id WHERE p.name = 'a-web' AND level = 3").fetchone()[0]
    c.close()
    assert first >= datetime(2026, 10, 11, tzinfo=UTC).timestamp() * 1000
    with Store(plain) as s:
        s.insert_checks([c for c in checks if c.ts >= cut])
        s.roll_up(NOW)
    assert _reports(kept, new) == _reports(plain, new)
    # a report under the old hours no longer matches what is kept: hour by hour, same figures
    old = _config(tmp_path / "old.db")
    assert _reports(kept, old) == _reports(plain, old)


def test_retention_keeps_sla_hours_digests_as_counts_and_reads_exactly_the_hours(
        tmp_path) -> None:
    # the weekly window on Sundays at 03:00: outside every SLA's hours, so pruned months and
    # days have nothing to take away
    kept, plain, config = _pair(tmp_path, _checks(8, START, END),
                                weekly="FREQ=WEEKLY;BYDAY=SU;BYHOUR=3;BYMINUTE=0")
    periods = [("2026-09-21T00:00:00Z", "2026-10-06T00:00:00Z"),
               ("2026-09-28T00:00:00+02:00", "2026-10-05T00:00:00+02:00")]
    before = [json.loads(r) for r in _reports(kept, config, periods)]
    horizon = datetime(2026, 10, 16, 7, tzinfo=UTC).timestamp()
    for db in (kept, plain):
        with Store(db) as s:
            s.prune(horizon)
    c = sqlite3.connect(kept)
    old = c.execute("SELECT digest FROM latency_rollups WHERE level IN (3, 4) AND start_ms < ?",
                    (int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1000),)).fetchall()
    c.close()
    assert old and all(not blob[1] & 1 for (blob,) in old)  # kept, counts only
    after = [json.loads(r) for r in _reports(kept, config, periods)]
    whole_days = [json.loads(r) for r in _reports(plain, config, periods)]
    closer = 0
    for b, a, w in zip(before, after, whole_days, strict=True):
        for eb, ea, ew in zip(b["probes"] + b["clients"], a["probes"] + a["clients"],
                              w["probes"] + w["clients"], strict=True):
            for k in ("availability", "down_seconds", "unknown_seconds", "incidents"):
                assert ea[k] == eb[k] == ew[k], (eb["id"], k)
            for q in ("p50", "p95", "p99"):
                x, y, z = eb["latency_ms"][q], ea["latency_ms"][q], ew["latency_ms"][q]
                if x is None:
                    continue
                # bucket representatives of exactly the hours' checks: within one bucket
                assert abs(y - x) <= 0.011 * x, (eb["id"], q, x, y)
                closer += abs(y - x) < abs(z - x)
    assert closer > 0  # where the plain path's whole days (all hours) moved a percentile


@pytest.mark.parametrize("seed", [11, 12])
def test_random_hours_windows_and_periods_agree(tmp_path, seed) -> None:
    rnd = random.Random(seed)
    start_h, end_h = rnd.randint(0, 10), rnd.randint(13, 23)
    zone = rnd.choice(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"])
    office = f"Mon-Fri {start_h:02d}:{rnd.choice(['00', '15', '30'])}-{end_h:02d}:00"
    kept, plain, config = _pair(tmp_path, _checks(seed, START, END), office=office, zone=zone)
    with Store(kept, readonly=True) as a, Store(plain, readonly=True) as b:
        for _ in range(6):
            s = rnd.uniform(START, END - 86400)
            e = rnd.uniform(s + 3600, min(END, s + 40 * 86400))
            ra = json.dumps(report_to_dict(build_report(config, a, s, e, NOW)), sort_keys=True)
            rb = json.dumps(report_to_dict(build_report(config, b, s, e, NOW)), sort_keys=True)
            assert ra == rb, (office, zone, s, e)


def test_slaprobe_import_keeps_sla_hours_digests_of_its_configuration(tmp_path) -> None:
    import subprocess
    import sys

    from slaprobe.jsonl import write_jsonl

    db = tmp_path / "slaprobe.db"
    config = _config(db)
    history = tmp_path / "history.jsonl"
    with history.open("w") as f:
        write_jsonl(_checks(9, START, START + 15 * 86400, agents=("a1",)), f)
    r = subprocess.run([sys.executable, "-m", "slaprobe", "import", "--config",
                        str(db.with_suffix(".toml")), str(history)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    levels = _used_levels(db)
    assert levels.get(3, 0) > 20 and levels.get(4, 0) >= 2, levels
    plain = tmp_path / "plain.db"
    shutil.copy(db, plain)
    c = sqlite3.connect(plain)
    c.execute("DELETE FROM rollup_hours")
    c.commit()
    c.close()
    assert _reports(db, config) == _reports(plain, config)


def test_the_daemons_roll_up_and_retention_follow_the_configurations_hours(tmp_path) -> None:
    from slaprobe.daemon import Daemon

    db = tmp_path / "slaprobe.db"
    config = _config(db)
    with Store(db) as s:
        s.insert_checks(_checks(10, START, START + 3 * 86400, agents=("a1",)))
    d = Daemon(config, db, config_path=db.with_suffix(".toml"))
    d._roll_up()
    with Store(db, readonly=True) as s:
        kept = {spec for spec, _ in s.sla_hours().values()}
    assert kept == {hours_spec("Mon-Fri 08:00-18:00", "Europe/Berlin"),
                    hours_spec("Mon-Sat 08:30-17:15", "Asia/Kolkata")}
    assert _used_levels(db).get(3, 0) > 0
    d.config = _config(db, office="Mon-Fri 09:00-17:00")  # a reload changed the hours
    d._prune()
    with Store(db, readonly=True) as s:
        kept = {spec for spec, _ in s.sla_hours().values()}
    assert hours_spec("Mon-Fri 09:00-17:00", "Europe/Berlin") in kept
    assert hours_spec("Mon-Fri 08:00-18:00", "Europe/Berlin") not in kept
