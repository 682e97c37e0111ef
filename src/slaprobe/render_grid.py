"""The report's terminal tables laid out by hand, as rich would lay them out.

`render_table` used rich's `Table` (SIMPLE_HEAD, no edges, collapsed padding,
stacked cells); rich measures and renders every cell as a renderable of its
own, about 0.15 ms a cell, so the tables of a 1,000-probe report took 2.2 s
to draw, longer than computing the report. Here the same layout is computed
from the cells' strings: column widths by rich's own rules (its collapse and
ratio reduction are called, its measurements are replayed in integers), and
a cell line that fits its column is padded in place. Only a cell that must
wrap, or holds a character that is not printable, goes through rich. Without
colour the text is rich's, byte for byte (a property test draws both); with
colour each row keeps its style.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from rich._ratio import ratio_reduce
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

_HEADER_STYLE = "table.header"  # rich's default: bold
_RULE = "─"  # SIMPLE_HEAD's line under the header
_DIVIDER = " "  # SIMPLE_HEAD's vertical: a space between columns


class GridColumn(NamedTuple):
    """A column: its header (lines), whether numbers (right-justified), whether it wraps."""

    header: str
    right: bool
    wraps: bool


def _measure(tmin: int, tmax: int, pad: int, width: int) -> tuple[int, int]:
    """rich's `Measurement.get` of ``Padding(Text)`` whose text measures (tmin, tmax)."""
    if width < 1:
        return 0, 0
    if width - pad < 1:  # Padding.__rich_measure__
        mn, mx = width, width
    else:
        lo = min(max(0, tmin), tmax)  # Text, through Measurement.get
        lo, hi = min(max(0, lo), width), min(max(0, max(lo, tmax)), width)
        if hi < 1:
            lo = hi = 0
        else:
            lo = min(max(0, lo), hi)
            hi = max(0, max(lo, hi))
        mn, mx = min(lo + pad, width), min(hi + pad, width)
    lo = min(max(0, mn), mx)  # the Padding, through Measurement.get
    lo, hi = min(max(0, lo), width), min(max(0, max(lo, mx)), width)
    if hi < 1:
        return 0, 0
    lo = min(max(0, lo), hi)
    return lo, max(0, max(lo, hi))


def _text_measure(text: str) -> tuple[int, int]:
    """rich's `Text.__rich_measure__`: (longest word, longest line), in cells."""
    lines = text.splitlines()
    longest = max(cell_len(line) for line in lines) if lines else 0
    words = text.split()
    return (max(cell_len(w) for w in words) if words else longest), longest


class GridTable:
    """Rows of string cells under stacked headers, drawn as
    ``Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
    show_lines=<any stack of two or more>)`` would draw them."""

    def __init__(self, title: str, columns: Sequence[GridColumn],
                 rows: Sequence[Sequence[str]], styles: Sequence[str | None] = (),
                 *, lines: bool = False) -> None:
        self.title = Text(title, style="bold")
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.styles = list(styles)
        self.lines = lines
        n = len(self.columns)
        # Padding (0, 1) collapsed, none at the edges: one space right of every column
        # but the last; with the space that divides columns, two between values.
        self._pads = [0 if i == n - 1 else 1 for i in range(n)]
        # each column's distinct (longest word, longest line) over its header and cells
        self._sizes: list[set[tuple[int, int]]] = []
        for i, column in enumerate(self.columns):
            sizes = {_text_measure(column.header)}
            sizes.update(_text_measure(r[i]) for r in self.rows)
            self._sizes.append(sizes)

    # ---------------------------------------------------------------- widths

    def _column_range(self, i: int, width: int) -> tuple[int, int]:
        """rich's `Table._measure_column`."""
        if width < 1:
            return 0, 0
        got = [_measure(a, b, self._pads[i], width) for a, b in self._sizes[i]]
        lo = max(m[0] for m in got) if got else 1
        hi = max(m[1] for m in got) if got else width
        return min(lo, width), min(hi, width)

    def _widths(self, max_width: int) -> list[int]:
        """rich's `Table._calculate_column_widths` (not expanded), padding included."""
        n = len(self.columns)
        widths = [self._column_range(i, max_width)[1] or 1 for i in range(n)]
        if sum(widths) > max_width:
            widths = Table._collapse_widths(widths, [c.wraps for c in self.columns], max_width)
            if sum(widths) > max_width:  # rich's last resort: every column evenly
                widths = ratio_reduce(sum(widths) - max_width, [1] * n, widths, widths)
            widths = [self._column_range(i, w)[1] or 0 for i, w in enumerate(widths)]
        return widths

    def natural_width(self) -> int:
        """`console.measure(table, width=10_000).maximum` of the rich table: the width
        it takes when nothing wraps."""
        extra = len(self.columns) - 1
        total = sum(self._widths(10_000 - extra))
        return sum(self._column_range(i, total)[1] for i in range(len(self.columns))) + extra

    # ---------------------------------------------------------------- drawing

    def _cell(self, console: Console, options: ConsoleOptions, i: int, text: str,
              width: int) -> list[str]:
        """The lines of one cell, `width` cells wide (its padding included)."""
        column, pad = self.columns[i], self._pads[i]
        inner = width - pad
        out = []
        for line in text.split("\n"):
            size = cell_len(line)
            if inner < 1 or size > inner or not line.isprintable():
                return self._cell_by_rich(console, options, i, text, width)
            if column.right:
                stripped = line.rstrip()
                out.append(" " * (inner - cell_len(stripped)) + stripped + " " * pad)
            else:
                out.append(line + " " * (inner - size + pad))
        return out

    def _cell_by_rich(self, console: Console, options: ConsoleOptions, i: int, text: str,
                      width: int) -> list[str]:
        column = self.columns[i]
        lines = console.render_lines(
            Padding(Text(text), (0, self._pads[i], 0, 0)),
            options.update(width=width, justify="right" if column.right else "left",
                           no_wrap=not column.wraps, overflow="fold", height=None,
                           highlight=False), pad=True)
        return ["".join(s.text for s in line) for line in lines]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        if not self.columns:
            yield Segment.line()
            return
        extra = len(self.columns) - 1
        widths = self._widths(options.max_width - extra)
        table_width = sum(widths) + extra
        if self.title:
            yield from console.render(self.title, options.update(
                width=table_width, justify="left", highlight=False, height=None))
        new_line = Segment.line()
        divider = Segment(_DIVIDER)
        header_style = console.get_style(_HEADER_STYLE)
        blank = [" " * w for w in widths]

        def draw(cells: list[list[str]], style: Style | None, bottom: bool) -> Iterator[Segment]:
            height = max(1, *(len(c) for c in cells))
            for k, c in enumerate(cells):
                if len(c) < height:
                    fill = [blank[k]] * (height - len(c))
                    cells[k] = fill + c if bottom else c + fill
            for n in range(height):
                for k, c in enumerate(cells):
                    if k:
                        yield divider
                    yield Segment(c[n], style)
                yield new_line

        yield from draw([self._cell(console, options, i, c.header, widths[i])
                         for i, c in enumerate(self.columns)], header_style, True)
        yield Segment(_RULE * table_width)
        yield new_line
        for r, row in enumerate(self.rows):
            if r and self.lines:
                yield Segment(" " * table_width)
                yield new_line
            style = self.styles[r] if r < len(self.styles) else None
            yield from draw([self._cell(console, options, i, text, widths[i])
                             for i, text in enumerate(row)],
                            console.get_style(style) if style else None, False)
