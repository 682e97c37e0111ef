"""The status table for the terminal, kept apart so status.py stays plain data.

It looks like a rich `Table` (heavy head, light body) but lays itself out:
rich measures and wraps every cell as its own renderable, about 0.4 ms a row,
so a 1,000-probe status spent half a second drawing. Here the cells are
strings, only a value wider than its column is wrapped, and each line goes
out as a handful of segments; rich still handles colours, NO_COLOR and
`Live`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from .durations import format_duration
from .render import floor3
from .sanitize import inert
from .status import StatusRow

_STYLE = {"up": "green", "down": "bold red", "unknown": "yellow", "maintenance": "cyan"}
_LABEL = {"up": "UP", "down": "DOWN", "unknown": "UNKNOWN", "maintenance": "MAINT"}
_BOLD, _ITALIC = Style(bold=True), Style(italic=True)
_MIN_WRAPPED = 6  # a wrapped column is never squeezed narrower than this


@dataclass(frozen=True)
class _Column:
    header: str
    right: bool = False  # justified right (numbers)
    max_width: int | None = None  # wider values wrap onto more lines


_COLUMNS = (
    _Column("probe", max_width=18), _Column("client", max_width=14), _Column("state"),
    _Column("since", right=True), _Column("ms", right=True), _Column("avail %", right=True),
    _Column("budget", right=True), _Column("cert d", right=True),
)
_STATE = 2  # the column whose cell is coloured


def _since(row: StatusRow, now: float) -> str:
    return format_duration(now - row.since).split(" ")[0] if row.since is not None else "-"


def _cells(r: StatusRow, now: float) -> tuple[str, ...]:
    return (
        inert(r.probe),
        inert(r.client_name or r.client or "-"),
        _LABEL[r.state],
        _since(r, now),
        "-" if r.latency_ms is None else f"{r.latency_ms:.1f}",
        floor3(r.availability) if r.availability is not None else "-",
        format_duration(r.budget_left_seconds) if r.budget_left_seconds is not None else "-",
        "-" if r.cert_days is None else f"{r.cert_days:.0f}",
    )


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells: at spaces, else folded mid-word."""
    if cell_len(text) <= width:
        return [text]
    if text.isascii():
        return textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    return [line.plain for line in Text(text).wrap(Console(width=width), width)]


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - cell_len(text))
    return gap + text if right else text + gap


class StatusTable:
    """The status rows as a rich renderable: probe, client, state, since, latency,
    availability, budget left, cert days; fits 80 columns."""

    def __init__(self, rows: list[StatusRow], now: float) -> None:
        self.rows = rows
        self.cells = [_cells(r, now) for r in rows]
        down = sum(1 for r in rows if r.state == "down")
        self.title = f"slaprobe: {len(rows)} probes, {down} down"

    def _widths(self, max_width: int) -> list[int]:
        widths = [cell_len(c.header) for c in _COLUMNS]
        for cells in self.cells:
            for i, text in enumerate(cells):
                n = len(text) if text.isascii() else cell_len(text)
                if n > widths[i]:
                    widths[i] = n
        for i, column in enumerate(_COLUMNS):
            if column.max_width is not None:
                widths[i] = min(widths[i], max(column.max_width, cell_len(column.header)))
        # Borders (n + 1) and one space each side of a cell, none at the two edges.
        over = sum(widths) + 3 * len(widths) - 1 - max_width
        wrapped = [i for i, c in enumerate(_COLUMNS) if c.max_width is not None]
        while over > 0:
            i = max(wrapped, key=lambda k: widths[k])
            if widths[i] <= _MIN_WRAPPED:
                break
            widths[i] -= 1
            over -= 1
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        widths = self._widths(options.max_width)
        last = len(widths) - 1
        line = Segment.line()
        yield Segment(self.title, _ITALIC)
        yield line

        def rule(left: str, fill: str, cross: str, right: str) -> Segment:
            return Segment(left + cross.join(fill * (w + (1 if i in (0, last) else 2))
                                             for i, w in enumerate(widths)) + right)

        def row(texts: tuple[str, ...], styles: tuple[Style | None, ...], bar: str,
                ) -> Iterator[Segment]:
            for i, text in enumerate(texts):
                yield Segment(bar if i == 0 else (" " + bar))
                if i:
                    yield Segment(" ")
                yield Segment(_pad(text, widths[i], _COLUMNS[i].right), styles[i])
            yield Segment(bar)
            yield line

        yield rule("┏", "━", "┳", "┓")
        yield line
        yield from row(tuple(c.header for c in _COLUMNS), (_BOLD,) * len(_COLUMNS), "┃")
        yield rule("┡", "━", "╇", "┩")
        yield line
        plain: tuple[Style | None, ...] = (None,) * len(_COLUMNS)
        for r, cells in zip(self.rows, self.cells, strict=True):
            styled = list(plain)
            styled[_STATE] = console.get_style(_STYLE[r.state])
            wrapped = [_wrap(text, widths[i]) for i, text in enumerate(cells)]
            for k in range(max(len(w) for w in wrapped)):
                yield from row(tuple(w[k] if k < len(w) else "" for w in wrapped),
                               tuple(styled) if k == 0 else plain, "│")
        yield rule("└", "─", "┴", "┘")
        yield line


def render_status_table(rows: list[StatusRow], now: float) -> StatusTable:
    """The renderable for `console.print` or `Live.update`."""
    return StatusTable(rows, now)
