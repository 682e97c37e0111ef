"""GridTable draws what rich's Table draws, from strings, without rich's per-cell cost.

The reference is the rich `Table` the report tables were built with before
(`_rich_reference` below): random cells (wide, combining and unprintable
characters, long words, blank lines), random column flags and terminal
widths, the plain text compared byte for byte.
"""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from slaprobe.render_grid import GridColumn, GridTable


def _console(width: int, color: bool = False) -> Console:
    return Console(file=io.StringIO(), width=width, color_system="auto" if color else None,
                   force_terminal=color, force_jupyter=False, force_interactive=False,
                   legacy_windows=False, markup=False, emoji=False, highlight=False,
                   soft_wrap=False)


def _rich_reference(title: str, columns: list[GridColumn], rows: list[list[str]],
                    styles: list[str | None], lines: bool) -> Table:
    table = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True, show_lines=lines)
    for c in columns:
        table.add_column(Text(c.header), justify="right" if c.right else "left",
                         overflow="fold", no_wrap=not c.wraps)
    for i, row in enumerate(rows):
        table.add_row(*[Text(cell) for cell in row], style=styles[i] if i < len(styles) else None)
    return table


def _drawn(renderable, width: int, color: bool = False) -> str:
    console = _console(width, color)
    console.print(renderable)
    return console.file.getvalue()


_CHARS = st.sampled_from(list("ab z09.%-—:/") + ["  ", "漢字", "é", "e\u0301", "\t", "\x7f",
                                                   "\u2028", "\n", "CHG-1042", "Industries"])
_CELL = st.lists(_CHARS, max_size=8).map("".join)


@st.composite
def _tables(draw):
    n = draw(st.integers(1, 6))
    columns = [GridColumn(draw(_CELL), draw(st.booleans()), draw(st.booleans()))
               for _ in range(n)]
    rows = draw(st.lists(st.lists(_CELL, min_size=n, max_size=n), max_size=6))
    styles = draw(st.lists(st.sampled_from([None, "red"]), max_size=len(rows)))
    return draw(_CELL), columns, rows, styles, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(_tables(), st.integers(1, 130))
def test_a_grid_table_is_the_rich_table_byte_for_byte(table, width) -> None:
    title, columns, rows, styles, lines = table
    grid = GridTable(title, columns, rows, styles, lines=lines)
    want = _rich_reference(title, columns, rows, styles, lines)
    assert _drawn(grid, width) == _drawn(want, width)


@settings(max_examples=200, deadline=None)
@given(_tables())
def test_a_grid_tables_natural_width_is_rich_measure(table) -> None:
    title, columns, rows, styles, lines = table
    want = _rich_reference(title, columns, rows, styles, lines)
    console = _console(80)
    natural = console.measure(want, options=console.options.update_width(10_000)).maximum
    assert GridTable(title, columns, rows, styles, lines=lines).natural_width() == natural


def test_the_report_shaped_table_wraps_names_and_keeps_figures_whole() -> None:
    columns = [GridColumn("probe\nclient", False, True), GridColumn("avail. %\nobjective",
                                                                    True, False)]
    rows = [["globex-api\nGlobex Industries International", "99.891\n99.9%"]]
    text = _drawn(GridTable("Probes", columns, rows, lines=True), 24)
    assert text == _drawn(_rich_reference("Probes", columns, rows, [], True), 24)
    assert "99.891" in text and "Internationa" in text  # the name wrapped, not the figure


def test_colour_marks_the_missed_rows_and_the_header_and_nothing_else() -> None:
    columns = [GridColumn("client", False, True), GridColumn("met", False, False)]
    rows = [["ACME", "NO"], ["Globex", "yes"]]
    text = _drawn(GridTable("Clients", columns, rows, ["red", None]), 40, color=True)
    lines = text.splitlines()
    acme = next(line for line in lines if "ACME" in line)
    globex = next(line for line in lines if "Globex" in line)
    assert "\x1b[31m" in acme and "\x1b[31m" not in globex
    assert "\x1b[1m" in next(line for line in lines if "client" in line)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert plain == _drawn(GridTable("Clients", columns, rows, ["red", None]), 40)
