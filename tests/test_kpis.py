"""Service KPIs, the latency objective and Apdex: hand-computed tables, then through the figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slaprobe.config import SLA, Client, LatencyObjective, Probe, parse_config
from slaprobe.errors import ConfigError
from slaprobe.figures import Incident, client_figures, measure_probe, probe_figures
from slaprobe.kpis import Apdex, Kpis, apdex, latency_attainment, service_kpis
from slaprobe.render_review import fmt_apdex
from slaprobe.spans import Span

M, H, DAY = 60.0, 3600.0, 86400.0
D = datetime(2026, 11, 3, tzinfo=UTC).timestamp()
FAST = SLA("fast", 99.9, latency=LatencyObjective(threshold=0.2, objective=90.0))
PLAIN = SLA("plain", 99.9)
WEB = Probe("web", "http", client="acme", interval=60)
API = Probe("api", "http", client="acme", interval=60)


def inc(start: float, seconds: float) -> Incident:
    return Incident(start, start + seconds, seconds, 0.0)


# ---------------------------------------------------------------- service_kpis


@pytest.mark.parametrize(
    "incidents, counted, up, expected",
    [
        # nothing happened: no incident, every mean null
        ([], (), 86400.0, Kpis(0, None, None, None)),
        # one 10-minute incident fully counted: MTTR 600, MTBF = up / 1
        ([inc(0, 600)], ((0, 600),), 85800.0, Kpis(1, 600.0, 85800.0, 600.0)),
        # two incidents of 300 s and 900 s: MTTR 600, longest 900, MTBF up / 2
        ([inc(0, 300), inc(5000, 900)], ((0, 300), (5000, 5900)), 85200.0,
         Kpis(2, 600.0, 42600.0, 900.0)),
        # the second lies wholly in maintenance (nothing counted): only the first counts
        ([inc(0, 300), inc(5000, 900)], ((0, 300),), 85200.0, Kpis(1, 300.0, 85200.0, 300.0)),
        # partly counted (half in a window): counted, with its whole wall duration
        ([inc(1000, 1200)], ((1600, 2200),), 80000.0, Kpis(1, 1200.0, 80000.0, 1200.0)),
        # nothing counted at all (both outside the SLA hours)
        ([inc(0, 300), inc(900, 300)], ((5000, 6000),), 1000.0, Kpis(0, None, None, None)),
    ],
)
def test_service_kpis(incidents, counted, up, expected):
    assert service_kpis(incidents, counted, up) == expected


# ---------------------------------------------------------------- latency objective


@pytest.mark.parametrize(
    "latencies, threshold, objective, attained, met",
    [
        ([], 500, 99.0, None, None),  # no successful check in eligible time
        ([100, 200, 300, 400], 500, 99.0, 100.0, True),
        ([100, 200, 300, 600], 500, 99.0, 75.0, False),
        ([100, 200, 300, 600], 500, 75.0, 75.0, True),  # exactly the objective is met
        ([500, 500.0001], 500, 50.0, 50.0, True),  # at the threshold is fast enough
        ([1000] * 3, 500, 1.0, 0.0, False),
    ],
)
def test_latency_attainment(latencies, threshold, objective, attained, met):
    got = latency_attainment(latencies, threshold, objective)
    assert (got.threshold_ms, got.objective, got.attained, got.met) == (
        threshold, objective, attained, met)


# ---------------------------------------------------------------- Apdex


@pytest.mark.parametrize(
    "latencies, failed, t, score, counts",
    [
        ([], 0, 500, None, (0, 0, 0)),  # no sample: NS
        ([100] * 10, 0, 500, 1.0, (10, 0, 0)),
        # apdex.org's example shape: 60 satisfied, 30 tolerating, 10 frustrated -> 0.75
        ([400] * 60 + [1500] * 30 + [2500] * 10, 0, 500, 0.75, (60, 30, 10)),
        ([500, 2000, 2000.5], 0, 500, 0.5, (1, 1, 1)),  # T and 4T are inclusive
        ([100] * 8, 2, 500, 0.8, (8, 0, 2)),  # failed checks are frustrated
        ([], 3, 500, 0.0, (0, 0, 3)),
        ([150, 250, 900], 1, 200, 0.375, (1, 1, 2)),  # T = 200 ms: 150 S, 250 T, 900 F
    ],
)
def test_apdex(latencies, failed, t, score, counts):
    got = apdex(latencies, failed, t)
    assert got.score == score
    assert (got.satisfied, got.tolerating, got.frustrated) == counts
    assert got.t_ms == t


@pytest.mark.parametrize(
    "value, text",
    [({"score": 0.9394, "t_ms": 500.0}, "0.94 [0.5]"),
     ({"score": 1.0, "t_ms": 1500.0}, "1.00 [1.5]"),
     ({"score": 0.5, "t_ms": 2000.0}, "0.50 [2]"),
     ({"score": None, "t_ms": 250.0}, "NS [0.25]"),
     (None, "\u2014")],
)
def test_apdex_is_shown_with_t_in_seconds(value, text):
    assert fmt_apdex(value) == text


# ---------------------------------------------------------------- through the figures


def checks(start: float, count: int, *, failed=(), latency=lambda i: 100.0) -> list[Span]:
    fail = set(failed)
    return [Span(start + i * M, start + i * M, i not in fail, 1, M, "a1",
                 None if i in fail else latency(i), "timeout: x" if i in fail else None)
            for i in range(count)]


def test_probe_kpis_latency_objective_and_apdex_hand_computed():
    """One day of minute checks: latency 100 ms, every 10th 300 ms, every 50th 1 s.

    Failed 10:00-10:09 (10 checks) and 14:00-14:04 (5 checks); a window
    14:00-14:30 makes the second incident not count against the SLA.
    Successful checks: 1440 - 15 = 1425, minus the 25 standing in the window's
    other minutes (14:05-14:29) = 1400 in eligible time.
    """
    def latency(i: int) -> float:
        return 1000.0 if i % 50 == 0 else 300.0 if i % 10 == 0 else 100.0

    failed = [*range(600, 610), *range(840, 845)]
    spans = checks(D, 1440, failed=failed, latency=latency)
    f = probe_figures(WEB, FAST, spans, D, D + DAY, D + DAY + H, ((D + 14 * H, D + 14.5 * H),))
    assert [(i.seconds, i.maintenance_seconds) for i in f.incidents] == [(600, 0), (300, 300)]
    assert f.kpis == Kpis(1, 600.0, f.up_seconds / 1, 600.0)
    assert f.up_seconds == DAY - 1800 - 600
    # eligible successful checks: all minutes but the failed ten and the window's 30
    ok = [i for i in range(1440) if i not in failed and not 840 <= i < 870]
    slow = [i for i in ok if i % 10 == 0]  # 300 ms or 1 s: over the 200 ms threshold
    assert f.latency_objective is not None
    assert f.latency_objective.attained == pytest.approx((len(ok) - len(slow)) * 100 / len(ok))
    assert f.latency_objective.met is True  # 90 % objective: 1-in-10 slow is ~90.0 %
    # Apdex with T = 200 ms: 100 ms satisfied, 300 ms tolerating (<= 800), 1 s frustrated;
    # the ten failed checks at 10:00 are frustrated, the five in the window are not counted
    very_slow = [i for i in ok if i % 50 == 0]
    s, t, fr = len(ok) - len(slow), len(slow) - len(very_slow), len(very_slow) + 10
    assert f.apdex == Apdex((s + t / 2) / (s + t + fr), 200.0, s, t, fr)


def test_without_latency_objective_apdex_uses_500_ms():
    f = probe_figures(WEB, PLAIN, checks(D, 60, latency=lambda i: 600.0), D, D + H, D + H, ())
    assert f.latency_objective is None
    assert f.apdex is not None and f.apdex.t_ms == 500 and f.apdex.score == 0.5


def test_nothing_measured_gives_null_kpis_and_no_apdex_score():
    f = probe_figures(WEB, FAST, [], D, D + H, D + H, ())
    assert f.kpis == Kpis(0, None, None, None)
    assert f.latency_objective is not None and f.latency_objective.attained is None
    assert f.apdex is not None and f.apdex.score is None


def test_client_kpis_and_apdex_pool_its_probes():
    web = measure_probe(WEB, FAST, checks(D, 60, failed=range(10, 15)), D + H, ())
    api = measure_probe(API, FAST, checks(D, 60, failed=range(12, 20),
                                          latency=lambda i: 500.0), D + H, ())
    c = client_figures(Client("acme", "ACME", "fast"), FAST, [web, api], D, D + H, D + H)
    # client down 10:10-10:20 as one stretch (either probe down)
    assert [i.seconds for i in c.incidents] == [600]
    assert c.kpis == Kpis(1, 600.0, c.up_seconds, 600.0)
    # web: 55 ok at 100 ms (satisfied), 5 failed; api: 52 ok at 500 ms (tolerating), 8 failed
    assert c.apdex is not None
    assert (c.apdex.satisfied, c.apdex.tolerating, c.apdex.frustrated) == (55, 52, 13)
    assert c.latency_objective is not None
    assert c.latency_objective.attained == pytest.approx(55 * 100 / 107)


# ---------------------------------------------------------------- configuration

BASE = """
[sla.gold]
objective = 99.9
{line}
"""


def test_sla_latency_is_parsed(tmp_path):
    cfg = parse_config(BASE.format(line='latency = { threshold = "1.5s", objective = 99.5 }'),
                       tmp_path / "probes.toml")
    assert cfg.slas["gold"].latency == LatencyObjective(threshold=1.5, objective=99.5)
    assert parse_config(BASE.format(line=""), tmp_path / "p.toml").slas["gold"].latency is None


@pytest.mark.parametrize(
    "line, message",
    [
        ('latency = { threshold = "fast", objective = 99 }',
         "probes.toml:4: sla 'gold' latency field 'threshold': bad duration 'fast'"),
        ('latency = { threshold = "0s", objective = 99 }', "field 'threshold': must be longer"),
        ('latency = { threshold = "1s", objective = 0 }', "field 'objective': must be above 0"),
        ('latency = { threshold = "1s", objective = 101 }', "at most 100, got 101"),
        ('latency = { threshold = "1s" }',
         "probes.toml:4: sla 'gold' latency: missing required key 'objective'"),
        ('latency = { threshold = "1s", objective = 99, t = 1 }', "unknown key 't'"),
        ('latency = "500ms"',
         """probes.toml:4: sla 'gold' field 'latency': expected { threshold = "500ms", """),
    ],
)
def test_bad_sla_latency_is_refused_with_its_line(tmp_path, line, message):
    with pytest.raises(ConfigError) as e:
        parse_config(BASE.format(line=line), tmp_path / "probes.toml")
    assert any(message in p for p in e.value.problems), e.value.problems
