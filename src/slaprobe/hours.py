"""SLA business hours ("24x7", "Mon-Fri 09:00-17:00") -> UTC intervals over a period.

Hours are wall-clock times in the SLA's IANA zone, so they are placed by
walking local calendar days, never by adding 24 h to a UTC instant: a
09:00-17:00 day lasts 8 h on a DST change day too, while a 00:00-24:00 day
lasts 23 h on the spring-forward day and 25 h in autumn.

The text is read by `config.parse_hours`, the same function that validates
probes.toml, so what `slaprobe check` accepts is exactly what reports use.
Pre-parsed rules may also end at or before their start minute, meaning the
next day (the configuration parser asks for such ranges to be split).

Usage: ``hours_intervals("Mon-Fri 09:00-17:00", "Europe/Berlin", start, end)``
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .config import Config, parse_hours
from .intervals import Intervals, clip, normalize

__all__ = ["HourRule", "hours_intervals", "hours_ms", "hours_spec", "local_to_ts", "parse_hours",
           "probe_hours_specs"]

HourRule = tuple[int, int, int]  # (weekday 0=Mon, start minute, end minute)


def local_to_ts(naive: datetime, zone: ZoneInfo) -> float:
    """Wall-clock time in `zone` -> epoch seconds.

    Ambiguous times (autumn) take the first occurrence (fold=0); times that do
    not exist (spring gap) are read with the offset before the change, which
    moves them forward by the gap (02:30 on a Berlin spring day is 03:30 CEST).
    """
    return naive.replace(tzinfo=zone, fold=0).timestamp()


@functools.lru_cache(maxsize=256)
def hours_intervals(hours: str | tuple[HourRule, ...], timezone: str | ZoneInfo,
                    start: float, end: float) -> Intervals:
    """The part of ``[start, end)`` inside the hours, as UTC intervals.

    Cached (the result is an immutable tuple): a report asks the same SLA's hours
    over the same period for every probe and client it holds.

    1. Parse the hours (a pre-parsed rule tuple is taken as is); 24x7 is the
       whole range.
    2. For every local date from the day before `start` to the day after
       `end` (in the zone), each rule of that weekday yields the local range
       date+start .. date+end (or next day+end when it wraps).
    3. Each local bound becomes UTC on its own (see `local_to_ts`), then the
       ranges are merged and clipped to ``[start, end)``.
    """
    rules = parse_hours(hours) if isinstance(hours, str) else tuple(hours)
    if start >= end:
        return ()
    if not rules:
        return ((start, end),)
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    by_day: dict[int, list[tuple[int, int]]] = {}
    for wd, a, b in rules:
        by_day.setdefault(wd, []).append((a, b))
    first = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date() + timedelta(days=1)
    pairs: list[tuple[float, float]] = []
    day = first
    while day <= last:
        for a, b in by_day.get(day.weekday(), ()):
            end_day = day if b > a else day + timedelta(days=1)
            pairs.append((local_to_ts(_at(day, a), zone), local_to_ts(_at(end_day, b), zone)))
        day += timedelta(days=1)
    return clip(normalize(pairs), start, end)


@functools.lru_cache(maxsize=64)
def hours_spec(hours: str, timezone: str) -> str | None:
    """The text naming an SLA's hours for the store's SLA-hours rollups, e.g.
    "Mon-Fri 08:00-18:00@Europe/Berlin"; None for 24x7 (plain rollups serve it)."""
    if not parse_hours(hours):
        return None
    return f"{hours}@{timezone}"


def probe_hours_specs(config: Config) -> dict[str, str | None]:
    """Each probe's `hours_spec` under its SLA (None: 24x7, or no SLA), for
    `Store.set_sla_hours` before a roll-up."""
    out: dict[str, str | None] = {}
    for p in config.probes.values():
        sla = config.sla_for_probe(p)
        out[p.id] = hours_spec(sla.hours, sla.timezone) if sla is not None else None
    return out


@functools.lru_cache(maxsize=64)
def hours_ms(spec: str, lo_ms: int, hi_ms: int) -> tuple[tuple[int, int], ...]:
    """The hours of a `hours_spec` inside [lo_ms, hi_ms), in whole milliseconds: a check
    stored at ts_ms lies in the hours exactly when ``a <= ts_ms < b`` for one (a, b), the
    same test as ``start <= ts_ms / 1000 < end`` on `hours_intervals`."""
    from .latency_digest import _first_ms_at_or_after as first_ms

    hours, _, zone = spec.rpartition("@")
    out: list[tuple[int, int]] = []
    for s, e in hours_intervals(hours, zone, lo_ms / 1000, hi_ms / 1000):
        a, b = first_ms(s), first_ms(e)
        if a < b:
            out.append((a, b))
    return tuple(out)


def _at(day: date, minute: int) -> datetime:
    """Naive local datetime of `minute` after midnight; 1440 is the next midnight."""
    return datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
