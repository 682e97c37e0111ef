"""Exclusions a contract can name: excluded time by category, and each window's use (pure).

Every ``[[maintenance]]`` window has a `category` (maintenance, customer,
third-party, force-majeure), an optional `reason` and `ticket`. A report
breaks each probe's and client's excluded time down by category and lists
every window occurrence in the period with the down time it took out of the
SLA, and whether the window is *retroactive*: first seen by slaprobe
(`windows_seen`) only after the occurrence had begun.

Choices where the SPEC leaves room:

- Overlapping windows of different categories: each excluded instant goes to
  the first category, in the order of `MAINTENANCE_CATEGORIES`, that has a
  window covering it (for a client: covering any of its probes then). So the
  categories sum to `maintenance_seconds`, and planned maintenance is never
  relabelled force majeure by an overlapping window.
- An occurrence's `seconds` is its wall time inside the period; its
  `excluded_down_seconds` is the down time (SPEC 5.4) of the reported probes
  it covers that lies inside it and inside each probe's SLA hours, summed
  over those probes. Windows overlapping each other each report the down
  time they cover.
- Retroactive: false when the occurrence starts at or after `first_seen`;
  true when it started before; null when slaprobe cannot tell: the window was
  already in the configuration when slaprobe began recording windows (the
  first recording after an upgrade or on a new database), or it was never
  recorded (a database it could not write).
- The fingerprint of a window covers what decides the excluded time and its
  category (times, rule, zone, probes, clients, category), not reason or
  ticket: changing when a window applies makes it a new window, seen anew.

Usage: ``excluded_by_category(intersect(hours, maint), [("maintenance", iv), ...])``
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import MAINTENANCE_CATEGORIES, Maintenance, Probe
from .intervals import Intervals, clip, intersect, subtract, total
from .maintenance import covers, window_occurrences

_ORDER = {c: i for i, c in enumerate(MAINTENANCE_CATEGORIES)}


@dataclass(frozen=True)
class WindowUse:
    """One occurrence of a window in the report's period."""

    id: str
    category: str
    reason: str | None
    ticket: str | None
    start: float  # the occurrence's own start and end (not clipped to the period)
    end: float
    seconds: float  # wall time inside the period
    probes: tuple[str, ...]  # the reported probes it covers
    first_seen: float | None
    retroactive: bool | None
    excluded_down_seconds: float


def category_order(category: str) -> int:
    return _ORDER.get(category, len(_ORDER))


def excluded_by_category(excluded: Intervals, by_category: Sequence[tuple[str, Intervals]],
                         ) -> tuple[tuple[str, float], ...]:
    """Seconds of `excluded` per category, only categories with time, in category order.

    1. Walk the categories in `MAINTENANCE_CATEGORIES` order; each takes the
       part of what is left that its windows cover.
    2. Anything no category covers (callers that give no categories) is
       "maintenance", the default category.
    With a single category the figure is `total(excluded)` itself, so it
    equals `maintenance_seconds` to the last bit.
    """
    left = excluded
    parts: dict[str, float] = {}
    for cat, iv in sorted(by_category, key=lambda p: category_order(p[0])):
        if not left:
            break
        part = intersect(left, iv)
        if part:
            parts[cat] = parts.get(cat, 0.0) + total(part)
            left = subtract(left, part)
    if left:
        parts["maintenance"] = parts.get("maintenance", 0.0) + total(left)
    if len(parts) == 1:
        return ((next(iter(parts)), total(excluded)),)
    return tuple(sorted(((c, s) for c, s in parts.items() if s > 0),
                        key=lambda p: category_order(p[0])))


def window_fingerprint(window: Maintenance) -> str:
    """SHA-256 of what decides the window's excluded time and category."""
    spec = {
        "start": window.start.isoformat() if window.start else None,
        "end": window.end.isoformat() if window.end else None,
        "rrule": window.rrule, "duration": window.duration, "timezone": window.timezone,
        "dtstart": window.dtstart.isoformat() if window.dtstart else None,
        "probes": sorted(window.probes), "clients": sorted(window.clients),
        "category": window.category,
    }
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def retroactive(occurrence_start: float, first_seen: float | None,
                seen_since: float | None) -> bool | None:
    """Whether an occurrence starting at `occurrence_start` was added after it began."""
    if first_seen is None:
        return None
    if occurrence_start >= first_seen:
        return False
    if seen_since is not None and first_seen <= seen_since:
        return None  # in the configuration before slaprobe kept a record
    return True


def window_uses(windows: Sequence[Maintenance],
                probes: Sequence[tuple[Probe, Intervals, Intervals]],
                start: float, end: float, first_seen: Mapping[str, float],
                seen_since: float | None = None) -> tuple[WindowUse, ...]:
    """Every occurrence in ``[start, end)`` of each window covering a reported probe.

    `probes` holds (probe, down intervals, SLA hours in the period) of each
    reported probe; `first_seen` maps a window id to when slaprobe first saw
    the window as it is now; `seen_since` is when it began recording windows.
    Sorted by start, then window id.
    """
    out: list[WindowUse] = []
    counted: dict[int, Intervals] = {}  # per probe (index): its down time in its hours
    for w in windows:
        covered = [i for i, (p, _, _) in enumerate(probes) if covers(w, p)]
        if not covered:
            continue
        for i in covered:
            if i not in counted:
                counted[i] = intersect(probes[i][1], probes[i][2])
        seen = first_seen.get(w.id)
        for s, e in window_occurrences(w, start, end):
            inside = clip(((s, e),), start, end)
            # one interval: clipping is intersecting it (same pairs), by binary search
            down = sum((total(clip(counted[i], inside[0][0], inside[0][1]) if inside else ())
                        for i in covered), 0.0)
            out.append(WindowUse(
                id=w.id, category=w.category, reason=w.reason, ticket=w.ticket, start=s, end=e,
                seconds=total(inside), probes=tuple(probes[i][0].id for i in covered),
                first_seen=seen, retroactive=retroactive(s, seen, seen_since),
                excluded_down_seconds=down,
            ))
    out.sort(key=lambda u: (u.start, u.id))
    return tuple(out)
