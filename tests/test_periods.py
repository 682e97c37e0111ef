from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slaprobe.errors import InputError
from slaprobe.periods import month_period, parse_instant, resolve_period

H = 3600.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("month, tz, start, hours", [
    ("2026-11", "UTC", utc(2026, 11, 1), 30 * 24),
    ("2026-03", "Europe/Berlin", utc(2026, 2, 28, 23), 31 * 24 - 1),   # spring forward
    ("2026-10", "Europe/Berlin", utc(2026, 9, 30, 22), 31 * 24 + 1),   # fall back
    ("2026-12", "Europe/Berlin", utc(2026, 11, 30, 23), 31 * 24),      # year boundary
    ("2028-02", "America/New_York", utc(2028, 2, 1, 5), 29 * 24),       # leap year
])
def test_month_period_in_zone(month, tz, start, hours):
    s, e = month_period(month, tz)
    assert s == start
    assert e - s == hours * H


def test_consecutive_months_meet():
    berlin = "Europe/Berlin"
    october, november = month_period("2026-10", berlin), month_period("2026-11", berlin)
    assert october[1] == november[0]


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-11", "november", "2026-00", ""])
def test_month_period_rejects_naming_the_flag(bad):
    with pytest.raises(InputError, match="--period"):
        month_period(bad, "UTC")


@pytest.mark.parametrize("text, expected", [
    ("2026-11-03T10:00:00Z", utc(2026, 11, 3, 10)),
    ("2026-11-03T11:00:00+01:00", utc(2026, 11, 3, 10)),
    ("2026-11-03T10:00:00.500z", utc(2026, 11, 3, 10) + 0.5),
    ("2026-11-03", utc(2026, 11, 2, 23)),            # local midnight in Berlin
    ("2026-07-03", utc(2026, 7, 2, 22)),
])
def test_parse_instant(text, expected):
    assert parse_instant(text, "Europe/Berlin", field="--from") == expected


@pytest.mark.parametrize("bad, why", [
    ("2026-11-03T10:00:00", "no UTC offset"),
    ("yesterday", "RFC 3339"),
    ("2026-02-30", "not a valid date"),
])
def test_parse_instant_errors_name_the_flag(bad, why):
    with pytest.raises(InputError, match=f"--to.*{why}"):
        parse_instant(bad, "UTC", field="--to")


NOW = utc(2026, 11, 15, 12)


def test_no_flags_is_this_month_so_far():
    got = resolve_period(None, None, None, "Europe/Berlin", NOW)
    assert got == (utc(2026, 10, 31, 23), NOW, True)


def test_past_month_is_complete():
    got = resolve_period("2026-10", None, None, "UTC", NOW)
    assert got == (utc(2026, 10, 1), utc(2026, 11, 1), False)


def test_current_month_keeps_its_end_and_is_partial():
    got = resolve_period("2026-11", None, None, "UTC", NOW)
    assert got == (utc(2026, 11, 1), utc(2026, 12, 1), True)


def test_from_to_is_exclusive_range():
    got = resolve_period(None, "2026-11-01", "2026-11-08", "UTC", NOW)
    assert got == (utc(2026, 11, 1), utc(2026, 11, 8), False)


def test_from_without_to_runs_until_now():
    got = resolve_period(None, "2026-11-10T00:00:00Z", None, "UTC", NOW)
    assert got == (utc(2026, 11, 10), NOW, True)


@pytest.mark.parametrize("period, from_, to, match", [
    (None, None, "2026-11-08", "--to needs --from"),
    ("2026-11", "2026-11-01", None, "--period cannot be combined"),
    (None, "2026-11-08", "2026-11-01", "before --to"),
    (None, "2026-12-01", None, "before now"),
])
def test_resolve_period_errors(period, from_, to, match):
    with pytest.raises(InputError, match=match):
        resolve_period(period, from_, to, "UTC", NOW)


def test_unknown_zone_is_input_error():
    with pytest.raises(InputError, match="time zone"):
        resolve_period("2026-11", None, None, "Mars/Olympus", NOW)
