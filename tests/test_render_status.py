"""The status table: every state in words, long names wrapped, never wider than the terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from slaprobe.render_status import render_status_table
from slaprobe.status import StatusRow

NOW = 1_800_000_000.0


def _row(probe: str, state: str = "up", client: str | None = "acme", **kw) -> StatusRow:
    values = dict(probe=probe, client=client, client_name=None, kind="tcp", state=state,
                  since=NOW - 3600, last_check=NOW - 5, latency_ms=1.25, error=None,
                  availability=99.95, objective=99.9, budget_left_seconds=2000.0, cert_days=None)
    values.update(kw)
    return StatusRow(**values)


def _draw(rows: list[StatusRow], width: int = 80, color: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=color,
                      color_system="standard" if color else None)
    console.print(render_status_table(rows, NOW))
    return console.file.getvalue()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_table_is_never_wider_than_the_terminal(width):
    rows = [_row("svc-" + "x" * 40, client_name="A client with a long long name"),
            _row("web", "down")]
    lines = _draw(rows, width).splitlines()
    assert max(len(line) for line in lines) <= width
    assert len({len(line) for line in lines[1:]}) == 1  # every box line the same width


def test_a_long_probe_name_wraps_onto_more_lines_and_loses_nothing():
    name = "svc-a-very-long-probe-name-that-goes-on"
    text = _draw([_row(name)])
    cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(cells) == name
    assert len(cells) > 1


def test_states_are_words_and_the_title_counts_the_down_ones():
    rows = [_row("a", "down"), _row("b", "unknown"), _row("c", "maintenance"), _row("d")]
    text = _draw(rows)
    assert text.splitlines()[0] == "slaprobe: 4 probes, 1 down"
    for word in ("DOWN", "UNKNOWN", "MAINT", "UP"):
        assert f" {word} " in text


def test_figures_are_shown_as_the_report_shows_them():
    text = _draw([_row("a", availability=99.9999, budget_left_seconds=None, cert_days=12.6,
                       latency_ms=None)])
    line = next(line for line in text.splitlines() if line.startswith("│a"))
    cells = [c.strip() for c in line.strip("│").split("│")]
    assert cells == ["a", "acme", "UP", "1h", "-", "99.999", "-", "13"]


def test_only_the_state_is_coloured():
    text = _draw([_row("a", "down")], color=True)
    body = next(line for line in text.splitlines() if line.startswith("│a"))
    assert body.count("\x1b[") == 2  # one colour on, one reset
    assert "\x1b[1;31mDOWN" in body


def test_control_characters_in_names_are_made_inert():
    text = _draw([_row("a\x1b[2Jb", client_name="\u202eevil")])
    assert "\x1b" not in text and "\u202e" not in text
