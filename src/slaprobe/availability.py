"""Timelines -> SLA figures per probe and per client (SPEC 5), and the Report built from the store.

Everything here but `build_report` is pure: times are epoch seconds (floats),
`now` is a parameter, maintenance arrives as UTC intervals.

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

Usage: ``report = build_report(config, store, start, end, now=time.time())``
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .checks import ERROR_KINDS, Check
from .config import SLA, Client, Config, Probe
from .errors import InputError
from .hours import hours_intervals
from .intervals import (Intervals, clip, complement, intersect, intersection_all, normalize,
                        subtract, total, union)
from .maintenance import covers, window_intervals
from .spans import Span
from .timeline import Timeline, group_by_agent, probe_timeline

PERCENTILES = (50, 95, 99)
_MaintFn = Callable[[float, float], float]  # (start, end) -> seconds in maintenance


@dataclass(frozen=True)
class Incident:
    start: float
    end: float | None  # None: still down at `now`
    seconds: float
    maintenance_seconds: float
    error_kinds: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class ProbeMeasure:
    """What the figures of a probe and of its client are computed from."""

    probe: Probe
    timeline: Timeline  # whole range read, min_downtime applied
    maintenance: Intervals  # windows covering the probe (at least over the period)
    failures: tuple[tuple[float, float, str], ...] = ()  # (from, until, kind) of failed checks
    samples: tuple[tuple[float, float], ...] = ()  # (ts, latency_ms) of ok checks, time order


def error_kind(error: str | None) -> str:
    """The kind of a failed check's error text: before the first colon, else "error"."""
    head = (error or "").split(":", 1)[0].strip()
    return head if head in ERROR_KINDS else "error"


def measure_probe(probe: Probe, sla: SLA | None, spans: Iterable[Span] | Mapping[str, Sequence[Span]],
                  now: float, maintenance: Intervals, quorum: int | None = None) -> ProbeMeasure:
    """Build the probe's timeline and collect its failures and latency samples.

    `maintenance` is the time of the windows covering the probe, as (start,
    end) pairs in any order. A failure is kept with the time it stands for,
    so an incident names exactly the kinds of the failed checks standing in
    it, however far back the caller read.
    """
    by_agent = spans if isinstance(spans, Mapping) else group_by_agent(spans)
    timeline = probe_timeline(by_agent, confirm=probe.confirm, now=now, quorum=quorum,
                              min_downtime=sla.min_downtime if sla else 0.0)
    failures: list[tuple[float, float, str]] = []
    samples: list[tuple[float, float]] = []
    for agent_spans in by_agent.values():
        items = sorted(agent_spans, key=lambda s: (s.first, s.last))
        for i, s in enumerate(items):
            if s.ok:
                if s.latency_ms is not None:
                    samples.append((s.last, s.latency_ms))
                continue
            nxt = items[i + 1].first if i + 1 < len(items) else now
            stop = min(s.last + 2.0 * s.interval_s, nxt, now)
            if stop > s.first:
                failures.append((s.first, stop, error_kind(s.error)))
    failures.sort()
    samples.sort()
    return ProbeMeasure(probe, timeline, normalize(maintenance), tuple(failures), tuple(samples))


def probe_figures(probe: Probe, sla: SLA | None, spans: Iterable[Span] | Mapping[str, Sequence[Span]],
                  period_start: float, period_end: float, now: float, maintenance: Intervals,
                  quorum: int | None = None, *, client_name: str | None = None) -> Figures:
    """A probe's figures for ``[period_start, period_end)`` (pure; see `figures_of_probe`)."""
    m = measure_probe(probe, sla, spans, now, maintenance, quorum)
    return figures_of_probe(m, sla, period_start, period_end, now, client_name=client_name)


def figures_of_probe(m: ProbeMeasure, sla: SLA | None, period_start: float, period_end: float,
                     now: float, *, client_name: str | None = None) -> Figures:
    """SPEC 5 for one probe.

    1. Hours = period inside the SLA hours (24x7 without SLA); outside = rest.
    2. Eligible = hours minus the maintenance covering the probe.
    3. Up and down = the timeline inside eligible; unknown = eligible - both.
    4. Objective figures, incidents and latency from those.
    """
    hours = _hours(sla, period_start, period_end)
    maint = clip(m.maintenance, period_start, period_end)
    eligible = subtract(hours, maint)
    up = total(intersect(m.timeline.up, eligible))
    down = total(intersect(m.timeline.down, eligible))
    incidents = _incidents(
        m.timeline.down, period_start, period_end, now, [m.failures],
        lambda s, e: total(clip(maint, s, e)),
    )
    latency = _percentiles([v for ts, v in m.samples if _inside(ts, eligible)])
    p = m.probe
    return _figures(
        p.id, None, p.client, client_name, sla, up, down, total(eligible),
        total(intersect(hours, maint)), (period_end - period_start) - total(hours),
        incidents, latency, (),
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
    maints = [clip(m.maintenance, period_start, period_end) for m in measures]
    all_maint = intersection_all(maints)
    eligible = subtract(hours, all_maint)
    down_set = union(*[subtract(clip(m.timeline.down, period_start, period_end), mm)
                       for m, mm in zip(measures, maints)], ())
    unknown_any = union(*[
        subtract(complement(union(m.timeline.up, m.timeline.down), period_start, period_end), mm)
        for m, mm in zip(measures, maints)], ())
    el = total(eligible)
    down = total(intersect(down_set, eligible))
    unknown = total(subtract(intersect(unknown_any, eligible), down_set)) if measures else el
    up = max(0.0, el - down - unknown)
    incidents = _incidents(
        union(*[m.timeline.down for m in measures], ()), period_start, period_end, now,
        [m.failures for m in measures],
        lambda s, e: (e - s) - total(clip(down_set, s, e)),
    )
    values: list[float] = []
    for m, mm in zip(measures, maints):
        own = subtract(hours, mm)
        values.extend(v for ts, v in m.samples if _inside(ts, own))
    return _figures(
        client.id, client.name, client.id, client.name, sla, up, down, el,
        total(intersect(hours, all_maint)), (period_end - period_start) - total(hours),
        incidents, _percentiles(values), tuple(m.probe.id for m in measures), unknown=unknown,
    )


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
             unknown: float | None = None) -> Figures:
    """Objective figures (SPEC 5.6) from up/down seconds; budget in exact decimal arithmetic."""
    measured = up + down
    availability = up * 100 / measured if measured > 0 else None
    if unknown is None:
        unknown = max(0.0, eligible - up - down)
    met = credit = budget = left = None
    if sla is not None:
        budget_q = (100 - Fraction(repr(float(sla.objective)))) * Fraction(measured) / 100
        budget, left = float(budget_q), float(budget_q - Fraction(down))
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
        latency_p99=latency[2], probes=probes,
    )


def _incidents(down: Intervals, start: float, end: float, now: float,
               failures: Sequence[Sequence[tuple[float, float, str]]],
               in_maintenance: _MaintFn) -> tuple[Incident, ...]:
    """Down stretches overlapping the period, clipped, with their maintenance part and kinds.

    Error kinds are those of the failed checks (any agent) whose stand time
    overlaps the clipped stretch.
    """
    out: list[Incident] = []
    lo = bisect_left(down, (start,))
    if lo > 0 and down[lo - 1][1] > start:
        lo -= 1
    longest = [max((u - f for f, u, _ in fs), default=0.0) for fs in failures]
    for s, e in down[lo:]:
        if s >= end:
            break
        cs, ce = max(s, start), min(e, end)
        if ce <= cs:
            continue
        kinds: set[str] = set()
        for fs, span in zip(failures, longest):
            i = bisect_left(fs, (cs - span,))
            while i < len(fs) and fs[i][0] < ce:
                if fs[i][1] > cs:
                    kinds.add(fs[i][2])
                i += 1
        ongoing = e >= now and e <= end
        out.append(Incident(cs, None if ongoing else ce, ce - cs, in_maintenance(cs, ce),
                            tuple(sorted(kinds))))
    return tuple(out)


def _inside(ts: float, intervals: Intervals) -> bool:
    i = bisect_left(intervals, (ts, float("inf"))) - 1
    return i >= 0 and intervals[i][0] <= ts < intervals[i][1]


def _percentiles(values: list[float]) -> tuple[float | None, ...]:
    """Nearest-rank percentiles: the value of rank ceil(p/100 x N), 1-based, in sorted order."""
    if not values:
        return tuple(None for _ in PERCENTILES)
    ordered = sorted(values)
    n = len(ordered)
    return tuple(ordered[max(1, -(-p * n // 100)) - 1] for p in PERCENTILES)


# -- the report: the only part that reads the store ---------------------------


@dataclass(frozen=True)
class Report:
    start: float
    end: float
    partial: bool  # the period has not ended at `generated_at`
    generated_at: float
    timezone: str  # the agent's zone, in which times are written
    probes: tuple[Figures, ...]
    clients: tuple[Figures, ...]


class CheckSource(Protocol):
    """The two reads of `store.Store` a report needs (a fake in tests)."""

    def checks(self, probe: str, start: float | None = None,
               end: float | None = None) -> list[Check]: ...

    def checks_before(self, probe: str, ts: float, n: int) -> list[Check]: ...


def read_spans(store: CheckSource, probe: Probe, start: float, end: float,
               min_downtime: float = 0.0) -> list[Span]:
    """The probe's spans that decide ``[start, end)`` exactly.

    1. All checks in ``[start - min_downtime, end)``: a stretch crossing the
       start is measured back far enough to judge `min_downtime`.
    2. Plus the last checks before that, enough that every agent whose run of
       failures crosses the boundary shows `confirm` checks or an ok one (so
       confirmation is exact), and that each agent's last check before the
       boundary, which stands into it, is there. The lookback doubles until
       that holds or the history runs out (at most 10 times).
    """
    lo = start - min_downtime
    inside = store.checks(probe.id, lo, end)
    confirm = max(1, probe.confirm)
    first: dict[str, Check] = {}
    for c in inside:
        first.setdefault(c.agent, c)
    n = confirm * (len(first) + 1)
    before: list[Check] = []
    for _ in range(11):
        before = store.checks_before(probe.id, lo, n)
        if len(before) < n or confirm == 1 or _lookback_enough(before, first, lo, confirm):
            break
        n *= 2
    return [Span.of(c) for c in before + inside]


def _lookback_enough(before: list[Check], first: dict[str, Check], lo: float, confirm: int) -> bool:
    last: dict[str, Check] = {}
    count: dict[str, int] = {}
    ok: set[str] = set()
    for c in before:
        last[c.agent] = c
        count[c.agent] = count.get(c.agent, 0) + 1
        if c.ok:
            ok.add(c.agent)
    crossing = {a for a, c in first.items() if not c.ok}
    crossing |= {a for a, c in last.items() if not c.ok and c.ts + 2 * c.interval_s > lo}
    return all(a in ok or count.get(a, 0) >= confirm for a in crossing)


def build_report(config: Config, store: CheckSource, start: float, end: float, now: float,
                 client: str | None = None, *, partial: bool | None = None) -> Report:
    """The SLA report for ``[start, end)``: every probe and client, or one client's.

    1. Expand each maintenance window once over the period.
    2. Per probe: read its spans (`read_spans`), build its timeline under its
       SLA and the agent quorum, and its figures.
    3. Per client: its figures from its probes' timelines.

    `partial` defaults to "the period reaches `now`" (``end >= now``), which is
    what `periods.resolve_period` says for every way of giving a period.

    Usage: ``build_report(config, Store(path, readonly=True), start, end, time.time())``
    """
    if client is not None and client not in config.clients:
        raise InputError(f"--client: no client {client!r} in the configuration")
    probes = [p for p in config.probes.values() if client is None or p.client == client]
    clients = [c for c in config.clients.values() if client is None or c.id == client]
    windows = [(w, window_intervals(w, start, end)) for w in config.maintenance]
    measures: dict[str, ProbeMeasure] = {}
    probe_figs: list[Figures] = []
    for p in probes:
        sla = config.sla_for_probe(p)
        maint = union(*[iv for w, iv in windows if covers(w, p)], ())
        spans = read_spans(store, p, start, end, sla.min_downtime if sla else 0.0)
        m = measures[p.id] = measure_probe(p, sla, spans, now, maint, config.agent.quorum)
        owner = config.clients.get(p.client) if p.client else None
        probe_figs.append(figures_of_probe(m, sla, start, end, now,
                                           client_name=owner.name if owner else None))
    client_figs = tuple(
        client_figures(c, config.slas.get(c.sla) if c.sla else None,
                       [measures[p.id] for p in probes if p.client == c.id], start, end, now)
        for c in clients
    )
    return Report(start, end, end >= now if partial is None else partial, now,
                  config.agent.timezone, tuple(probe_figs), client_figs)


def _iso(ts: float | None, zone: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, zone).isoformat()


def _figures_dict(f: Figures, zone: ZoneInfo, *, is_client: bool) -> dict[str, Any]:
    head: dict[str, Any] = (
        {"id": f.id, "name": f.name, "sla": f.sla} if is_client
        else {"id": f.id, "client": f.client, "client_name": f.client_name, "sla": f.sla}
    )
    body: dict[str, Any] = {
        "objective": f.objective, "availability": f.availability, "met": f.met,
        "coverage": f.coverage, "up_seconds": f.up_seconds, "down_seconds": f.down_seconds,
        "unknown_seconds": f.unknown_seconds, "maintenance_seconds": f.maintenance_seconds,
        "outside_hours_seconds": f.outside_hours_seconds,
        "error_budget_seconds": f.error_budget_seconds,
        "budget_left_seconds": f.budget_left_seconds, "credit_percent": f.credit_percent,
        "incidents": [
            {"start": _iso(i.start, zone), "end": _iso(i.end, zone), "seconds": i.seconds,
             "maintenance_seconds": i.maintenance_seconds, "error_kinds": list(i.error_kinds)}
            for i in f.incidents
        ],
        "latency_ms": {"p50": f.latency_p50, "p95": f.latency_p95, "p99": f.latency_p99},
    }
    if is_client:
        body["probes"] = list(f.probes)
    return head | body


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON object of SPEC 6; times in the agent's zone, numbers unrounded."""
    zone = ZoneInfo(report.timezone)
    return {
        "period": {"start": _iso(report.start, zone), "end": _iso(report.end, zone),
                   "partial": report.partial, "timezone": report.timezone},
        "generated_at": _iso(report.generated_at, zone),
        "probes": [_figures_dict(f, zone, is_client=False) for f in report.probes],
        "clients": [_figures_dict(f, zone, is_client=True) for f in report.clients],
    }


def incidents_list(report: Report) -> list[dict[str, Any]]:
    """Rows of `slaprobe incidents`: every probe incident, by start time (then probe id).

    Keys: probe, client, client_name, start, end (None while ongoing), seconds,
    maintenance_seconds, error_kinds; times as in `report_to_dict`.
    """
    zone = ZoneInfo(report.timezone)
    pairs = sorted(((i, f) for f in report.probes for i in f.incidents),
                   key=lambda p: (p[0].start, p[1].id))
    return [
        {"probe": f.id, "client": f.client, "client_name": f.client_name,
         "start": _iso(i.start, zone), "end": _iso(i.end, zone), "seconds": i.seconds,
         "maintenance_seconds": i.maintenance_seconds, "error_kinds": list(i.error_kinds)}
        for i, f in pairs
    ]
