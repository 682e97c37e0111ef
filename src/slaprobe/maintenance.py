"""Maintenance windows -> UTC intervals (one-off and recurring RRULE windows).

A recurring window's starts are wall-clock times in its IANA zone: "Sunday
04:00 Europe/Berlin" is 02:00Z in summer and 03:00Z in winter. So the rule is
expanded by dateutil in naive local time, and only then is each start turned
into UTC with zoneinfo. `duration` is elapsed time from that instant, so a
2 h window that crosses a DST change still lasts 2 h.

Choices where RFC 5545 and the configuration leave room:

- An ambiguous local start (the repeated autumn hour) is its first
  occurrence (fold=0); a start that does not exist (the spring-forward gap)
  is read with the offset before the change, i.e. moved forward by the gap
  (02:30 on 2026-03-29 in Berlin starts at 03:30 CEST = 01:30Z).
- Without `dtstart` the rule holds for all past and future. Fields the rule
  leaves out come from a fixed anchor, Monday 2001-01-01 00:00:00 local
  time: minutes and seconds are 0 (``BYHOUR=4`` is 04:00), ``FREQ=WEEKLY``
  without BYDAY is Mondays, MONTHLY without a day is the 1st, and INTERVAL>1
  counts from that anchor (so would COUNT: give a dtstart with COUNT). A
  fixed anchor (rather than one near the queried range) keeps every report
  of the same month identical, whenever it is run.
- dateutil does not make `dtstart` itself an occurrence unless it matches the
  rule, unlike RFC 5545; a start of the rule that is not an occurrence adds
  no window.
- ``UNTIL=...Z`` (UTC, as RFC 5545 asks) is compared in local time after
  conversion, since starts are expanded as naive local times.

Usage: ``maintenance_intervals(config.maintenance, probe, start, end)``
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from .config import Maintenance, Probe
from .hours import local_to_ts
from .intervals import Intervals, clip, normalize, union

ANCHOR = datetime(2001, 1, 1)  # a Monday, January 1st, midnight
_STEP = {"WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1),
         "HOURLY": timedelta(hours=1), "MINUTELY": timedelta(minutes=1),
         "SECONDLY": timedelta(seconds=1)}


def covers(window: Maintenance, probe: Probe) -> bool:
    """Whether the window applies to the probe: named, its client named, or nothing named."""
    if not window.probes and not window.clients:
        return True
    if probe.id in window.probes:
        return True
    return probe.client is not None and probe.client in window.clients


@functools.lru_cache(maxsize=1024)
def window_intervals(window: Maintenance, start: float, end: float) -> Intervals:
    """The window's time inside ``[start, end)`` as UTC intervals.

    Cached: a report or status asks the same window over the same range once
    per probe, and expanding an RRULE costs ~80 µs (windows are immutable).

    1. One-off: ``[start, end)`` of the aware datetimes.
    2. Recurring: expand the rule over the range in naive local time, widened
       by one duration and a day each side (so a window that began before the
       range, and DST offsets, are not missed).
    3. Each local start -> UTC (see `hours.local_to_ts`); the window is
       ``[utc, utc + duration)``; merge and clip to the range.
    """
    if start >= end:
        return ()
    if window.rrule is None:
        if window.start is None or window.end is None:
            raise ValueError(f"maintenance {window.id!r}: needs start and end, or rrule + duration")
        return clip(((window.start.timestamp(), window.end.timestamp()),), start, end)
    if window.duration is None:
        raise ValueError(f"maintenance {window.id!r}: a recurring window needs a duration")
    zone = ZoneInfo(window.timezone)
    duration = float(window.duration)
    lo = _local(start, zone) - timedelta(seconds=duration) - timedelta(days=1)
    hi = _local(end, zone) + timedelta(days=1)
    pairs = [(t, t + duration) for t in (local_to_ts(o, zone) for o in occurrences(window, lo, hi))]
    return clip(normalize(pairs), start, end)


def window_occurrences(window: Maintenance, start: float, end: float) -> list[tuple[float, float]]:
    """Each occurrence of the window that overlaps ``[start, end)``, whole (not clipped).

    A one-off window is its one ``(start, end)``; a recurring one each
    ``(utc start, + duration)``, expanded as in `window_intervals`. Sorted;
    occurrences that overlap each other are listed apart.
    """
    if start >= end:
        return []
    if window.rrule is None:
        if window.start is None or window.end is None:
            return []
        s, e = window.start.timestamp(), window.end.timestamp()
        return [(s, e)] if s < end and e > start else []
    if window.duration is None:
        return []
    zone = ZoneInfo(window.timezone)
    duration = float(window.duration)
    lo = _local(start, zone) - timedelta(seconds=duration) - timedelta(days=1)
    hi = _local(end, zone) + timedelta(days=1)
    starts = sorted({local_to_ts(o, zone) for o in occurrences(window, lo, hi)})
    return [(t, t + duration) for t in starts if t < end and t + duration > start]


def maintenance_intervals(windows: Iterable[Maintenance], probe: Probe,
                          start: float, end: float) -> Intervals:
    """Union of the windows covering the probe, inside ``[start, end)``."""
    return union(*[window_intervals(w, start, end) for w in windows if covers(w, probe)], ())


def occurrences(window: Maintenance, lo: datetime, hi: datetime) -> list[datetime]:
    """Naive local starts of a recurring window with ``lo <= start <= hi``."""
    assert window.rrule is not None
    zone = ZoneInfo(window.timezone)
    text, parts = _prepare(window.rrule, zone)
    if window.dtstart is not None:
        anchor = window.dtstart.astimezone(zone).replace(tzinfo=None) if window.dtstart.tzinfo \
            else window.dtstart
        months_ok = False
    else:
        anchor, months_ok = ANCHOR, True
    if parts is not None and "COUNT" not in parts:
        anchor = _jump(anchor, parts, lo, months_ok)
    rule = rrulestr(text, dtstart=anchor)
    return list(rule.between(lo, hi, inc=True))


def _local(ts: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, zone).replace(tzinfo=None)


def _prepare(text: str, zone: ZoneInfo) -> tuple[str, dict[str, str] | None]:
    """Rewrite ``UNTIL=...Z`` to naive local time; return the rule and its parts.

    Parts are None for anything but a single plain RRULE line, which is then
    passed to dateutil untouched (and not fast-forwarded).
    """
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if "\n" in body or ":" in body:
        return text, None
    parts: dict[str, str] = {}
    for item in body.split(";"):
        key, _, value = item.partition("=")
        parts[key.strip().upper()] = value.strip()
    until = parts.get("UNTIL", "")
    if until.upper().endswith("Z"):
        fmt = "%Y%m%dT%H%M%S" if "T" in until.upper() else "%Y%m%d"
        utc = datetime.strptime(until[:-1].upper(), fmt).replace(tzinfo=UTC)
        parts["UNTIL"] = utc.astimezone(zone).strftime("%Y%m%dT%H%M%S")
    return ";".join(f"{k}={v}" for k, v in parts.items()), parts


def _jump(anchor: datetime, parts: dict[str, str], lo: datetime, months_ok: bool) -> datetime:
    """Move the rule's start forward by whole periods (FREQ x INTERVAL) to just before `lo`.

    The occurrences after the moved start are exactly those of the original
    rule (dateutil never adds dtstart itself), and expanding a daily rule
    from 2001 on every report would cost thousands of steps. Month and year
    steps are taken only from the fixed anchor (day 1 exists in every month).
    """
    if anchor >= lo:
        return anchor
    freq = parts.get("FREQ", "").upper()
    try:
        every = max(1, int(parts.get("INTERVAL", "1")))
    except ValueError:
        return anchor
    if freq in _STEP:
        step = _STEP[freq] * every
        k = (lo - anchor) // step
        return anchor + step * k
    if months_ok and freq in ("MONTHLY", "YEARLY"):
        per = every if freq == "MONTHLY" else 12 * every
        months = (lo.year - anchor.year) * 12 + (lo.month - anchor.month)
        k = months // per
        m = anchor.month - 1 + k * per
        return anchor.replace(year=anchor.year + m // 12, month=m % 12 + 1)
    return anchor
