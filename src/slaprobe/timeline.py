"""Spans -> up/down intervals per agent, combined across agents by quorum (SPEC 5.2-5.4, 6).

Unknown is never stored: it is whatever neither `up` nor `down` covers.

Choices where the SPEC leaves room:

- Confirmation runs count consecutive failed checks of one agent in its own
  time order, even across a gap with no checks (the same rule as the status
  view's fail counter). A run that is still shorter than `confirm` at the
  last check counts as up for now.
- Stand time is also cut at `now` for every check, not only the last one, so
  nothing is ever counted in the future.
- Quorum: a configured quorum larger than the number of agents measuring at
  an instant is lowered to that number. Otherwise `quorum = 2` on a single
  agent (or while the other agents are stopped) would make every probe up
  for ever; with the default majority this is the SPEC rule unchanged.
- `min_downtime` is applied to down stretches of the combined timeline over
  all the checks read, before maintenance or business hours are taken out:
  a 10-minute outage half inside a window is still a 10-minute outage.

Usage: ``probe_timeline(spans, confirm=3, now=now, min_downtime=60)``
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .intervals import Interval, Intervals, union
from .spans import Span


@dataclass(frozen=True)
class Timeline:
    """Where a probe (or one agent's view of it) was up and down; the rest is unknown."""

    up: Intervals = ()
    down: Intervals = ()


def _append(out: list[Interval], s: float, e: float) -> None:
    if e <= s:
        return
    if out and s <= out[-1][1]:
        if e > out[-1][1]:
            out[-1] = (out[-1][0], e)
    else:
        out.append((s, e))


def agent_timeline(spans: Sequence[Span], confirm: int, now: float) -> Timeline:
    """One agent's timeline from its spans.

    1. Sort the spans by time.
    2. Confirmation: each maximal run of failed spans is down when the sum of
       their `n` reaches `confirm`, else up (a short blip is not an outage).
    3. Stand time: a span covers ``[first, last)`` and its last check stands
       for ``[last, min(next first, last + 2 x interval, now))``.
    4. Collect up and down intervals, merging touching ones.
    """
    items = sorted(spans, key=lambda s: (s.first, s.last))
    n = len(items)
    down_flag = [False] * n
    i = 0
    while i < n:
        if items[i].ok:
            i += 1
            continue
        j, count = i, 0
        while j < n and not items[j].ok:
            count += items[j].n
            j += 1
        if count >= confirm:
            for k in range(i, j):
                down_flag[k] = True
        i = j
    up: list[Interval] = []
    down: list[Interval] = []
    for idx, s in enumerate(items):
        _append(down if down_flag[idx] else up, s.first, stands_until(items, idx, now))
    return Timeline(tuple(up), tuple(down))


def stands_until(items: Sequence[Span], i: int, now: float) -> float:
    """Until when the last check of span `i` of one agent's time-ordered spans stands:
    twice its interval after it at most, no later than the next span, not past `now`."""
    s = items[i]
    nxt = items[i + 1].first if i + 1 < len(items) else now
    return min(s.last + 2.0 * s.interval_s, nxt, now)


def combine(timelines: Sequence[Timeline], quorum: int | None = None) -> Timeline:
    """Several agents' timelines -> one (SPEC 6).

    1. Sweep over every interval boundary of every agent.
    2. Between two boundaries, k agents measure (up or down) and d of them see
       down; the probe is down when ``d >= min(quorum, k)`` (quorum None: the
       majority ``k // 2 + 1``), else up when ``k > 0``, else unknown.
    """
    live = [tl for tl in timelines if tl.up or tl.down]
    if not live:
        return Timeline()
    if len(live) == 1:
        return live[0]
    events: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for tl in live:
        for s, e in tl.up:
            events[s][0] += 1
            events[e][0] -= 1
        for s, e in tl.down:
            events[s][1] += 1
            events[e][1] -= 1
    up: list[Interval] = []
    down: list[Interval] = []
    n_up = n_down = 0
    prev: float | None = None
    for t in sorted(events):
        if prev is not None and t > prev:
            k = n_up + n_down
            if k:
                need = k // 2 + 1 if quorum is None else min(max(1, quorum), k)
                _append(down if n_down >= need else up, prev, t)
        du, dd = events[t]
        n_up += du
        n_down += dd
        prev = t
    return Timeline(tuple(up), tuple(down))


def apply_min_downtime(timeline: Timeline, min_downtime: float) -> Timeline:
    """Count each down stretch shorter than `min_downtime` as up (SPEC 5.4)."""
    if min_downtime <= 0 or not timeline.down:
        return timeline
    keep: list[Interval] = []
    short: list[Interval] = []
    for s, e in timeline.down:
        (short if e - s < min_downtime else keep).append((s, e))
    if not short:
        return timeline
    return Timeline(union(timeline.up, tuple(short)), tuple(keep))


def group_by_agent(spans: Iterable[Span]) -> dict[str, list[Span]]:
    """Spans of one probe, per agent, in the order given."""
    out: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        out[s.agent].append(s)
    return dict(out)


def probe_timeline(spans: Iterable[Span] | Mapping[str, Sequence[Span]], *, confirm: int,
                   now: float, quorum: int | None = None, min_downtime: float = 0.0) -> Timeline:
    """A probe's timeline: per agent, then quorum, then `min_downtime`."""
    by_agent = spans if isinstance(spans, Mapping) else group_by_agent(spans)
    per_agent = [agent_timeline(v, max(1, confirm), now) for v in by_agent.values()]
    return apply_min_downtime(combine(per_agent, quorum), min_downtime)
