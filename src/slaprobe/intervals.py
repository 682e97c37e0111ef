"""Half-open interval sets on floats: the algebra availability is counted with.

An interval set is a tuple of ``(start, end)`` pairs, sorted, with
``start < end``, pairwise disjoint and never touching (``[0, 1)`` and ``[1, 2)``
are stored as ``[0, 2)``). Every function takes and returns that normal form,
so lengths add up without double counting. All operations are linear merges
over already sorted input, so a month of 30-second checks stays cheap.

Usage: ``total(subtract(clip(up, start, end), maintenance))``
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

Interval = tuple[float, float]
Intervals = tuple[Interval, ...]

EMPTY: Intervals = ()


def normalize(pairs: Iterable[Interval]) -> Intervals:
    """Sort, drop empty pairs and merge overlapping or touching ones."""
    items = sorted((s, e) for s, e in pairs if e > s)
    return _merge_sorted(items)


def _merge_sorted(items: Sequence[Interval]) -> Intervals:
    out: list[Interval] = []
    for s, e in items:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return tuple(out)


def from_sorted(pairs: Iterable[Interval]) -> Intervals:
    """Normal form of pairs already sorted by start (skips the sort of `normalize`)."""
    return _merge_sorted([(s, e) for s, e in pairs if e > s])


def union(*sets: Intervals) -> Intervals:
    """Every point in at least one of the sets."""
    if len(sets) == 1:
        return sets[0]
    if len(sets) == 2:
        a, b = sets
        if not a:
            return b
        if not b:
            return a
        merged: list[Interval] = []
        i = j = 0
        while i < len(a) or j < len(b):
            if j >= len(b) or (i < len(a) and a[i][0] <= b[j][0]):
                merged.append(a[i])
                i += 1
            else:
                merged.append(b[j])
                j += 1
        return _merge_sorted(merged)
    return normalize(p for s in sets for p in s)


def intersect(a: Intervals, b: Intervals) -> Intervals:
    """Every point in both sets."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract(a: Intervals, b: Intervals) -> Intervals:
    """Every point of `a` that is not in `b`."""
    if not a or not b:
        return a
    out: list[Interval] = []
    j = 0
    for s, e in a:
        while j < len(b) and b[j][1] <= s:
            j += 1
        k = j
        cur = s
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            if cur >= e:
                break
            k += 1
        if cur < e:
            out.append((cur, e))
    return tuple(out)


def clip(a: Intervals, start: float, end: float) -> Intervals:
    """The part of `a` inside ``[start, end)``; binary search, so cheap on long sets."""
    if start >= end or not a:
        return EMPTY
    i = bisect_left(a, (start,))
    if i > 0 and a[i - 1][1] > start:
        i -= 1
    j = bisect_left(a, (end,))
    out = list(a[i:j])
    if out:
        out[0] = (max(out[0][0], start), out[0][1])
        out[-1] = (out[-1][0], min(out[-1][1], end))
    return tuple(out)


def complement(a: Intervals, start: float, end: float) -> Intervals:
    """The part of ``[start, end)`` not in `a`."""
    if start >= end:
        return EMPTY
    return subtract(((start, end),), a)


def total(a: Intervals) -> float:
    """Summed length of the set, in seconds."""
    return sum((e - s for s, e in a), 0.0)


def intersection_all(sets: Sequence[Intervals]) -> Intervals:
    """Points in every set; the empty set for no sets at all."""
    if not sets:
        return EMPTY
    out = sets[0]
    for s in sets[1:]:
        out = intersect(out, s)
    return out
