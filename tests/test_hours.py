from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slaprobe.hours import hours_intervals, parse_hours
from slaprobe.intervals import total

H = 3600.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text, expected", [
    ("24x7", ()),
    ("Mon-Fri 09:00-17:00", tuple((d, 540, 1020) for d in range(5))),
    ("sat 10:00-14:00", ((5, 600, 840),)),
    ("Sat-Mon 00:00-24:00", ((0, 0, 1440), (5, 0, 1440), (6, 0, 1440))),  # ranges wrap
])
def test_hours_text_is_read_by_the_config_parser(text, expected):
    assert parse_hours(text) == expected


def test_24x7_is_the_whole_range():
    assert hours_intervals("24x7", "Europe/Berlin", 100.0, 200.0) == ((100.0, 200.0),)


def test_business_hours_berlin_across_a_week():
    # Mon 2026-11-02 .. Mon 2026-11-09 local; CET is UTC+1, so 09:00-17:00 is 08:00Z-16:00Z.
    start, end = utc(2026, 11, 1, 23), utc(2026, 11, 8, 23)
    got = hours_intervals("Mon-Fri 09:00-17:00", "Europe/Berlin", start, end)
    assert got == tuple((utc(2026, 11, d, 8), utc(2026, 11, d, 16)) for d in range(2, 7))
    assert total(got) == 40 * H


def test_business_hours_follow_summer_time():
    # Wed 2026-07-01 in CEST (UTC+2): 07:00Z-15:00Z.
    got = hours_intervals("Wed 09:00-17:00", "Europe/Berlin", utc(2026, 7, 1), utc(2026, 7, 2))
    assert got == ((utc(2026, 7, 1, 7), utc(2026, 7, 1, 15)),)


@pytest.mark.parametrize("day, full_day_hours", [
    ((2026, 3, 29), 23),   # spring forward: 02:00 -> 03:00
    ((2026, 10, 25), 25),  # fall back: 03:00 -> 02:00
    ((2026, 11, 1), 24),
])
def test_dst_day_lengths(day, full_day_hours):
    start, end = utc(*day) - 2 * 86400, utc(*day) + 2 * 86400
    sunday = hours_intervals("Sun 00:00-24:00", "Europe/Berlin", start, end)
    assert total(sunday) == full_day_hours * H
    office = hours_intervals("Sun 09:00-17:00", "Europe/Berlin", start, end)
    assert total(office) == 8 * H


def test_spring_forward_day_bounds():
    got = hours_intervals("Sun 00:00-24:00", "Europe/Berlin", utc(2026, 3, 27), utc(2026, 3, 31))
    assert got == ((utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),)


def test_hours_clipped_to_range():
    got = hours_intervals("Mon-Fri 09:00-17:00", "UTC", utc(2026, 11, 2, 12), utc(2026, 11, 3, 10))
    assert got == ((utc(2026, 11, 2, 12), utc(2026, 11, 2, 17)),
                   (utc(2026, 11, 3, 9), utc(2026, 11, 3, 10)))


def test_preparsed_overnight_rule_runs_into_next_day():
    got = hours_intervals(((4, 1320, 360),), "UTC", utc(2026, 11, 6), utc(2026, 11, 8))
    assert got == ((utc(2026, 11, 6, 22), utc(2026, 11, 7, 6)),)


def test_preparsed_rules_accepted():
    rules = ((0, 540, 1020),)
    got = hours_intervals(rules, "UTC", utc(2026, 11, 2), utc(2026, 11, 3))
    assert got == ((utc(2026, 11, 2, 9), utc(2026, 11, 2, 17)),)
