"""Exclusions a contract can name: categories, retroactive windows, maintenance overrun."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2e import slaprobe
from slaprobe.config import MAINTENANCE_CATEGORIES, Client, Maintenance, Probe
from slaprobe.exclusions import (
    excluded_by_category,
    retroactive,
    window_fingerprint,
    window_uses,
)
from slaprobe.figures import client_figures, measure_probe, probe_figures
from slaprobe.intervals import normalize
from slaprobe.maintenance import window_occurrences
from slaprobe.spans import Span
from slaprobe.store import Store
from slaprobe.windows_seen import read_seen, record, seen

M, H, DAY = 60.0, 3600.0, 86400.0
D = datetime(2026, 11, 3, tzinfo=UTC).timestamp()
WEB = Probe("web", "http", client="acme", interval=60)
API = Probe("api", "http", client="acme", interval=60)


def at(h: float, m: float = 0) -> float:
    return D + h * H + m * M


def checks(count: int, *, failed=(), start: float = D) -> list[Span]:
    fail = set(failed)
    return [Span(start + i * M, start + i * M, i not in fail, 1, M, "a1",
                 None if i in fail else 10.0, "timeout: x" if i in fail else None)
            for i in range(count)]


# ---------------------------------------------------------------- categories


@pytest.mark.parametrize(
    "excluded, by_category, expected",
    [
        ((), [("maintenance", ((0, 10),))], ()),
        # one category: exactly the total
        (((0, 100),), [("customer", ((0, 100),))], (("customer", 100.0),)),
        # two windows side by side
        (((0, 100),), [("customer", ((50, 100),)), ("maintenance", ((0, 50),))],
         (("maintenance", 50.0), ("customer", 50.0))),
        # overlap goes to the first category in MAINTENANCE_CATEGORIES order
        (((0, 100),), [("force-majeure", ((0, 100),)), ("third-party", ((20, 60),))],
         (("third-party", 40.0), ("force-majeure", 60.0))),
        (((0, 100),), [("customer", ((0, 80),)), ("maintenance", ((40, 100),))],
         (("maintenance", 60.0), ("customer", 40.0))),
        # excluded time outside the category intervals is plain maintenance
        (((0, 100),), [("customer", ((0, 30),))], (("maintenance", 70.0), ("customer", 30.0))),
        # no categories given at all
        (((0, 10), (20, 30)), [], (("maintenance", 20.0),)),
    ],
)
def test_excluded_by_category(excluded, by_category, expected):
    got = excluded_by_category(excluded, by_category)
    assert got == expected
    assert sum(s for _, s in got) == pytest.approx(sum(e - s for s, e in excluded))


def test_probe_excluded_seconds_break_down_maintenance_seconds():
    maint = ((at(10), at(11)), (at(12), at(14)))
    m = measure_probe(WEB, None, checks(1440), D + DAY, maint,
                      categories={"maintenance": ((at(10), at(11)), (at(13), at(14))),
                                  "third-party": ((at(12), at(13, 30)),)})
    from slaprobe.figures import figures_of_probe

    f = figures_of_probe(m, None, D, D + DAY, D + DAY)
    assert f.maintenance_seconds == 3 * H
    assert dict(f.excluded_seconds) == {"maintenance": 2 * H, "third-party": H}


def test_client_excluded_time_takes_the_first_category_of_any_probe():
    """Client time is excluded only while both probes are in a window: 10:30-11:00."""
    web = measure_probe(WEB, None, checks(1440), D + DAY, ((at(10), at(11)),),
                        categories={"customer": ((at(10), at(11)),)})
    api = measure_probe(API, None, checks(1440), D + DAY, ((at(10, 30), at(12)),),
                        categories={"maintenance": ((at(10, 30), at(10, 40)),),
                                    "force-majeure": ((at(10, 40), at(12)),)})
    c = client_figures(Client("acme", "ACME"), None, [web, api], D, D + DAY, D + DAY)
    assert c.maintenance_seconds == 30 * M
    # 10:30-10:40 maintenance (api's window comes first in order); 10:40-11:00 customer
    assert dict(c.excluded_seconds) == {"maintenance": 10 * M, "customer": 20 * M}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MAINTENANCE_CATEGORIES),
                          st.integers(0, 1440), st.integers(1, 300)), max_size=6))
def test_categories_always_sum_to_maintenance_seconds(windows):
    """Any windows of any categories, overlapping or not, under business-like hours."""
    by_cat: dict[str, list] = {}
    for cat, start, length in windows:
        by_cat.setdefault(cat, []).append((at(0, start), at(0, start + length)))
    cats = {c: normalize(iv) for c, iv in by_cat.items()}
    maint = normalize([iv for ivs in by_cat.values() for iv in ivs])
    m = measure_probe(WEB, None, checks(1440), D + DAY, maint, categories=cats)
    from slaprobe.figures import figures_of_probe

    f = figures_of_probe(m, None, D, D + DAY, D + DAY)
    assert sum(s for _, s in f.excluded_seconds) == pytest.approx(f.maintenance_seconds)
    assert all(s > 0 for _, s in f.excluded_seconds)


# ---------------------------------------------------------------- overrun


def test_incident_starting_in_a_window_overruns_by_its_down_time_after_it():
    """Down 10:10-10:30, window 10:05-10:15: 5 min in the window, 15 min overrun."""
    f = probe_figures(WEB, None, checks(1440, failed=range(610, 630)), D, D + DAY, D + DAY,
                      ((at(10, 5), at(10, 15)),))
    [i] = f.incidents
    assert (i.seconds, i.maintenance_seconds, i.overrun_seconds) == (1200, 300, 900)
    assert f.down_seconds == 900  # the overrun counts against the SLA


@pytest.mark.parametrize(
    "window, overrun",
    [
        ((at(9), at(10, 5)), 300.0),  # the outage starts at 10:00 in it, goes on 5 min after
        ((at(10, 5), at(10, 15)), 0.0),  # the outage started before the window: no overrun
        ((at(9), at(10, 30)), 0.0),  # ends inside the window
        ((at(10), at(10, 4)), 360.0),  # starts with the window, lasts 6 min longer
    ],
)
def test_overrun_only_when_the_incident_starts_inside_a_window(window, overrun):
    spans = checks(1440, failed=range(600, 610))
    f = probe_figures(WEB, None, spans, D, D + DAY, D + DAY, (window,))
    [i] = f.incidents
    assert i.overrun_seconds == overrun


def test_client_incident_overrun():
    """web down 10:10-10:30 in its window until 10:15; api fine: client overruns 15 min."""
    web = measure_probe(WEB, None, checks(1440, failed=range(610, 630)), D + DAY,
                        ((at(10, 5), at(10, 15)),))
    api = measure_probe(API, None, checks(1440), D + DAY, ())
    c = client_figures(Client("acme", "ACME"), None, [web, api], D, D + DAY, D + DAY)
    [i] = c.incidents
    assert (i.seconds, i.maintenance_seconds, i.overrun_seconds) == (1200, 300, 900)


# ---------------------------------------------------------------- occurrences, retroactive


def test_window_occurrences_are_whole_and_in_the_period():
    weekly = Maintenance("w", rrule="FREQ=DAILY;BYHOUR=23", duration=2 * H, timezone="UTC")
    got = window_occurrences(weekly, D, D + 2 * DAY)
    # yesterday 23:00 runs into the period; today and tomorrow 23:00
    assert got == [(D - H, D + H), (D + 23 * H, D + 25 * H), (D + 47 * H, D + 49 * H)]
    once = Maintenance("o", start=datetime(2026, 11, 3, 10, tzinfo=UTC),
                       end=datetime(2026, 11, 3, 11, tzinfo=UTC))
    assert window_occurrences(once, D, D + DAY) == [(at(10), at(11))]
    assert window_occurrences(once, D + DAY, D + 2 * DAY) == []


@pytest.mark.parametrize(
    "start, first_seen, since, expected",
    [
        (100.0, None, None, None),  # never recorded
        (100.0, 50.0, 10.0, False),  # seen before it began
        (100.0, 100.0, 10.0, False),  # seen as it began
        (100.0, 150.0, 10.0, True),  # added after it began
        (100.0, 150.0, 150.0, None),  # was there when recording began: cannot tell
        (200.0, 150.0, 150.0, False),  # ... but later occurrences are not retroactive
        (100.0, 150.0, None, True),
    ],
)
def test_retroactive(start, first_seen, since, expected):
    assert retroactive(start, first_seen, since) is expected


def test_window_uses_list_occurrences_with_the_down_time_they_excluded():
    down = ((at(10), at(10, 30)),)
    hours = ((D, D + DAY),)
    w = Maintenance("cab", probes=("web",), start=datetime(2026, 11, 3, 10, 20, tzinfo=UTC),
                    end=datetime(2026, 11, 3, 12, tzinfo=UTC), category="customer",
                    reason="customer change", ticket="CAB-7")
    other = Maintenance("elsewhere", probes=("db",), start=datetime(2026, 11, 3, tzinfo=UTC),
                        end=datetime(2026, 11, 4, tzinfo=UTC))
    [u] = window_uses([w, other], [(WEB, down, hours), (API, (), hours)], D, D + DAY,
                      {"cab": at(11)}, at(0))
    assert (u.id, u.category, u.reason, u.ticket) == ("cab", "customer", "customer change",
                                                      "CAB-7")
    assert (u.start, u.end, u.seconds, u.probes) == (at(10, 20), at(12), 100 * M, ("web",))
    assert u.excluded_down_seconds == 10 * M
    assert u.retroactive is True and u.first_seen == at(11)


def test_fingerprint_follows_when_and_what_not_the_words():
    w = Maintenance("m", start=datetime(2026, 11, 3, 10, tzinfo=UTC),
                    end=datetime(2026, 11, 3, 11, tzinfo=UTC), reason="a", ticket="T-1")
    from dataclasses import replace

    assert window_fingerprint(w) == window_fingerprint(replace(w, reason="b", ticket="T-2"))
    assert window_fingerprint(w) != window_fingerprint(
        replace(w, end=datetime(2026, 11, 3, 12, tzinfo=UTC)))
    assert window_fingerprint(w) != window_fingerprint(replace(w, category="customer"))


def test_windows_seen_keeps_the_first_sighting_and_sees_edits_anew(tmp_path):
    w = Maintenance("m", start=datetime(2026, 11, 3, 10, tzinfo=UTC),
                    end=datetime(2026, 11, 3, 11, tzinfo=UTC))
    with Store(tmp_path / "s.db") as store:
        assert seen(store.conn, [w]) == ({}, None)
        record(store.conn, [w], 1000.0)
        record(store.conn, [w], 2000.0)  # seen again: the first sighting stays
        assert seen(store.conn, [w]) == ({"m": 1000.0}, 1000.0)
        edited = Maintenance("m", start=w.start, end=datetime(2026, 11, 3, 12, tzinfo=UTC))
        record(store.conn, [edited], 3000.0)
        assert seen(store.conn, [edited]) == ({"m": 3000.0}, 1000.0)
    assert read_seen(tmp_path / "s.db", [w]) == ({"m": 1000.0}, 1000.0)
    assert read_seen(tmp_path / "none.db", [w]) == ({}, None)


# ---------------------------------------------------------------- end to end

CONFIG = """
[agent]
name = "local"
database = "x.db"
timezone = "UTC"

[sla.gold]
objective = 99.9

[clients.acme]
name = "ACME Corp"
sla = "gold"

[[probes]]
id = "acme-web"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 9
interval = "60s"

[[maintenance]]
id = "patch"
probes = ["acme-web"]
start = "2026-10-05T10:05:00Z"
end = "2026-10-05T10:15:00Z"
reason = "kernel patch"
ticket = "CHG-1"
"""

LATE_WINDOW = """
[[maintenance]]
id = "freeze"
clients = ["acme"]
start = "2026-10-20T03:00:00Z"
end = "2026-10-20T03:30:00Z"
category = "customer"
reason = "customer asked for it"
"""


@pytest.fixture
def october(tmp_path: Path) -> Path:
    """October 2026, a check a minute; down 10-05 10:10-10:30 and 10-20 03:00-04:00."""
    cfg = tmp_path / "probes.toml"
    cfg.write_text(CONFIG)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    lines = []
    for minute in range(31 * 24 * 60):
        t = start + timedelta(minutes=minute)
        down = (t.day == 5 and t.hour == 10 and 10 <= t.minute < 30) or (t.day == 20
                                                                          and t.hour == 3)
        lines.append(json.dumps({"probe": "acme-web", "ts": t.isoformat(), "ok": not down,
                                 "latency_ms": None if down else 20.0,
                                 "error": "timeout: x" if down else None, "interval_s": 60}))
    src = tmp_path / "oct.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = slaprobe("import", "--config", str(cfg), str(src))
    assert out.returncode == 0, out.stderr
    return cfg


def _report(cfg: Path) -> dict:
    out = slaprobe("report", "--config", str(cfg), "--period", "2026-10", "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_window_added_after_its_start_is_flagged_with_the_down_time_it_excluded(october):
    first = _report(october)  # slaprobe sees the configuration: "patch" is in its record
    [patch] = first["windows"]
    assert patch["retroactive"] is None  # configured before slaprobe kept a record
    assert patch["first_seen"] is not None
    assert first["probes"][0]["down_seconds"] == pytest.approx(15 * M + H)
    october.write_text(CONFIG + LATE_WINDOW)  # added in November, for October 20th
    data = _report(october)
    by_id = {w["id"]: w for w in data["windows"]}
    freeze = by_id["freeze"]
    assert freeze["retroactive"] is True
    assert freeze["category"] == "customer" and freeze["reason"] == "customer asked for it"
    assert freeze["excluded_down_seconds"] == pytest.approx(30 * M)
    assert freeze["first_seen"] > freeze["start"]
    assert by_id["patch"]["first_seen"] == patch["first_seen"]  # the first sighting stays
    [web] = data["probes"]
    assert web["down_seconds"] == pytest.approx(15 * M + 30 * M)
    assert web["excluded_seconds"] == {"maintenance": 600.0, "customer": 1800.0}
    assert sum(web["excluded_seconds"].values()) == pytest.approx(web["maintenance_seconds"])
    table = slaprobe("report", "--config", str(october), "--period", "2026-10", "--format",
                     "md").stdout
    assert "| freeze | customer |" in table and "YES" in table


def test_overrun_is_shown_in_incidents_and_reports(october):
    out = slaprobe("incidents", "--config", str(october), "--period", "2026-10",
                   "--format", "json")
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)[0]
    assert first["start"] == "2026-10-05T10:10:00+00:00"
    assert (first["maintenance_seconds"], first["overrun_seconds"]) == (300.0, 900.0)
    table = slaprobe("incidents", "--config", str(october), "--period", "2026-10",
                     "--format", "table").stdout
    assert "overrun" in table and "15m 00s" in table
    md = slaprobe("report", "--config", str(october), "--period", "2026-10", "--format",
                  "md").stdout
    assert "| in maint. | overrun |" in md and "| 5m 00s | 15m 00s |" in md
    html = slaprobe("report", "--config", str(october), "--period", "2026-10", "--format",
                    "html").stdout
    assert '<th class="num">overrun</th>' in html


def test_check_records_the_windows_it_validates(october):
    assert slaprobe("check", "--config", str(october)).returncode == 0
    db = october.parent / "x.db"
    _, since = read_seen(db, [])
    assert since is not None
    from slaprobe.config import load_config

    got, _ = read_seen(db, load_config(october).maintenance)
    assert set(got) == {"patch"}
