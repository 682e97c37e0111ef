"""Timelines -> SLA figures per probe and per client (SPEC 5): the pure arithmetic.

Times are epoch seconds (floats), `now` is a parameter, maintenance arrives
as UTC intervals; nothing here reads a clock, a file or a database.
`availability.build_report` feeds it from the store.

Choices where the SPEC leaves room:

- Time splits exactly: ``up + down + unknown + maintenance + outside_hours ==
  period length``. `outside_hours_seconds` is the period minus the SLA hours;
  `maintenance_seconds` is only maintenance *inside* the hours (a window at
  night under "Mon-Fri 09:00-17:00" is already outside hours).
- Probes without an SLA use 24x7 hours and their maintenance still applies;
  sla, objective, met, error budget, budget left and credit are null.
- Availability null (nothing measured) makes met and credit null too.
- An incident is a down stretch of the whole timeline (min_downtime applied)
  that overlaps the period, clipped to it; its `seconds` is wall time, in
  hours or not; `end` is null while it is ongoing (down until `now`, inside
  the period). Error kinds are those of the failed checks of any agent that
  stand in the clipped stretch (unknown kinds read as "error", as in `Check`).
- A client incident is a stretch where any of its probes is down; the part
  not counted as client down (each down probe in its own maintenance) is its
  `maintenance_seconds`. A client's latency takes each probe's successful
  checks in the client's hours outside that probe's own maintenance.
- The error budget is computed in exact decimal arithmetic from the
  objective as written (99.9 -> 1/1000), so 82260 s gives exactly 82.26 s.
- Overrun: an incident that starts inside maintenance (for a client: while
  every probe then down is in its own maintenance) and goes on after the
  window has `overrun_seconds` = its down time outside maintenance, i.e.
  ``seconds - maintenance_seconds``; it already counts against the SLA. An
  incident starting outside maintenance has 0.
- Excluded time by category, KPIs, the latency objective and Apdex: see
  `exclusions` and `kpis`.

Usage: ``probe_figures(probe, sla, spans, start, end, now, maintenance)``
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from operator import itemgetter
from typing import NamedTuple, Protocol, runtime_checkable

from .checks import error_kind
from .config import SLA, Client, Probe
from .exclusions import excluded_by_category
from .hours import hours_intervals
from .intervals import (
    Interval,
    Intervals,
    clip,
    complement,
    intersect,
    intersection_all,
    normalize,
    subtract,
    total,
    union,
)
from .kpis import (
    DEFAULT_APDEX_T_MS,
    Apdex,
    Kpis,
    LatencyAttainment,
    apdex,
    latency_attainment,
    service_kpis,
)
from .latency_digest import LatencyDigest
from .spans import Span
from .timeline import Timeline, group_by_agent, probe_timeline, stands_until

PERCENTILES = (50, 95, 99)
SpanInput = Iterable[Span] | Mapping[str, Sequence[Span]]  # flat, or already per agent
_MaintFn = Callable[[float, float], float]  # (start, end) -> seconds in maintenance


@dataclass(frozen=True)
class Incident:
    start: float
    end: float | None  # None: still down at `now`
    seconds: float
    maintenance_seconds: float
    error_kinds: tuple[str, ...] = ()
    overrun_seconds: float = 0.0  # down after the window it started in had ended


@dataclass(frozen=True)
class Figures:
    """One probe's or one client's figures for a period (the JSON of SPEC 6)."""

    id: str
    name: str | None  # client display name; None for a probe
    client: str | None
    client_name: str | None
    sla: str | None
    objective: float | None
    availability: float | None
    met: bool | None
    coverage: float | None
    up_seconds: float
    down_seconds: float
    unknown_seconds: float
    maintenance_seconds: float
    outside_hours_seconds: float
    error_budget_seconds: float | None
    budget_left_seconds: float | None
    credit_percent: float | None
    incidents: tuple[Incident, ...]
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    probes: tuple[str, ...] = ()  # a client's probe ids
    excluded_seconds: tuple[tuple[str, float], ...] = ()  # maintenance_seconds per category
    kpis: Kpis | None = None
    latency_objective: LatencyAttainment | None = None  # None: the SLA sets no latency
    apdex: Apdex | None = None


@runtime_checkable
class LatencySource(Protocol):
    """A probe's successful checks' latencies, asked for by eligible time."""

    def digest(self, intervals: Intervals) -> LatencyDigest:
        """The latencies of the checks whose time lies in `intervals` (normal form)."""
        ...


class SampleLatency:
    """A LatencySource over (ts, latency_ms) samples in time order (checks read raw)."""

    __slots__ = ("_cache", "samples")

    def __init__(self, samples: Sequence[tuple[float, float]] = ()):
        self.samples = samples
        self._cache: dict[Intervals, LatencyDigest] = {}

    def digest(self, intervals: Intervals) -> LatencyDigest:
        got = self._cache.get(intervals)
        if got is None:
            got = self._cache[intervals] = LatencyDigest.of(
                _values_inside(self.samples, intervals))
        return got

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SampleLatency) and self.samples == other.samples

    def __repr__(self) -> str:
        return f"SampleLatency({len(self.samples)} samples)"


class FailedChecks(NamedTuple):
    """A probe's failed checks: where they stand and when each was.

    `stands`: (from, until, kind), sorted; a stretch may stand for several checks
    of one agent and kind that follow each other without a gap (an incident needs
    the kinds standing in it, not one tuple per check: a week down is one).
    When they were, for counting those in eligible time (`count_failed`): `at`,
    each one's time, sorted; or `runs` of (first, last, n, agent), n checks of
    one agent from first to last (a failed segment), and `read(agent, first,
    last)`, their times, asked for only when an interval's edge cuts a run."""

    stands: tuple[tuple[float, float, str], ...] = ()
    at: tuple[float, ...] = ()
    runs: tuple[tuple[float, float, int, str], ...] = ()
    read: Callable[[str, float, float], Sequence[float]] | None = None


def count_failed(failed: FailedChecks, intervals: Intervals, now: float) -> int:
    """How many of the failed checks were in `intervals` before `now` (those after it
    stand for nothing yet)."""
    intervals = clip(intervals, -math.inf, now)
    n = _count_inside(failed.at, intervals)
    if not failed.runs or not intervals:
        return n
    starts = [a for a, _ in intervals]
    for first, last, k, agent in failed.runs:
        i = bisect_right(starts, first) - 1
        if i >= 0 and last < intervals[i][1]:  # wholly inside interval i
            n += k
        elif (i < 0 or first >= intervals[i][1]) and \
                (i + 1 == len(intervals) or last < intervals[i + 1][0]):  # wholly in a gap
            continue
        else:  # an edge cuts the run: its checks one by one
            assert failed.read is not None
            n += _count_inside(failed.read(agent, first, last), intervals)
    return n


@dataclass(frozen=True)
class ProbeMeasure:
    """What the figures of a probe and of its client are computed from."""

    probe: Probe
    timeline: Timeline  # whole range read, min_downtime applied
    maintenance: Intervals  # windows covering the probe (at least over the period)
    failures: tuple[tuple[float, float, str], ...] = ()  # FailedChecks.stands
    failed: FailedChecks = FailedChecks()  # when they were: see `count_failed`
    # the successful checks' latencies, by eligible time (digests, never one tuple per check)
    latency: LatencySource = field(default_factory=SampleLatency)
    # the windows covering the probe by category: (category, intervals)
    categories: tuple[tuple[str, Intervals], ...] = ()


def failed_stands(by_agent: Mapping[str, Sequence[Span]], now: float,
                  ) -> Iterator[tuple[str, Span, float]]:
    """(agent, span, stop) of each failed span of each agent's spans (in time order):
    its last check stands until `stop` (`timeline.stands_until`)."""
    for agent, items in by_agent.items():
        for i, s in enumerate(items):
            if not s.ok:
                yield agent, s, stands_until(items, i, now)


def measure_probe(probe: Probe, sla: SLA | None, spans: SpanInput, now: float,
                  maintenance: Intervals, quorum: int | None = None, *,
                  failures: FailedChecks | None = None,
                  samples: Sequence[tuple[float, float]] | LatencySource | None = None,
                  categories: Mapping[str, Intervals] | None = None) -> ProbeMeasure:
    """Build the probe's timeline and collect its failures and latencies.

    `maintenance` is the time of the windows covering the probe, as (start,
    end) pairs in any order. A failure is kept with the time it stands for,
    so an incident names exactly the kinds of the failed checks standing in
    it, however far back the caller read. `categories` splits `maintenance`
    by window category (without it, all is "maintenance"). With `failures`
    and `samples` given (read apart: segments + raw details), `samples` is a
    LatencySource (e.g. `store.RollupLatency`) or (ts, latency_ms) pairs;
    else both come from the spans (a failure per failed span).
    """
    cats = tuple((c, normalize(iv)) for c, iv in (categories or {}).items())
    by_agent = spans if isinstance(spans, Mapping) else group_by_agent(spans)
    timeline = probe_timeline(by_agent, confirm=probe.confirm, now=now, quorum=quorum,
                              min_downtime=sla.min_downtime if sla else 0.0)
    if failures is not None and samples is not None:  # read apart (segments + raw details)
        # hasattr: what isinstance(samples, LatencySource) checks, without the Protocol's cost
        source = samples if hasattr(samples, "digest") else \
            SampleLatency(tuple(sorted(samples)))  # type: ignore[arg-type]
        return ProbeMeasure(probe, timeline, normalize(maintenance),
                            tuple(sorted(failures.stands)), failures, source, cats)
    ordered = {a: sorted(v, key=lambda s: (s.first, s.last)) for a, v in by_agent.items()}
    stands = sorted((s.first, stop, error_kind(s.error))
                    for _, s, stop in failed_stands(ordered, now) if stop > s.first)
    samples = sorted((s.last, s.latency_ms) for v in ordered.values() for s in v
                     if s.ok and s.latency_ms is not None)
    return ProbeMeasure(probe, timeline, normalize(maintenance), tuple(stands),
                        FailedChecks(at=tuple(f[0] for f in stands)),
                        SampleLatency(tuple(samples)), cats)


def probe_figures(probe: Probe, sla: SLA | None, spans: SpanInput,
                  period_start: float, period_end: float, now: float, maintenance: Intervals,
                  quorum: int | None = None, *, client_name: str | None = None) -> Figures:
    """A probe's figures for ``[period_start, period_end)`` (pure; see `figures_of_probe`)."""
    m = measure_probe(probe, sla, spans, now, maintenance, quorum)
    return figures_of_probe(m, sla, period_start, period_end, now, client_name=client_name)


@dataclass(frozen=True)
class EligibleTime:
    """What a probe's figures take from its SLA hours and covering windows over a period,
    not from its checks: the same for every probe with that SLA and those windows, so a
    report computes it once per (SLA, windows) (see `eligible_time`)."""

    hours: Intervals  # the period inside the SLA hours
    maint: Intervals  # the covering windows, clipped to the period
    eligible: Intervals  # hours minus maint
    excluded: Intervals  # maint inside the hours
    by_category: tuple[tuple[str, float], ...]  # `excluded` by window category
    outside: float  # seconds of the period outside the hours


def eligible_time(sla: SLA | None, maintenance: Intervals,
                  categories: Sequence[tuple[str, Intervals]], period_start: float,
                  period_end: float) -> EligibleTime:
    """Hours, maintenance, eligible and excluded time of a probe whose covering windows are
    `maintenance` (normal form) and `categories` (as in `ProbeMeasure`), over the period."""
    hours = _hours(sla, period_start, period_end)
    maint = clip(maintenance, period_start, period_end)
    excluded = intersect(hours, maint)
    return EligibleTime(hours, maint, subtract(hours, maint), excluded,
                        _by_category_of(excluded, [categories], period_start, period_end),
                        (period_end - period_start) - total(hours))


def figures_of_probe(m: ProbeMeasure, sla: SLA | None, period_start: float, period_end: float,
                     now: float, *, client_name: str | None = None,
                     eligible_as: EligibleTime | None = None) -> Figures:
    """SPEC 5 for one probe.

    1. Hours = period inside the SLA hours (24x7 without SLA); outside = rest.
    2. Eligible = hours minus the maintenance covering the probe.
    3. Up and down = the timeline inside eligible; unknown = eligible - both.
    4. Objective figures, incidents and latency from those.

    `eligible_as`: steps 1-2 already computed (`eligible_time` of the same SLA,
    maintenance, categories and period), e.g. shared by the probes of a report.
    """
    el = eligible_as if eligible_as is not None else eligible_time(
        sla, m.maintenance, m.categories, period_start, period_end)
    maint, eligible = el.maint, el.eligible
    up = total(intersect(m.timeline.up, eligible))
    counted = intersect(m.timeline.down, eligible)
    down = total(counted)
    incidents = _incidents(
        m.timeline.down, period_start, period_end, now, [m.failures],
        lambda s, e: total(clip(maint, s, e)), lambda t: _inside(maint, t),
    )
    values = m.latency.digest(eligible)
    failed = count_failed(m.failed, eligible, now)
    p = m.probe
    return _figures(
        p.id, None, p.client, client_name, sla, up, down, total(eligible),
        total(el.excluded), el.outside,
        incidents, _percentiles(values, sla), (),
        excluded=el.by_category,
        kpis=service_kpis(incidents, counted, up), latencies=values, failed=failed,
    )


def client_figures(client: Client, sla: SLA | None, measures: Sequence[ProbeMeasure],
                   period_start: float, period_end: float, now: float) -> Figures:
    """SPEC 5.7 for a client made of the measured probes.

    1. Each probe counts only outside its own maintenance ("active").
    2. Down: any active probe down; unknown: else any active probe unknown;
       up: else (some probe is active).
    3. Eligible = hours minus the instants where every probe is in maintenance.
    """
    hours = _hours(sla, period_start, period_end)
    # probes share their windows: clip, and subtract from the hours, once per distinct set
    per_maint: dict[Intervals, tuple[Intervals, Intervals]] = {}
    for m in measures:
        if m.maintenance not in per_maint:
            mm = clip(m.maintenance, period_start, period_end)
            per_maint[m.maintenance] = (mm, subtract(hours, mm))
    maints = [per_maint[m.maintenance][0] for m in measures]
    # the intersection of normal forms is one normal form: duplicates change nothing
    all_maint = intersection_all([mm for mm, _ in per_maint.values()]) if measures else ()
    eligible = subtract(hours, all_maint)
    down_set = union(*[subtract(clip(m.timeline.down, period_start, period_end), mm)
                       for m, mm in zip(measures, maints, strict=True)], ())
    unknown_any = union(*[
        subtract(complement(union(m.timeline.up, m.timeline.down), period_start, period_end), mm)
        for m, mm in zip(measures, maints, strict=True)], ())
    el = total(eligible)
    down = total(intersect(down_set, eligible))
    unknown = total(subtract(intersect(unknown_any, eligible), down_set)) if measures else el
    up = max(0.0, el - down - unknown)
    incidents = _incidents(
        union(*[m.timeline.down for m in measures], ()), period_start, period_end, now,
        [m.failures for m in measures],
        lambda s, e: (e - s) - total(clip(down_set, s, e)), lambda t: not _inside(down_set, t),
    )
    digests: list[LatencyDigest] = []
    failed = 0
    for m in measures:
        own = per_maint[m.maintenance][1]
        digests.append(m.latency.digest(own))
        failed += count_failed(m.failed, own, now)
    values = LatencyDigest.merged(digests)
    excluded = intersect(hours, all_maint)
    return _figures(
        client.id, client.name, client.id, client.name, sla, up, down, el,
        total(excluded), (period_end - period_start) - total(hours),
        incidents, _percentiles(values, sla), tuple(m.probe.id for m in measures), unknown=unknown,
        excluded=_by_category(excluded, measures, period_start, period_end),
        kpis=service_kpis(incidents, intersect(down_set, eligible), up), latencies=values,
        failed=failed,
    )


def _inside(intervals: Intervals, t: float) -> bool:
    """Whether the instant `t` lies in the (normal form) interval set."""
    i = bisect_left(intervals, (t, float("inf")))
    return i > 0 and intervals[i - 1][1] > t


def _by_category(excluded: Intervals, measures: Sequence[ProbeMeasure], start: float,
                 end: float) -> tuple[tuple[str, float], ...]:
    """`excluded` split by the categories of the measured probes' windows (see `exclusions`)."""
    return _by_category_of(excluded, [m.categories for m in measures], start, end)


def _by_category_of(excluded: Intervals, categories: Sequence[Sequence[tuple[str, Intervals]]],
                    start: float, end: float) -> tuple[tuple[str, float], ...]:
    if not excluded:
        return ()
    by_cat: dict[str, list[Interval]] = {}
    for cats in categories:
        for cat, iv in cats:
            by_cat.setdefault(cat, []).extend(clip(iv, start, end))
    return excluded_by_category(excluded, [(c, normalize(iv)) for c, iv in by_cat.items()])


def hours_in(sla: SLA | None, start: float, end: float) -> Intervals:
    """The SLA hours inside ``[start, end)`` (all of it without an SLA)."""
    return _hours(sla, start, end)


def _hours(sla: SLA | None, start: float, end: float) -> Intervals:
    if end <= start:
        return ()
    if sla is None:
        return ((start, end),)
    return hours_intervals(sla.hours, sla.timezone, start, end)


def _figures(id_: str, name: str | None, client: str | None, client_name: str | None,
             sla: SLA | None, up: float, down: float, eligible: float, maintenance: float,
             outside: float, incidents: tuple[Incident, ...],
             latency: tuple[float | None, ...], probes: tuple[str, ...],
             unknown: float | None = None, *, excluded: tuple[tuple[str, float], ...] = (),
             kpis: Kpis | None = None, latencies: LatencyDigest | None = None,
             failed: int = 0) -> Figures:
    """Objective figures (SPEC 5.6) from up/down seconds; budget in exact decimal arithmetic.

    `latencies` and `failed`: the digest of the successful checks' latencies and
    the count of failed checks in eligible time, for the latency objective and Apdex.
    """
    if latencies is None:
        latencies = LatencyDigest()
    measured = up + down
    availability = up * 100 / measured if measured > 0 else None
    if unknown is None:
        unknown = max(0.0, eligible - up - down)
    met = credit = budget = left = None
    if sla is not None:
        budget, left = _budget(sla.objective, measured, down)
        if availability is not None:
            met = availability >= sla.objective
            avail = availability
            credit = float(max((t.percent for t in sla.credits if t.below > avail), default=0))
    return Figures(
        id=id_, name=name, client=client, client_name=client_name,
        sla=sla.id if sla else None, objective=sla.objective if sla else None,
        availability=availability, met=met,
        coverage=measured / eligible if eligible > 0 else None,
        up_seconds=up, down_seconds=down, unknown_seconds=unknown,
        maintenance_seconds=maintenance, outside_hours_seconds=outside,
        error_budget_seconds=budget, budget_left_seconds=left, credit_percent=credit,
        incidents=incidents, latency_p50=latency[0], latency_p95=latency[1],
        latency_p99=latency[2], probes=probes, excluded_seconds=excluded, kpis=kpis,
        latency_objective=(latency_attainment(latencies, sla.latency.threshold * 1000,
                                              sla.latency.objective)
                           if sla is not None and sla.latency is not None else None),
        apdex=apdex(latencies, failed, sla.latency.threshold * 1000
                    if sla is not None and sla.latency is not None else DEFAULT_APDEX_T_MS),
    )


@functools.lru_cache(maxsize=64)
def _allowed(objective: float) -> tuple[int, int]:
    """(100 - objective) / 100 as written (99.9 -> 1/1000): numerator, denominator."""
    q = (100 - Fraction(repr(float(objective)))) / 100
    return q.numerator, q.denominator


def _budget(objective: float, measured: float, down: float) -> tuple[float, float]:
    """(error budget, budget left) in seconds: ``(100 - objective) / 100 x measured`` and
    that less `down`, each exact and rounded once (as with Fractions: int true division
    is correctly rounded), in integers."""
    an, ad = _allowed(objective)
    mn, md = measured.as_integer_ratio()
    dn, dd = down.as_integer_ratio()
    num, den = an * mn, ad * md
    return num / den, (num * dd - dn * den) / (den * dd)


def _incidents(down: Intervals, start: float, end: float, now: float,
               failures: Sequence[Sequence[tuple[float, float, str]]],
               in_maintenance: _MaintFn,
               starts_in_maintenance: Callable[[float], bool] = lambda t: False,
               ) -> tuple[Incident, ...]:
    """Down stretches overlapping the period, clipped, with their maintenance part and kinds.

    Error kinds are those of the failed checks (any agent) whose stand time
    overlaps the clipped stretch. A stretch whose (clipped) start is in
    maintenance has its down time outside maintenance as overrun.
    """
    out: list[Incident] = []
    lo = bisect_left(down, (start,))
    if lo > 0 and down[lo - 1][1] > start:
        lo -= 1
    if len(failures) > 1:  # a client's probes: one list, so each stretch bisects once
        failures = [sorted(chain.from_iterable(failures))]
    longest = [max((u - f for f, u, _ in fs), default=0.0) for fs in failures]
    for s, e in down[lo:]:
        if s >= end:
            break
        cs, ce = max(s, start), min(e, end)
        if ce <= cs:
            continue
        kinds: set[str] = set()
        for fs, span in zip(failures, longest, strict=True):
            i = bisect_left(fs, (cs - span,))
            while i < len(fs) and fs[i][0] < ce:
                if fs[i][1] > cs:
                    kinds.add(fs[i][2])
                i += 1
        ongoing = e >= now and e <= end
        maint = in_maintenance(cs, ce)
        overrun = max(0.0, (ce - cs) - maint) if starts_in_maintenance(cs) else 0.0
        out.append(Incident(cs, None if ongoing else ce, ce - cs, maint,
                            tuple(sorted(kinds)), overrun))
    return tuple(out)


def _values_inside(samples: Sequence[tuple[float, float]], intervals: Intervals) -> list[float]:
    """Values of the (ts, value) samples, in time order, whose ts lies in the intervals."""
    out: list[float] = []
    for start, end in intervals:  # few intervals, many samples: bisect each interval's slice
        lo = bisect_left(samples, start, key=_ts)
        hi = bisect_left(samples, end, lo, key=_ts)
        out.extend([v for _, v in samples[lo:hi]])
    return out


def _count_inside(times: Sequence[float], intervals: Intervals) -> int:
    """How many of the sorted `times` lie in the intervals."""
    n = 0
    for start, end in intervals:
        lo = bisect_left(times, start)
        n += bisect_left(times, end, lo) - lo
    return n


_ts = itemgetter(0)


def _percentiles(values: LatencyDigest, sla: SLA | None = None) -> tuple[float | None, ...]:
    """Nearest-rank percentiles: the value of rank ceil(p/100 x N), 1-based, in sorted order,
    through the digest (exact for small data, else within 0.5 %; see latency_digest).
    Also looks up, in the same pass, what the SLA's latency objective and Apdex will need."""
    t = sla.latency.threshold * 1000 if sla is not None and sla.latency is not None \
        else DEFAULT_APDEX_T_MS
    values.prepare(PERCENTILES, (t, 4 * t))
    return tuple(values.quantile(p) for p in PERCENTILES)
