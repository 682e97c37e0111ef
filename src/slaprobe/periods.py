"""Report periods from the command line: --period YYYY-MM, --from/--to, or this month so far.

A month is a calendar month in the agent's zone, so its length follows DST
(a Berlin March 2026 is 743 h, its October 745 h). Times leave here as epoch
seconds.

Choices where the SPEC leaves room:

- ``--period`` of a month that has not ended keeps the month's end and is
  marked partial: time after `now` has no check standing for it and reads as
  unknown (lowering coverage, not availability). No period at all means
  "this month so far": the end is `now`.
- ``--from`` without ``--to`` runs until now (partial); ``--to`` without
  ``--from`` is an error (from when?); ``--period`` with either is an error.

Usage: ``start, end, partial = resolve_period("2026-11", None, None, "UTC", time.time())``
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InputError
from .hours import local_to_ts

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise InputError(f"unknown time zone {tz!r}; use an IANA name such as Europe/Berlin") from e


def _month_start(year: int, month: int, zone: ZoneInfo) -> float:
    return local_to_ts(datetime(year, month, 1), zone)


def month_period(text: str, tz: str | ZoneInfo, *, field: str = "--period") -> tuple[float, float]:
    """``"2026-03"`` -> (start, end) of that calendar month in `tz`, as epoch seconds."""
    m = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(f"{field} {text!r}: expected a month as YYYY-MM, e.g. 2026-11")
    year, month = int(m.group(1)), int(m.group(2))
    if year < 1:
        raise InputError(f"{field} {text!r}: year out of range")
    zone = _zone(tz)
    nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
    return _month_start(year, month, zone), _month_start(nyear, nmonth, zone)


def parse_instant(text: str, tz: str | ZoneInfo, *, field: str) -> float:
    """An RFC 3339 time with offset, or a date (its local midnight in `tz`) -> epoch seconds.

    Raises InputError naming `field` (e.g. "--from") with what to write instead.
    """
    s = text.strip() if isinstance(text, str) else ""
    if _DATE.match(s):
        try:
            day = date.fromisoformat(s)
        except ValueError as e:
            raise InputError(f"{field} {text!r}: not a valid date ({e})") from e
        return local_to_ts(datetime(day.year, day.month, day.day), _zone(tz))
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise InputError(
            f"{field} {text!r}: expected an RFC 3339 time with offset "
            "(2026-11-03T10:00:00Z, 2026-11-03T11:00:00+01:00) or a date (2026-11-03)"
        ) from None
    if dt.tzinfo is None:
        raise InputError(f"{field} {text!r}: the time has no UTC offset; "
                         f"add one ({s}Z or {s}+01:00) or give a date")
    return dt.timestamp()


def resolve_period(period: str | None, from_: str | None, to: str | None,
                   tz: str | ZoneInfo, now: float) -> tuple[float, float, bool]:
    """(start, end, partial) from the period flags.

    1. ``--period`` (alone): that month; partial when it ends after `now`.
    2. ``--from`` [``--to``]: to is exclusive, default `now`; partial when
       the end is after `now` or was not given.
    3. Neither: this month (in `tz`) until `now`, partial.
    """
    if period is not None:
        if from_ is not None or to is not None:
            raise InputError("--period cannot be combined with --from/--to; use one or the other")
        start, end = month_period(period, tz)
        return start, end, end > now
    if to is not None and from_ is None:
        raise InputError("--to needs --from: give the start of the period too")
    if from_ is not None:
        start = parse_instant(from_, tz, field="--from")
        end = now if to is None else parse_instant(to, tz, field="--to")
        if end <= start:
            what = "now" if to is None else "--to"
            raise InputError(f"--from {from_!r} must be before {what} (--to is exclusive)")
        return start, end, to is None or end > now
    zone = _zone(tz)
    local = datetime.fromtimestamp(now, zone)
    return _month_start(local.year, local.month, zone), now, True
