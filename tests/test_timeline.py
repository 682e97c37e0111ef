from __future__ import annotations

import pytest

from slaprobe.spans import Span
from slaprobe.timeline import (
    Timeline,
    agent_timeline,
    apply_min_downtime,
    combine,
    probe_timeline,
)

NOW = 10_000.0


def checks(pattern: str, *, every: float = 60.0, start: float = 0.0, agent: str = "a",
           interval: float | None = None) -> list[Span]:
    """One check per character: '+' ok, '-' failed, '.' no check."""
    iv = every if interval is None else interval
    return [Span(start + i * every, start + i * every, ch == "+", 1, iv, agent)
            for i, ch in enumerate(pattern) if ch != "."]


@pytest.mark.parametrize("pattern, confirm, down", [
    ("++--++", 3, ()),                       # 2-check failure is up
    ("++---+", 3, ((120.0, 300.0),)),        # 3-check failure: down from its first check
    ("++----", 3, ((120.0, 420.0),)),        # still down at the end: last stands 2 intervals
    ("+-+-+", 1, ((60.0, 120.0), (180.0, 240.0))),
    ("--", 3, ()),                           # not confirmed yet: up for now
])
def test_confirmation_runs(pattern, confirm, down):
    tl = agent_timeline(checks(pattern), confirm, NOW)
    assert tl.down == down


def test_confirmation_counts_across_a_gap():
    tl = agent_timeline(checks("+--......-+"), 3, NOW)
    assert tl.down == ((60.0, 240.0), (540.0, 600.0))  # 120's check stands 2 intervals


def test_compacted_span_counts_its_checks_for_confirmation():
    spans = [Span(0, 0, True, 1, 60, "a"), Span(60, 120, False, 3, 60, "a"),
             Span(180, 180, True, 1, 60, "a")]
    tl = agent_timeline(spans, 3, NOW)
    assert tl.down == ((60.0, 180.0),)
    assert tl.up == ((0.0, 60.0), (180.0, 300.0))


def test_gap_longer_than_two_intervals_is_unknown():
    tl = agent_timeline(checks("++....+"), 1, NOW)
    assert tl.up == ((0.0, 180.0), (360.0, 480.0))  # 60's check stands until 180


def test_gap_shorter_than_two_intervals_is_covered():
    tl = agent_timeline(checks("+.+"), 1, NOW)
    assert tl.up == ((0.0, 240.0),)


def test_last_check_stands_until_now_at_most():
    tl = agent_timeline(checks("++"), 1, 90.0)
    assert tl.up == ((0.0, 90.0),)


def test_each_check_uses_its_own_interval():
    spans = [Span(0, 0, True, 1, 10, "a"), Span(100, 100, True, 1, 60, "a")]
    assert agent_timeline(spans, 1, NOW).up == ((0.0, 20.0), (100.0, 220.0))


def test_checks_out_of_order_are_sorted():
    assert agent_timeline(list(reversed(checks("+-+"))), 1, NOW).down == ((60.0, 120.0),)


def _agents(*patterns: str) -> list[Timeline]:
    return [agent_timeline(checks(p, agent=str(i)), 1, NOW) for i, p in enumerate(patterns)]


@pytest.mark.parametrize("patterns, quorum, down", [
    (("+-+", "+++", "+++"), None, ()),                  # one of three sees down: up
    (("+-+", "+-+", "+++"), None, ((60.0, 120.0),)),    # two of three: down
    (("+-+", "+++", "+++"), 1, ((60.0, 120.0),)),       # quorum 1: any agent
    (("+-+", "+-+", "+++"), 3, ()),                     # quorum 3: all must agree
    (("+-+",), 2, ((60.0, 120.0),)),                    # lone agent: quorum lowered to 1
])
def test_quorum(patterns, quorum, down):
    tl = combine(_agents(*patterns), quorum)
    assert tl.down == down
    assert tl.up == (((0.0, 60.0), (120.0, 240.0)) if down else ((0.0, 240.0),))


def test_quorum_counts_only_agents_measuring_then():
    # Agent 1 stops after 60 s; agent 0 alone then decides (majority of 1).
    tls = [agent_timeline(checks("++--+"), 1, NOW), agent_timeline(checks("+"), 1, NOW)]
    assert combine(tls).down == ((120.0, 240.0),)


def test_two_agents_split_is_not_down_by_majority():
    tls = _agents("+-+", "+++")  # 1 of 2 sees down; majority of 2 is 2
    assert combine(tls).down == ()


def test_no_agent_measuring_is_unknown():
    tls = [agent_timeline(checks("+"), 1, NOW), agent_timeline(checks("....+"), 1, NOW)]
    tl = combine(tls)
    assert tl.up == ((0.0, 120.0), (240.0, 360.0))
    assert tl.down == ()


@pytest.mark.parametrize("min_downtime, down", [
    (0, ((60.0, 120.0), (180.0, 360.0))),
    (120, ((180.0, 360.0),)),      # the 60 s stretch counts as up
    (180, ((180.0, 360.0),)),      # exactly as long: kept
    (181, ()),
])
def test_min_downtime(min_downtime, down):
    tl = apply_min_downtime(agent_timeline(checks("+-+---+"), 1, NOW), min_downtime)
    assert tl.down == down
    assert tl.up + tl.down and sum(e - s for s, e in tl.up + tl.down) == 480.0


def test_probe_timeline_groups_agents_and_applies_min_downtime():
    spans = checks("+-+", agent="x") + checks("+-+", agent="y")
    assert probe_timeline(spans, confirm=1, now=NOW).down == ((60.0, 120.0),)
    assert probe_timeline(spans, confirm=1, now=NOW, min_downtime=61).down == ()
    by_agent = {"x": checks("+-+", agent="x"), "y": checks("+++", agent="y")}
    assert probe_timeline(by_agent, confirm=1, now=NOW).down == ()
