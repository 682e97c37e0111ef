"""Invariants of the availability arithmetic, over random checks, hours, zones and windows."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slaprobe.availability import Figures, client_figures, measure_probe, probe_figures
from slaprobe.config import SLA, Client, CreditTier, Probe
from slaprobe.intervals import normalize, total
from slaprobe.spans import Span

H = 3600.0
ANCHORS = [datetime(2026, m, d, h, tzinfo=UTC).timestamp()
           for m, d, h in ((11, 3, 0), (3, 28, 20), (10, 24, 20), (11, 6, 12))]
HOURS = ["24x7", "Mon-Fri 09:00-17:00", "Sat-Sun 00:00-24:00",
         "Mon-Sun 01:30-02:45; Tue 12:00-13:00"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
KINDS = ["timeout: t", "refused: r", "status: 500", "odd"]
TIERS = (CreditTier(99.9, 10), CreditTier(99.0, 25), CreditTier(95.0, 100))
PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    probe: Probe
    sla: SLA | None
    spans: tuple[Span, ...]
    start: float
    end: float
    now: float
    maintenance: tuple[tuple[float, float], ...]
    quorum: int | None

    def figures(self, **kw) -> Figures:
        c = replace(self, **kw)
        return probe_figures(c.probe, c.sla, c.spans, c.start, c.end, c.now, c.maintenance,
                             c.quorum)


@st.composite
def spans_of(draw, base: float, agents: int) -> tuple[Span, ...]:
    out = []
    for a in range(agents):
        interval = draw(st.sampled_from([30.0, 60.0, 300.0]))
        times = draw(st.lists(st.integers(-3600, 8 * 3600), max_size=80, unique=True))
        for t in sorted(times):
            ok = draw(st.booleans())
            out.append(Span(base + t, base + t, ok, 1, interval, f"a{a}",
                            draw(st.floats(0, 500)) if ok else None,
                            None if ok else draw(st.sampled_from(KINDS))))
    return tuple(out)


@st.composite
def cases(draw) -> Case:
    base = draw(st.sampled_from(ANCHORS))
    start = base + draw(st.integers(0, 3600))
    end = start + draw(st.integers(1, 6 * 3600))
    sla = draw(st.one_of(st.none(), st.builds(
        SLA, id=st.just("s"), objective=st.sampled_from([99.0, 99.9, 99.95]),
        hours=st.sampled_from(HOURS), timezone=st.sampled_from(ZONES),
        min_downtime=st.sampled_from([0.0, 60.0, 300.0]), credits=st.just(TIERS))))
    probe = Probe("p", "tcp", client="c", confirm=draw(st.integers(1, 3)))
    maint = tuple(
        (base + s, base + s + n)
        for s, n in draw(st.lists(st.tuples(st.integers(-3600, 8 * 3600), st.integers(1, 7200)),
                                  max_size=3)))
    return Case(probe, sla, draw(spans_of(base, draw(st.integers(1, 3)))), start, end,
                end + draw(st.integers(-3 * 3600, 3600)), maint,
                draw(st.sampled_from([None, 1, 2])))


def _parts(f: Figures) -> float:
    return (f.up_seconds + f.down_seconds + f.unknown_seconds + f.maintenance_seconds
            + f.outside_hours_seconds)


@PROPS
@given(cases())
def test_time_splits_exactly_into_the_five_parts(c):
    f = c.figures()
    assert math.isclose(_parts(f), c.end - c.start, abs_tol=1e-6)
    assert min(f.up_seconds, f.down_seconds, f.unknown_seconds, f.maintenance_seconds,
               f.outside_hours_seconds) >= -1e-9
    if f.availability is not None:
        assert 0 <= f.availability <= 100
        assert f.coverage is not None and 0 < f.coverage <= 1 + 1e-12


@PROPS
@given(cases(), cases())
def test_client_time_splits_exactly(c, other):
    p2 = Probe("q", "tcp", client="c", confirm=other.probe.confirm)
    measures = [measure_probe(c.probe, c.sla, c.spans, c.now, c.maintenance),
                measure_probe(p2, c.sla, other.spans, c.now, other.maintenance)]
    f = client_figures(Client("c", "C"), c.sla, measures, c.start, c.end, c.now)
    assert math.isclose(_parts(f), c.end - c.start, abs_tol=1e-6)
    for m in measures:  # the client is down at least where any probe counts as down
        p = client_figures(Client("c", "C"), c.sla, [m], c.start, c.end, c.now)
        assert p.down_seconds <= f.down_seconds + 1e-6


@PROPS
@given(cases(), st.integers(-3600, 8 * 3600), st.integers(1, 7200))
def test_adding_a_window_never_increases_down_time(c, s, n):
    before = c.figures()
    window = (c.start + s, c.start + s + n)
    after = c.figures(maintenance=c.maintenance + (window,))
    assert after.down_seconds <= before.down_seconds + 1e-9
    assert after.maintenance_seconds >= before.maintenance_seconds - 1e-9


@PROPS
@given(cases(), st.data())
def test_a_window_over_down_time_never_lowers_availability(c, data):
    before = c.figures()
    m = measure_probe(c.probe, c.sla, c.spans, c.now, c.maintenance, c.quorum)
    if not m.timeline.down or before.availability is None:
        return
    s, e = data.draw(st.sampled_from(m.timeline.down))
    a = data.draw(st.floats(s, e))
    b = data.draw(st.floats(a, e))
    after = c.figures(maintenance=c.maintenance + ((a, b),))
    assert after.up_seconds == before.up_seconds
    if after.availability is not None:
        assert after.availability >= before.availability - 1e-9


def _margin(c: Case) -> float:
    """How far before the period a check can matter: min_downtime, then two intervals."""
    return (c.sla.min_downtime if c.sla else 0.0) + 2 * 300.0  # 300: longest interval drawn


def _outside(c: Case, spans: tuple[Span, ...]) -> tuple[Span, ...]:
    return tuple(s for s in spans if s.first < c.start - _margin(c) or s.first >= c.end)


@PROPS
@given(cases(), st.data())
def test_ok_checks_outside_the_read_range_change_nothing(c, data):
    inside = tuple(s for s in c.spans if c.start - _margin(c) <= s.first < c.end)
    c = replace(c, spans=inside)  # otherwise an ok check could split an earlier run
    extra = _outside(c, data.draw(spans_of(c.start - 2 * H, 3)))
    extra = tuple(replace(s, ok=True, error=None) for s in extra)
    assert c.figures(spans=c.spans + extra) == c.figures()


@PROPS
@given(cases(), st.data())
def test_any_checks_outside_the_read_range_change_nothing_without_confirm_or_min_downtime(c, data):
    c = replace(c, probe=replace(c.probe, confirm=1),
                sla=c.sla and replace(c.sla, min_downtime=0.0))
    extra = _outside(c, data.draw(spans_of(c.start - 2 * H, 3)))
    assert c.figures(spans=c.spans + extra) == c.figures()


@PROPS
@given(cases())
def test_incidents_lie_in_the_period_and_cover_the_down_time(c):
    f = c.figures()
    for i in f.incidents:
        end = c.now if i.end is None else i.end
        assert c.start <= i.start < end <= c.end
        assert math.isclose(i.seconds, end - i.start, abs_tol=1e-6)
        assert 0 <= i.maintenance_seconds <= i.seconds + 1e-9
    covered = total(normalize((i.start, c.now if i.end is None else i.end) for i in f.incidents))
    assert f.down_seconds <= covered + 1e-6
