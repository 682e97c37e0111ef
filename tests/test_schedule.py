"""Schedule maths: spread phases, no catch-up bursts."""

from __future__ import annotations

import pytest

from slaprobe.schedule import first_due, next_due, phase


def test_phase_is_stable_and_inside_the_interval():
    assert phase("acme-web", 30.0) == phase("acme-web", 30.0)
    for i in range(1000):
        assert 0.0 <= phase(f"p{i}", 30.0) < 30.0


def test_thousands_of_probes_with_one_interval_spread_over_it():
    phases = sorted(phase(f"probe-{i}", 30.0) for i in range(3000))
    buckets = [0] * 30
    for p in phases:
        buckets[int(p)] += 1
    assert max(buckets) < 3 * 100  # uniform would be 100 per second
    assert min(buckets) > 100 // 3


@pytest.mark.parametrize("now", [0.0, 12.3, 1000.0, 99999.9])
def test_first_due_is_on_the_phase_grid_and_not_in_the_past(now):
    due = first_due("x", 30.0, now)
    assert now <= due < now + 30.0
    assert (due - phase("x", 30.0)) / 30.0 == pytest.approx(round((due - phase("x", 30.0)) / 30.0))


@pytest.mark.parametrize(
    ("prev", "interval", "now", "expected"),
    [
        (100.0, 30.0, 101.0, 130.0),  # on time: the next tick
        (100.0, 30.0, 129.9, 130.0),
        (100.0, 30.0, 131.0, 160.0),  # the check overran a tick: skip it, no burst
        (100.0, 30.0, 250.0, 250.0),  # exactly on a tick
        (100.0, 0.5, 100.2, 100.5),  # sub-second intervals
    ],
)
def test_next_due_skips_missed_ticks(prev, interval, now, expected):
    assert next_due(prev, interval, now) == pytest.approx(expected)
