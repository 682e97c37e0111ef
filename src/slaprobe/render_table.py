"""Terminal tables: the report, incidents and `run --once` results.

Tables are `render_grid.GridTable`s, laid out as rich's `Table` would lay them
out but from plain strings (a 1,000-probe report's tables: 2.2 s in rich).
Cells are never markup, so "[red]" in a name prints as it is; their content is
already inert (see `render_cells`). Output goes to a rich `Console` on a
StringIO of the caller's width: colour only when asked, and `NO_COLOR` is
honoured by rich itself.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from .render_cells import (
    CHECK_COLUMNS,
    CLIENT_COLUMNS,
    INCIDENT_COLUMNS,
    PROBE_COLUMNS,
    Column,
    check_cells,
    client_rows,
    incident_cells,
    probe_rows,
    report_header,
)
from .render_grid import GridColumn, GridTable
from .render_review import (
    KPI_COLUMNS,
    KPI_NARROW,
    WINDOW_COLUMNS,
    WINDOW_NARROW,
    excluded_columns,
    excluded_rows,
    has_kpis,
    kpi_rows,
    statement_line,
    window_rows,
)


def _console(width: int, color: bool) -> Console:
    return Console(file=io.StringIO(), width=width, color_system="auto" if color else None,
                   force_terminal=color, force_jupyter=False, force_interactive=False,
                   legacy_windows=False, markup=False, emoji=False, highlight=False,
                   soft_wrap=False)


# Only names and free text wrap; a figure ("6d 16h 00m 00s") wrapped under
# another one would read as a third value.
_WRAPS = frozenset({"name", "client", "probe", "sla", "kind", "errors", "error", "window",
                    "category", "reason", "ticket"})


def _grid_table(title: str, stacks: Sequence[Sequence[Column]],
                rows: Sequence[dict[str, str]], styles: Sequence[str | None] = ()) -> GridTable:
    """A table of plain cells ("[red]" in a name prints as it is), drawn as a rich `Table`.

    Each stack is one terminal column showing its values one under the other;
    rows of stacked cells are set apart by a blank line.
    """
    columns = [GridColumn("\n".join(header for _, header, _ in stack), stack[0][2],
                          any(key in _WRAPS for key, _, _ in stack)) for stack in stacks]
    cells = [["\n".join(row[key] for key, _, _ in stack) for stack in stacks] for row in rows]
    return GridTable(title, columns, cells, styles,
                     lines=any(len(stack) > 1 for stack in stacks))


def _fitted_table(console: Console, title: str, columns: Sequence[Column],
                  narrow: Sequence[Sequence[str]], rows: Sequence[dict[str, str]],
                  styles: Sequence[str | None] = ()) -> GridTable:
    """One column per figure when that fits unwrapped, else the `narrow` stacks of keys.

    Twelve figures do not fit 80 columns on one line; stacking related pairs
    (down over budget left, unknown over maintenance) keeps every figure
    legible instead of folding numbers into slivers.
    """
    wide = _grid_table(title, [[c] for c in columns], rows, styles)
    if wide.natural_width() <= console.width:
        return wide
    by_key = {c[0]: c for c in columns}
    stacks = [[by_key[key] for key in keys] for keys in narrow]
    return _grid_table(title, stacks, rows, styles)


def _print(console: Console, renderables: Iterable[Any]) -> str:
    """Print into the console's buffer, a blank line apart; trailing blanks trimmed."""
    for i, r in enumerate(renderables):
        if i:
            console.line()
        console.print(r)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in out.splitlines())


def _missed_style(rows: list[dict[str, str]]) -> list[str | None]:
    return ["red" if r["missed"] else None for r in rows]


# Availability stands over the objective it is held to.
_NARROW_FIGURES = [("sla", "met"), ("availability", "objective"), ("down", "budget_left"),
                   ("unknown", "maintenance"), ("credit", "incidents")]
CLIENT_NARROW = [("name",), *_NARROW_FIGURES]
PROBE_NARROW = [("name", "client"), *_NARROW_FIGURES, ("p95",)]
INCIDENT_NARROW = [("probe", "client"), ("start", "end"),
                   ("duration", "maintenance", "overrun"), ("errors",)]


def report_table(report: dict[str, Any], width: int, color: bool) -> str:
    """The period header, then the clients' table and the probes' table."""
    console = _console(width, color)
    clients, probes = client_rows(report), probe_rows(report)
    parts: list[Any] = [Text(report_header(report), style="bold")]
    if clients:
        parts.append(_fitted_table(console, "Clients", CLIENT_COLUMNS, CLIENT_NARROW, clients,
                                   _missed_style(clients)))
    parts.append(_fitted_table(console, "Probes", PROBE_COLUMNS, PROBE_NARROW, probes,
                               _missed_style(probes)))
    parts.extend(_review_tables(console, report))
    return _print(console, parts)


def _review_tables(console: Console, report: dict[str, Any]) -> list[Any]:
    """Service levels, maintenance windows, excluded time by category, the statement's hash."""
    out: list[Any] = []
    if has_kpis(report):
        rows = kpi_rows(report)
        out.append(_fitted_table(console, "Service levels", KPI_COLUMNS, KPI_NARROW, rows,
                                 _missed_style(rows)))
    if report.get("windows"):
        zone = (report.get("period") or {}).get("timezone")
        rows = window_rows(report, zone)
        out.append(_fitted_table(console, "Maintenance windows", WINDOW_COLUMNS, WINDOW_NARROW,
                                 rows, _missed_style(rows)))
        excluded = excluded_rows(report)
        if excluded:
            columns = excluded_columns(report)
            out.append(_fitted_table(console, "Excluded time by category", columns,
                                     [(key,) for key, _, _ in columns], excluded))
    footer = statement_line(report)
    if footer:
        out.append(Text(footer))
    return out


def incidents_table(rows: list[dict[str, Any]], width: int, timezone: str | None) -> str:
    """The incidents, or a line saying there were none."""
    console = _console(width, False)
    if not rows:
        return _print(console, [Text("No incidents.")])
    cells = [incident_cells(r, timezone) for r in rows]
    return _print(console, [_fitted_table(console, "Incidents", INCIDENT_COLUMNS,
                                          INCIDENT_NARROW, cells)])


def checks_table(rows: list[dict[str, Any]], width: int, color: bool) -> str:
    """One line per check; a failed one in red when colour is on."""
    cells = [check_cells(r) for r in rows]
    styles = [None if r.get("ok") else "red" for r in rows]
    console = _console(width, color)
    return _print(console, [_grid_table("Checks", [[c] for c in CHECK_COLUMNS], cells, styles)])
