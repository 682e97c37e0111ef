from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from slaprobe.config import Maintenance, Probe
from slaprobe.intervals import total
from slaprobe.maintenance import covers, maintenance_intervals, window_intervals

H = 3600.0
DAY = 86400.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def weekly(rule: str = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=4;BYMINUTE=0", **kw) -> Maintenance:
    base: dict = {"id": "patch", "rrule": rule, "duration": 2 * H, "timezone": "Europe/Berlin"}
    return Maintenance(**(base | kw))


WEB = Probe("acme-web", "http", client="acme")
DB = Probe("acme-db", "tcp", client="acme")
OTHER = Probe("other", "tcp", client="globex")
LONE = Probe("lone", "tcp")


def test_one_off_window_is_its_start_and_end():
    w = Maintenance("up", start=datetime(2026, 11, 29, 2, tzinfo=timezone(timedelta(hours=1))),
                    end=datetime(2026, 11, 29, 4, tzinfo=timezone(timedelta(hours=1))))
    assert window_intervals(w, utc(2026, 11, 1), utc(2026, 12, 1)) == \
        ((utc(2026, 11, 29, 1), utc(2026, 11, 29, 3)),)
    assert window_intervals(w, utc(2026, 11, 29, 2), utc(2026, 11, 29, 2, 30)) == \
        ((utc(2026, 11, 29, 2), utc(2026, 11, 29, 2, 30)),)  # clipped
    assert window_intervals(w, utc(2026, 12, 1), utc(2026, 12, 2)) == ()


@pytest.mark.parametrize("day, start_utc_hour", [
    ((2026, 7, 5), 2),    # CEST: Sunday 04:00 Berlin is 02:00Z
    ((2026, 11, 29), 3),  # CET: 03:00Z
])
def test_recurring_window_follows_dst(day, start_utc_hour):
    got = window_intervals(weekly(), utc(*day), utc(*day) + DAY)
    s = utc(*day, start_utc_hour)
    assert got == ((s, s + 2 * H),)


def test_recurring_window_every_week_of_a_month():
    got = window_intervals(weekly(), utc(2026, 11, 1), utc(2026, 12, 1))
    assert [s for s, _ in got] == [utc(2026, 11, d, 3) for d in (1, 8, 15, 22, 29)]
    assert total(got) == 5 * 2 * H


def test_window_crossing_the_autumn_change_lasts_its_elapsed_duration():
    # Sunday 2026-10-25 01:30 CEST = 23:30Z Saturday; 3 h elapsed ends 02:30Z (03:30 CET).
    w = weekly("FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30", duration=3 * H)
    got = window_intervals(w, utc(2026, 10, 24), utc(2026, 10, 26))
    assert got == ((utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 30)),)


def test_ambiguous_start_takes_the_first_occurrence():
    # 02:30 happens twice on 2026-10-25 in Berlin; fold=0 is 02:30 CEST = 00:30Z.
    w = weekly("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", duration=H)
    got = window_intervals(w, utc(2026, 10, 24), utc(2026, 10, 26))
    assert got == ((utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),)


def test_nonexistent_start_moves_forward_by_the_gap():
    # 02:30 does not exist on 2026-03-29 in Berlin: read as 02:30 CET = 01:30Z (03:30 CEST).
    w = weekly("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", duration=H)
    got = window_intervals(w, utc(2026, 3, 28), utc(2026, 3, 30))
    assert got == ((utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)),)


def test_window_started_before_the_range_is_included():
    w = weekly("FREQ=DAILY;BYHOUR=23;BYMINUTE=0", duration=4 * H, timezone="UTC")
    got = window_intervals(w, utc(2026, 11, 2), utc(2026, 11, 2, 12))
    assert got == ((utc(2026, 11, 2), utc(2026, 11, 2, 3)),)


def test_without_dtstart_unspecified_fields_come_from_monday_midnight():
    # BYHOUR without BYMINUTE is on the hour; WEEKLY without BYDAY is Mondays.
    w = weekly("FREQ=WEEKLY;BYHOUR=5", duration=H, timezone="UTC")
    got = window_intervals(w, utc(2026, 11, 1), utc(2026, 11, 15))
    assert got == ((utc(2026, 11, 2, 5), utc(2026, 11, 2, 6)),
                   (utc(2026, 11, 9, 5), utc(2026, 11, 9, 6)))


def test_interval_rules_do_not_depend_on_the_queried_range():
    w = weekly("FREQ=DAILY;INTERVAL=3;BYHOUR=1", duration=H, timezone="UTC")
    whole = window_intervals(w, utc(2026, 11, 1), utc(2026, 12, 1))
    for day in range(1, 30):
        part = window_intervals(w, utc(2026, 11, day), utc(2026, 11, day + 1))
        assert part == tuple((s, e) for s, e in whole
                             if utc(2026, 11, day) <= s < utc(2026, 11, day + 1))
    assert len(whole) == 10


def test_monthly_rule_without_day_is_the_first():
    w = weekly("FREQ=MONTHLY;BYHOUR=2", duration=H, timezone="UTC")
    assert window_intervals(w, utc(2026, 10, 15), utc(2026, 12, 15)) == (
        (utc(2026, 11, 1, 2), utc(2026, 11, 1, 3)), (utc(2026, 12, 1, 2), utc(2026, 12, 1, 3)))


def test_dtstart_bounds_the_rule_and_gives_its_fields():
    start = datetime(2026, 11, 10, 6, 15, tzinfo=timezone(timedelta(hours=1)))
    w = weekly("FREQ=DAILY", duration=H, dtstart=start)  # 06:15 Berlin each day from the 10th
    got = window_intervals(w, utc(2026, 11, 8), utc(2026, 11, 13))
    assert [s for s, _ in got] == [utc(2026, 11, d, 5, 15) for d in (10, 11, 12)]


def test_until_in_utc_ends_the_rule():
    w = weekly("FREQ=DAILY;BYHOUR=4;BYMINUTE=0;UNTIL=20261105T000000Z", timezone="UTC", duration=H)
    got = window_intervals(w, utc(2026, 11, 1), utc(2026, 11, 30))
    assert [s for s, _ in got] == [utc(2026, 11, d, 4) for d in (1, 2, 3, 4)]


@pytest.mark.parametrize("window, probe, expected", [
    (Maintenance("a", probes=("acme-web",)), WEB, True),
    (Maintenance("a", probes=("acme-web",)), DB, False),
    (Maintenance("a", clients=("acme",)), DB, True),
    (Maintenance("a", clients=("acme",)), OTHER, False),
    (Maintenance("a", clients=("acme",)), LONE, False),
    (Maintenance("a"), LONE, True),  # neither list: everything
    (Maintenance("a", clients=("globex",), probes=("acme-db",)), DB, True),
])
def test_window_scope(window, probe, expected):
    assert covers(window, probe) is expected


def test_overlapping_windows_are_counted_once():
    one = Maintenance("one", start=datetime(2026, 11, 3, 10, tzinfo=UTC),
                      end=datetime(2026, 11, 3, 11, tzinfo=UTC))
    two = Maintenance("two", probes=("acme-web",),
                      start=datetime(2026, 11, 3, 10, 30, tzinfo=UTC),
                      end=datetime(2026, 11, 3, 12, tzinfo=UTC))
    other = Maintenance("three", probes=("other",),
                        start=datetime(2026, 11, 3, 13, tzinfo=UTC),
                        end=datetime(2026, 11, 3, 14, tzinfo=UTC))
    got = maintenance_intervals([one, two, other], WEB, utc(2026, 11, 3), utc(2026, 11, 4))
    assert got == ((utc(2026, 11, 3, 10), utc(2026, 11, 3, 12)),)
    assert total(got) == 2 * H
    assert maintenance_intervals([one, two, other], DB, utc(2026, 11, 3), utc(2026, 11, 4)) == \
        ((utc(2026, 11, 3, 10), utc(2026, 11, 3, 11)),)


def test_fine_grained_rule_expands_fast_from_the_2001_anchor():
    import time

    w = weekly("FREQ=MINUTELY;INTERVAL=30", duration=60.0, timezone="UTC")
    t0 = time.perf_counter()
    got = window_intervals(w, utc(2026, 11, 1), utc(2026, 11, 2))
    assert time.perf_counter() - t0 < 0.5
    assert len(got) == 48
