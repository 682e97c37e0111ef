"""Duration strings in, human durations out."""

from __future__ import annotations

import pytest

from slaprobe.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0),
    ("1m30s", 90.0), ("1.5s", 1.5), (" 10s ", 10.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-5s", "5", "5 s", "abc", "5x", "s5", "1e3s", 30])
def test_parse_duration_rejects_with_a_reason(text):
    with pytest.raises(ValueError) as e:
        parse_duration(text)
    assert str(e.value)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0, "0s"), (0.2, "200ms"), (45, "45s"), (60, "1m 00s"), (3723, "1h 02m 03s"),
    (90061, "1d 01h 01m 01s"), (-217.74, "-3m 38s"), (-0.06, "-60ms"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
