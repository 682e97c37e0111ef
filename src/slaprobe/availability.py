"""The SLA report: figures of every probe and client for a period, read from the store.

`build_report` is the one place availability touches I/O: it reads each
probe's checks (with the lookback that makes the period's edges exact) and
hands them to the pure arithmetic of `figures`. `report_to_dict` and
`incidents_list` turn the Report into the JSON of SPEC 6 and the rows of
`slaprobe incidents`. The figures API is re-exported here.

Usage: ``report = build_report(config, store, start, end, now=time.time())``
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from .checks import Check
from .config import Client, Config, Maintenance, Probe
from .errors import InputError, StoreError
from .exclusions import WindowUse, window_uses
from .figures import (
    EligibleTime,
    FailedChecks,
    Figures,
    Incident,
    LatencySource,
    ProbeMeasure,
    SpanInput,
    client_figures,
    eligible_time,
    error_kind,
    failed_stands,
    figures_of_probe,
    measure_probe,
    probe_figures,
)
from .hours import hours_spec
from .intervals import Intervals, union
from .maintenance import covers, window_intervals
from .spans import Span
from .store import legacy_bucket_value
from .timeline import group_by_agent

__all__ = [
    "CheckSource", "Figures", "Incident", "ProbeMeasure", "Report", "SpanInput", "build_report",
    "client_figures", "error_kind", "figures_of_probe", "incidents_list", "measure_probe",
    "probe_figures", "read_spans", "report_to_dict",
]


@dataclass(frozen=True)
class Report:
    start: float
    end: float
    partial: bool  # the period has not ended at `generated_at`
    generated_at: float
    timezone: str  # the agent's zone, in which times are written
    probes: tuple[Figures, ...]
    clients: tuple[Figures, ...]
    windows: tuple[WindowUse, ...] = ()  # each window occurrence covering a reported probe


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
    2. All checks up to two intervals (the longest seen) before that: any
       check of any agent that stands into the range, so quorum is exact.
    3. The last checks before those, enough that every agent whose first
       check read is failed shows `confirm` earlier checks or an ok one, so
       its run is judged exactly. The count doubles until that holds or the
       history runs out (at most 10 times).
    Checks at or after `end` are not read: a closed period's figures do not
    move when later checks arrive.
    """
    lo = start - min_downtime
    inside = store.checks(probe.id, lo, end)
    reach = 2.0 * max([probe.interval, *(c.interval_s for c in inside)])
    near = store.checks(probe.id, lo - reach, lo)
    read = near + inside
    confirm = max(1, probe.confirm)
    first: dict[str, Check] = {}
    for c in read:
        first.setdefault(c.agent, c)
    crossing = {a for a, c in first.items() if not c.ok}
    before: list[Check] = []
    if confirm > 1 and crossing:
        n = confirm * (len(first) + 1)
        for _ in range(11):
            before = store.checks_before(probe.id, lo - reach, n)
            if len(before) < n or _lookback_enough(before, crossing, confirm):
                break
            n *= 2
    return [Span.of(c) for c in before + read]


@runtime_checkable
class SegmentSource(CheckSource, Protocol):
    """A store that also keeps segments, failed checks and latency histograms (store.Store)."""

    def spans(self, probe: str, start: float | None = None,
              end: float | None = None) -> list[Span]: ...

    def spans_before(self, probe: str, ts: float, n: int) -> list[Span]: ...

    def failed_checks(self, probe: str, start: float, end: float) -> list[Check]: ...

    def latencies(self, probe: str, start: float, end: float) -> list[tuple[float, float]]: ...

    def latency_histogram(self, probe: str, start: float,
                          end: float) -> list[tuple[float, int, int]]: ...

    def pruned_before_ms(self) -> int | None: ...


_FailedRow = tuple[float, str | None, float, str]  # a failed check: ts, error, interval_s, agent


def read_segments(store: SegmentSource, probe: Probe, start: float, end: float,
                  lookback: float, now: float, *, latency: bool = True,
                  error_kinds: bool = True, horizon: float | None = None,
                  ) -> tuple[list[Span], FailedChecks,
                             LatencySource | list[tuple[float, float]]]:
    """Spans, failed checks and latencies for ``[start, end)`` from segments.

    1. Segments reaching into ``[start - lookback - 2 x interval, end)``, plus
       earlier ones until each agent's first segment read is ok or the failed
       run before it holds `confirm` checks (segments carry their count).
    2. Failures: each failed segment stands like its checks. Its error kind is
       its own (`Store.segments_have_kinds`), its checks counted from its `n`
       and read one by one only where an interval's edge cuts it; on a database
       from before kinds, its error kinds are those of the raw failed checks
       inside it (failed checks are never pruned).
    3. Latencies (with `latency`, else ``[]``): a LatencySource answering by
       eligible time, from the store's rollups and raw checks
       (`store.RollupLatency`; time before `horizon`, now - keep_raw, read as
       pruning leaves it); no per-check tuples are built. A store without
       rollups (an old database opened read-only) gives (ts, latency_ms) samples
       as before: raw successful checks, and for pruned time the hourly
       histograms (each bucket's middle value, at the middle of its hour).
    """
    lo = start - lookback - 2.0 * probe.interval
    spans = _with_lookback(store, probe, store.spans(probe.id, lo, end), lo)
    rows: list[_FailedRow] = []
    if _kinds_in_segments(store):
        failures = _failures_of_segments(spans, now, _times_reader(store, probe.id))
    else:
        if error_kinds:  # else each failed segment stands as one failure: same down time
            f0 = spans[0].first if spans else lo
            details = getattr(store, "failed_details", None)
            rows = details(probe.id, f0, end) if details is not None else [
                (c.ts, c.error, c.interval_s, c.agent)
                for c in store.failed_checks(probe.id, f0, end)]
        failures = _failures(spans, rows, now)
    if latency and hasattr(store, "latency_reader") and store.has_rollups():  # type: ignore[attr-defined]
        return spans, failures, store.latency_reader(  # type: ignore[attr-defined]
            probe.id, start, end, horizon=horizon)
    return spans, failures, _samples(store, probe, lo, end) if latency else []


def _with_lookback(store: SegmentSource, probe: Probe, spans: list[Span], lo: float,
                   ) -> list[Span]:
    """`spans` (read from `lo`) with the earlier ones that judge `confirm` (read_segments 1)."""
    confirm = max(1, probe.confirm)
    first: dict[str, Span] = {}
    for s in spans:
        first.setdefault(s.agent, s)
    if confirm > 1 and any(not s.ok for s in first.values()):
        n = confirm * (len(first) + 1)
        for _ in range(11):
            before = store.spans_before(probe.id, spans[0].first if spans else lo, n)
            if len(before) < n or _lookback_enough(
                    before, {a for a, s in first.items() if not s.ok}, confirm):
                break
            n *= 2
        spans = before + spans
    return spans


def _kinds_in_segments(store: object) -> bool:
    """Whether the store's failed segments carry their error kinds (store.Store, schema
    m012 on): then no failed check is read but those an interval's edge cuts."""
    has = getattr(store, "segments_have_kinds", None)
    return bool(has is not None and has())


def _times_reader(store: object, probe: str) -> Callable[[str, float, float], list[float]]:
    """`Store.failed_times` of one probe, each run read once (a probe and its client may
    both count it)."""
    read = store.failed_times  # type: ignore[attr-defined]
    seen: dict[tuple[str, float, float], list[float]] = {}

    def times(agent: str, first: float, last: float) -> list[float]:
        key = (agent, first, last)
        if key not in seen:
            seen[key] = read(probe, agent, first, last)
        return seen[key]
    return times


def _failures_of_segments(spans: list[Span], now: float,
                          read: Callable[[str, float, float], Sequence[float]]) -> FailedChecks:
    """`_failures` from segments that carry their error kind (in `Span.error`): each failed
    segment stands whole with its kind (its checks follow each other, so they stand
    without a gap) and is one run of its n checks for counting."""
    stands: list[tuple[float, float, str]] = []
    runs: list[tuple[float, float, int, str]] = []
    for agent, s, stop in failed_stands(group_by_agent(spans), now):
        if stop > s.first:
            stands.append((s.first, stop, error_kind(s.error)))
            runs.append((s.first, s.last, s.n, agent))
    return FailedChecks(tuple(stands), (), tuple(runs), read)


def _failures(spans: list[Span], rows: list[_FailedRow], now: float) -> FailedChecks:
    """Where the failed checks standing in `spans` stand, and when each was (read_segments
    2), from the raw failed checks' (ts, error, interval_s, agent) `rows` in time order.

    Each check stands from its time until the next check of its agent, at most twice
    its interval, and not past `now`; the last in a failed segment until the segment
    ends (or the next begins). Checks that follow each other (until == next ts) with
    the same kind stand as one stretch, so a long outage costs its incidents one item."""
    # per agent: its raw failed checks, in time order
    agents = {r[3] for r in rows}
    raw_failed: dict[str, list[_FailedRow]] = {next(iter(agents)): rows} if len(agents) == 1 \
        else {a: [r for r in rows if r[3] == a] for a in agents}
    stands: list[tuple[float, float, str]] = []
    at: list[float] = []
    kind_of: dict[str | None, str] = {}
    times_of: dict[str, tuple[list[float], bool]] = {}
    for agent, s, stop in failed_stands(group_by_agent(spans), now):
        kinds_of = raw_failed.get(agent, [])
        if agent not in times_of:
            times = [c[0] for c in kinds_of]  # in time order (the store's), so bisect
            times_of[agent] = times, all(a <= b for a, b in pairwise(times))
        times, ordered = times_of[agent]
        inside = kinds_of[bisect_left(times, s.first):bisect_right(times, s.last)] \
            if ordered else [c for c in kinds_of if s.first <= c[0] <= s.last]
        if not inside:  # raw checks unavailable: the segment stands as one failure
            inside = [(s.first, s.error, s.interval_s, agent)]
        last = len(inside) - 1
        run_from, run_until, run_kind = 0.0, -1.0, ""
        for j, (ts, err, iv, _) in enumerate(inside):  # each failed check stands as raw
            until = min(inside[j + 1][0], ts + 2.0 * iv, now) if j < last else stop
            if until <= ts:
                continue
            kind = kind_of.get(err)
            if kind is None:
                kind = kind_of[err] = error_kind(err)
            at.append(ts)
            if ts == run_until and kind == run_kind:
                run_until = until
                continue
            if run_until > run_from:
                stands.append((run_from, run_until, run_kind))
            run_from, run_until, run_kind = ts, until, kind
        if run_until > run_from:
            stands.append((run_from, run_until, run_kind))
    return FailedChecks(tuple(stands), tuple(at))


def _samples(store: SegmentSource, probe: Probe, lo: float, end: float,
             ) -> list[tuple[float, float]]:
    """(ts, latency_ms) samples of a store without rollups (read_segments 3)."""
    pruned = store.pruned_before_ms()
    horizon = max(lo, pruned / 1000) if pruned is not None else lo
    samples = store.latencies(probe.id, horizon, end)
    if pruned is not None and lo < horizon:
        for hour, bucket, count in store.latency_histogram(probe.id, lo, horizon):
            samples.extend([(hour + 1800.0, legacy_bucket_value(bucket))] * count)
    return samples


def read_segments_many(store: SegmentSource, wanted: list[tuple[Probe, float]], start: float,
                       end: float, now: float, *, latency: bool = True,
                       error_kinds: bool = True, groups: list[list[str]] | None = None,
                       hours: Mapping[str, str | None] | None = None,
                       horizon: float | None = None,
                       ) -> dict[str, tuple[list[Span], FailedChecks,
                                            LatencySource | list[tuple[float, float]]]]:
    """`read_segments` of many (probe, lookback) at once, by probe id: the same results,
    read in a few statements for all of them when the store has the batch reads
    (`spans_many`, `failed_details_many`, `latency_readers`), else probe by probe.
    `groups`: probe ids sharing their eligible time (their latency reads are shared);
    `hours`: each probe's SLA hours (`hours.hours_spec`), for the SLA-hours digests."""
    if not all(hasattr(store, a) for a in ("spans_many", "failed_details_many",
                                           "latency_readers")):
        return {p.id: read_segments(store, p, start, end, lb, now, latency=latency,
                                    error_kinds=error_kinds, horizon=horizon)
                for p, lb in wanted}
    los = {p.id: start - lb - 2.0 * p.interval for p, lb in wanted}
    got = store.spans_many([(p.id, los[p.id]) for p, _ in wanted], end)  # type: ignore[attr-defined]
    spans = {p.id: _with_lookback(store, p, got[p.id], los[p.id]) for p, _ in wanted}
    rows: dict[str, list[_FailedRow]] = {}
    kinds = _kinds_in_segments(store)
    if error_kinds and not kinds:
        rows = store.failed_details_many(  # type: ignore[attr-defined]
            [(p.id, spans[p.id][0].first if spans[p.id] else los[p.id]) for p, _ in wanted], end)
    readers: dict[str, LatencySource] = {}
    if latency and store.has_rollups():  # type: ignore[attr-defined]
        readers = store.latency_readers(  # type: ignore[attr-defined]
            groups if groups is not None else [[p.id for p, _ in wanted]], start, end,
            hours=hours, horizon=horizon)
    out = {}
    for p, _ in wanted:
        sp = spans[p.id]
        samples: LatencySource | list[tuple[float, float]] = []
        if latency:
            samples = readers[p.id] if readers else _samples(store, p, los[p.id], end)
        out[p.id] = (sp, _failures_of_segments(sp, now, _times_reader(store, p.id)) if kinds
                     else _failures(sp, rows.get(p.id, []), now), samples)
    return out


def _roll_up(store: object, now: float) -> None:
    """Before reading latencies: fold what is not rolled up yet into digests, when the store
    can (writable); else the report reads that time raw and persists nothing."""
    roll = getattr(store, "roll_up", None)
    if roll is None or getattr(store, "readonly", True):
        return
    try:
        roll(now)
    except StoreError:  # busy or unwritable: this report reads that time raw
        pass


def _lookback_enough(before: list[Check] | list[Span], crossing: set[str], confirm: int) -> bool:
    count: dict[str, int] = {}
    ok: set[str] = set()
    for c in before:
        count[c.agent] = count.get(c.agent, 0) + getattr(c, "n", 1)
        if c.ok:
            ok.add(c.agent)
    return all(a in ok or count.get(a, 0) >= confirm for a in crossing)


def build_report(config: Config, store: CheckSource, start: float, end: float, now: float,
                 client: str | None = None, *, partial: bool | None = None,
                 latency: bool = True, first_seen: Mapping[str, float] | None = None,
                 error_kinds: bool = True,
                 seen_since: float | None = None) -> Report:
    """The SLA report for ``[start, end)``: every probe and client, or one client's.

    1. Expand each maintenance window once over the period.
    2. Per probe: read its spans (`read_spans`), build its timeline under its
       SLA and the agent quorum, and its figures.
    3. Per client: its figures from its probes' timelines.

    A real Store is read through its segments (`read_segments`): the timeline
    costs a few rows per steady probe and survives retention; `latency=False`
    skips reading latencies (status does not show percentiles) and
    `error_kinds=False` the failed checks that only name incidents' error kinds
    (status and /metrics need the figures, not the kinds).

    `partial` defaults to "the period reaches `now`" (``end >= now``), which is
    what `periods.resolve_period` says for every way of giving a period.
    `first_seen` (window id -> when slaprobe first saw it as it is) and
    `seen_since` (when it began recording) mark retroactive windows; see
    `windows_seen.first_seen` and `exclusions`.

    Usage: ``build_report(config, Store(path, readonly=True), start, end, time.time())``
    """
    if client is not None and client not in config.clients:
        raise InputError(f"--client: no client {client!r} in the configuration")
    probes = [p for p in config.probes.values() if client is None or p.client == client]
    clients = [c for c in config.clients.values() if client is None or c.id == client]
    parts = report_parts(config, store, probes, clients, start, end, now, latency=latency,
                         error_kinds=error_kinds)
    return assemble_report(config, [parts], probes, clients, start, end, now,
                           partial=partial, first_seen=first_seen, seen_since=seen_since)


@dataclass(frozen=True)
class ReportParts:
    """The figures of some probes and clients, and what the report's window uses need of
    each probe: its down time and its SLA hours in the period (plain data: it crosses
    processes in `report_shards`)."""

    probes: tuple[Figures, ...]
    clients: tuple[Figures, ...]
    down_and_hours: dict[str, tuple[Intervals, Intervals]]


def report_parts(config: Config, store: CheckSource, probes: Sequence[Probe],
                 clients: Sequence[Client], start: float, end: float, now: float, *,
                 latency: bool = True, error_kinds: bool = True) -> ReportParts:
    """Steps 1-3 of `build_report` for `probes` and `clients` (a client's probes must all be
    among `probes`)."""
    windows = [(w, window_intervals(w, start, end)) for w in config.maintenance]
    measures: dict[str, ProbeMeasure] = {}
    probe_figs: list[Figures] = []
    segmented = isinstance(store, SegmentSource)  # a Protocol check: costly, so once
    if latency and segmented:
        _roll_up(store, now)
    # What probes share: their windows' time by category, and the eligible time under an
    # SLA, depend on the SLA and the covering windows only: computed once per combination.
    shared: dict[tuple[str | None, tuple[int, ...]], tuple[Intervals, dict[str, Intervals],
                                                           EligibleTime | None]] = {}
    eligible_of: dict[str, EligibleTime] = {}
    slas = {p.id: config.sla_for_probe(p) for p in probes}
    keys = {p.id: (slas[p.id].id if slas[p.id] else None,  # type: ignore[union-attr]
                   tuple(i for i, (w, _) in enumerate(windows) if covers(w, p)))
            for p in probes}
    read: dict[str, Any] = {}
    if segmented:  # every probe's segments, failures and latency readers in a few reads
        groups: dict[tuple[str | None, tuple[int, ...]], list[str]] = {}
        for p in probes:
            groups.setdefault(keys[p.id], []).append(p.id)
        read = read_segments_many(
            store, [(p, s.min_downtime if (s := slas[p.id]) else 0.0) for p in probes],  # type: ignore[arg-type]
            start, end, now, latency=latency, error_kinds=error_kinds,
            groups=list(groups.values()),
            hours={p.id: hours_spec(s.hours, s.timezone) if (s := slas[p.id]) else None
                   for p in probes},
            horizon=now - config.agent.keep_raw)  # as retention leaves it, pruned or not yet
    for p in probes:
        sla = slas[p.id]
        key = keys[p.id]
        got = shared.get(key)
        if got is None:
            maint, categories = _covering(windows, p)
            got = shared[key] = (maint, categories, None)
        maint, categories, el = got
        lookback = sla.min_downtime if sla else 0.0
        if segmented:
            spans, failures, samples = read.pop(p.id)
            m = measure_probe(p, sla, spans, now, maint, config.agent.quorum,
                              failures=failures, samples=samples, categories=categories)
        else:
            spans = read_spans(store, p, start, end, lookback)
            m = measure_probe(p, sla, spans, now, maint, config.agent.quorum,
                              categories=categories)
        if el is None:
            el = eligible_time(sla, m.maintenance, m.categories, start, end)
            shared[key] = (maint, categories, el)
        eligible_of[p.id] = el
        measures[p.id] = m
        owner = config.clients.get(p.client) if p.client else None
        probe_figs.append(figures_of_probe(m, sla, start, end, now,
                                           client_name=owner.name if owner else None,
                                           eligible_as=el))
    client_figs = tuple(
        client_figures(c, config.slas.get(c.sla) if c.sla else None,
                       [measures[p.id] for p in probes if p.client == c.id], start, end, now)
        for c in clients
    )
    return ReportParts(tuple(probe_figs), client_figs,
                       {p.id: (measures[p.id].timeline.down, eligible_of[p.id].hours)
                        for p in probes})


def assemble_report(config: Config, parts: Sequence[ReportParts], probes: Sequence[Probe],
                    clients: Sequence[Client], start: float, end: float, now: float, *,
                    partial: bool | None = None, first_seen: Mapping[str, float] | None = None,
                    seen_since: float | None = None) -> Report:
    """The Report of `probes` and `clients`, in that order, from parts that hold them all;
    each window occurrence's use is computed here, over every probe at once."""
    by_id = {f.id: f for part in parts for f in part.probes}
    client_by_id = {f.id: f for part in parts for f in part.clients}
    head = report_head(config, {pid: v for part in parts for pid, v in part.down_and_hours.items()},
                       probes, start, end, now, partial=partial, first_seen=first_seen,
                       seen_since=seen_since)
    return replace(head, probes=tuple(by_id[p.id] for p in probes),
                   clients=tuple(client_by_id[c.id] for c in clients))


def report_head(config: Config, down_and_hours: Mapping[str, tuple[Intervals, Intervals]],
                probes: Sequence[Probe], start: float, end: float, now: float, *,
                partial: bool | None = None, first_seen: Mapping[str, float] | None = None,
                seen_since: float | None = None) -> Report:
    """The Report of `assemble_report` without its probes' and clients' entries: the
    period and the window uses over `probes`, from each one's down time and SLA hours
    (`ReportParts.down_and_hours`; for reports whose entries are written apart, see
    `report_shards.sharded_report_json`)."""
    uses = window_uses(config.maintenance,
                       [(p, *down_and_hours[p.id]) for p in probes],
                       start, end, first_seen or {}, seen_since)
    return Report(start, end, end >= now if partial is None else partial, now,
                  config.agent.timezone, (), (), uses)


def _covering(windows: list[tuple[Maintenance, Intervals]], p: Probe,
              ) -> tuple[Intervals, dict[str, Intervals]]:
    """The time of the windows covering `p`, and the same by window category."""
    maint = union(*[iv for w, iv in windows if covers(w, p)], ())
    categories: dict[str, Intervals] = {}
    for w, iv in windows:
        if iv and covers(w, p):
            categories[w.category] = union(categories.get(w.category, ()), iv)
    return maint, categories


def _iso(ts: float | None, zone: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, zone).isoformat()


def figures_dict(f: Figures, zone: ZoneInfo, *, is_client: bool) -> dict[str, Any]:
    """One entry of the report's probes (or clients) list, as in SPEC 6."""
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
             "maintenance_seconds": i.maintenance_seconds, "overrun_seconds": i.overrun_seconds,
             "error_kinds": list(i.error_kinds)}
            for i in f.incidents
        ],
        "latency_ms": {"p50": f.latency_p50, "p95": f.latency_p95, "p99": f.latency_p99},
        **review_figures(f),
    }
    if is_client:
        body["probes"] = list(f.probes)
    return head | body


def review_figures(f: Figures) -> dict[str, Any]:
    """Excluded time by category, KPIs, latency objective and Apdex of one entry (JSON)."""
    k, lo, ap = f.kpis, f.latency_objective, f.apdex
    return {
        "excluded_seconds": dict(f.excluded_seconds),
        "kpis": None if k is None else {
            "incidents": k.incidents, "mttr_seconds": k.mttr_seconds,
            "mtbf_seconds": k.mtbf_seconds, "longest_incident_seconds": k.longest_incident_seconds,
        },
        "latency_objective": None if lo is None else {
            "threshold_ms": lo.threshold_ms, "objective": lo.objective, "attained": lo.attained,
            "met": lo.met,
        },
        "apdex": None if ap is None else {"score": ap.score, "t_ms": ap.t_ms},
    }


def _window_dict(u: WindowUse, zone: ZoneInfo) -> dict[str, Any]:
    return {"id": u.id, "category": u.category, "reason": u.reason, "ticket": u.ticket,
            "start": _iso(u.start, zone), "end": _iso(u.end, zone), "seconds": u.seconds,
            "probes": list(u.probes), "retroactive": u.retroactive,
            "first_seen": _iso(u.first_seen, zone),
            "excluded_down_seconds": u.excluded_down_seconds}


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as the JSON object of SPEC 6; times in the agent's zone, numbers unrounded."""
    zone = ZoneInfo(report.timezone)
    return {
        "period": {"start": _iso(report.start, zone), "end": _iso(report.end, zone),
                   "partial": report.partial, "timezone": report.timezone},
        "generated_at": _iso(report.generated_at, zone),
        "probes": [figures_dict(f, zone, is_client=False) for f in report.probes],
        "clients": [figures_dict(f, zone, is_client=True) for f in report.clients],
        "windows": [_window_dict(u, zone) for u in report.windows],
    }


def incidents_list(report: Report) -> list[dict[str, Any]]:
    """Rows of `slaprobe incidents`: every probe incident, by start time (then probe id).

    Keys: probe, client, client_name, start, end (None while ongoing), seconds,
    maintenance_seconds, overrun_seconds, error_kinds; times as in `report_to_dict`.
    """
    zone = ZoneInfo(report.timezone)
    pairs = sorted(((i, f) for f in report.probes for i in f.incidents),
                   key=lambda p: (p[0].start, p[1].id))
    return [
        {"probe": f.id, "client": f.client, "client_name": f.client_name,
         "start": _iso(i.start, zone), "end": _iso(i.end, zone), "seconds": i.seconds,
         "maintenance_seconds": i.maintenance_seconds, "overrun_seconds": i.overrun_seconds,
         "error_kinds": list(i.error_kinds)}
        for i, f in pairs
    ]
