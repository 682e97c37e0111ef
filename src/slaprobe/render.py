"""Reports, incident lists and check results as text: table, JSON, CSV, Markdown, HTML.

Pure: plain dicts in (the report in the JSON shape of SPEC 6, as
`report_to_dict` makes it), a string out; writing it is `atomic.write_atomic`'s
job. JSON keeps the numbers unrounded; every other form rounds for people and
floors availability, so 99.9996 never reads as 100.000 or as a met objective.
Every string from the data passes `sanitize.inert` and then the target's own
escaping (rich Text, Markdown escapes, `html.escape`, the CSV formula guard),
so no name or error message can drive a terminal, a spreadsheet or a browser.

    text = render_report(report_to_dict(report), "md")

This module holds the entry points and the JSON, CSV and Markdown forms; the
shared row model is `render_cells`, the terminal tables `render_table`, the
HTML page `render_html`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring as _json_str
from typing import Any

from .durations import format_duration
from .render_cells import (
    CLIENT_COLUMNS,
    INCIDENT_COLUMNS,
    PROBE_COLUMNS,
    Column,
    client_name,
    client_rows,
    duration,
    floor3,
    fmt_latency,
    fmt_number,
    fmt_when,
    incident_cells,
    probe_rows,
    report_header,
    report_incidents,
)
from .render_html import render_html
from .render_review import CSV_COLUMNS as REVIEW_CSV_COLUMNS
from .render_review import (
    KPI_COLUMNS,
    WINDOW_COLUMNS,
    csv_entry,
    csv_window,
    excluded_columns,
    excluded_rows,
    has_kpis,
    kpi_rows,
    statement_line,
    window_rows,
)
from .sanitize import BIDI_CONTROLS, inert

__all__ = [
    "REPORT_FORMATS",
    "INCIDENT_FORMATS",
    "render_report",
    "render_incidents",
    "render_check_results",
    "floor3",
    "fmt_latency",
    "fmt_number",
    "fmt_when",
    "csv_cell",
    "md_escape",
]

REPORT_FORMATS = ("table", "json", "csv", "md", "html")
INCIDENT_FORMATS = ("table", "json", "csv", "md")

# ---------------------------------------------------------------- JSON

# json.dumps escapes C0 controls itself; with ensure_ascii=False it would pass
# DEL, C1 controls, bidi controls, line separators and lone surrogates raw.
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u2028\u2029\ud800-\udfff" + "".join(sorted(BIDI_CONTROLS)) + "]"
)


def _json(data: Any) -> str:
    """Exactly the data, UTF-8 readable; the characters above as \\u escapes (same value)."""
    return _json_value(data) + "\n"


def _json_value(data: Any, newline: str = "\n") -> str:
    """`data` as ``json.dumps(data, indent=2)`` writes it, each line break `newline`."""
    try:
        text = _indented(data, newline)
    except (TypeError, ValueError, RecursionError):  # json's own answer, or its own error
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
        text = text if newline == "\n" else text.replace("\n", newline)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_INFINITY = float("inf")


def _indented(value: Any, newline: str) -> str:
    """json's indent=2 text of plain JSON data (dict with str keys, list, tuple, str, int,
    float, bool, None; anything else raises TypeError), twice as fast: json's indenting
    encoder is pure Python and yields every token; this joins each container once."""
    kind = type(value)
    if kind is str:
        return _json_str(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        items = []
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(key)  # json turns such keys into strings: let it
            items.append(f"{_json_str(key)}: {_indented(item, inner)}")
        return f"{{{inner}{(',' + inner).join(items)}{newline}}}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return f"[{inner}{(',' + inner).join([_indented(v, inner) for v in value])}{newline}]"
    if kind is float:
        if value != value or value in (_INFINITY, -_INFINITY):
            raise ValueError(value)
        return float.__repr__(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    raise TypeError(kind)


# A report entry sits two levels deep: {"probes": [ENTRY, ...]}. Report workers write
# their own entries and the parent splices them (`report_shards.sharded_report_json`).
_ENTRY_INDENT = "\n    "
_SPLICED = ("probes", "clients")


def json_entry(entry: dict[str, Any]) -> str:
    """A probe's or client's entry written as `render_report(report, "json")` writes it
    inside the report's list."""
    return _json_value(entry, _ENTRY_INDENT)


def spliced_report_json(head: dict[str, Any], entries: dict[str, Sequence[str]]) -> str:
    """`render_report(report, "json")` of `head` (a report whose probes and clients lists
    are empty) with `entries` ({"probes": [json_entry, ...], "clients": [...]}) put in
    those lists: the same bytes as rendering the whole report at once (tested)."""
    text = _json(head)
    for key in _SPLICED:
        items = entries.get(key) or ()
        if not items:
            continue
        empty = f'\n  "{key}": []'  # only top-level keys sit two spaces in
        at = text.index(empty)
        text = (f'{text[:at]}\n  "{key}": [{_ENTRY_INDENT}{("," + _ENTRY_INDENT).join(items)}'
                f'\n  ]{text[at + len(empty):]}')
    return text




# ---------------------------------------------------------------- CSV

CSV_COLUMNS = [
    "type", "id", "name", "client", "sla", "objective", "availability", "coverage", "met",
    "up_seconds", "down_seconds", "unknown_seconds", "maintenance_seconds",
    "outside_hours_seconds", "downtime", "error_budget_seconds", "budget_left_seconds",
    "credit_percent", "incidents", "p50_ms", "p95_ms", "p99_ms", "period_start", "period_end",
    *REVIEW_CSV_COLUMNS,
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell: numbers as numbers, text made inert and kept from running as a formula.

    OWASP's rule: a text cell starting with = + - @ (or tab, CR) gets a leading
    apostrophe. Checked after stripping leading spaces too, since some
    spreadsheets trim them on import.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    raw = str(value)
    text = inert(raw)
    if raw.startswith(_FORMULA_START) or text.lstrip().startswith(_FORMULA_START):
        text = "'" + text
    return text


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def _csv_entry(kind: str, e: dict[str, Any], client: str | None,
               period: dict[str, Any]) -> list[Any]:
    latency = e.get("latency_ms") or {}
    availability = e.get("availability")
    return [
        kind, e.get("id"), e.get("name") or e.get("id"), client, e.get("sla"),
        e.get("objective"), None if availability is None else floor3(availability),
        e.get("coverage"), e.get("met"), e.get("up_seconds"), e.get("down_seconds"),
        e.get("unknown_seconds"), e.get("maintenance_seconds"), e.get("outside_hours_seconds"),
        None if e.get("down_seconds") is None else format_duration(e["down_seconds"]),
        e.get("error_budget_seconds"), e.get("budget_left_seconds"), e.get("credit_percent"),
        len(e.get("incidents") or []), latency.get("p50"), latency.get("p95"),
        latency.get("p99"), period.get("start"), period.get("end"), *csv_entry(e),
    ]


def _csv_window(w: dict[str, Any]) -> list[Any]:
    """A window occurrence as a row: its length under maintenance_seconds, its times as period."""
    row: list[Any] = [None] * (len(CSV_COLUMNS) - len(REVIEW_CSV_COLUMNS))
    row[0], row[1] = "window", w.get("id")
    row[CSV_COLUMNS.index("maintenance_seconds")] = w.get("seconds")
    row[CSV_COLUMNS.index("period_start")] = w.get("start")
    row[CSV_COLUMNS.index("period_end")] = w.get("end")
    return row + csv_window(w)


def _report_csv(report: dict[str, Any]) -> str:
    period = report.get("period") or {}
    rows: list[Sequence[Any]] = [CSV_COLUMNS]
    for c in report.get("clients") or []:
        rows.append(_csv_entry("client", c, c.get("name") or c.get("id"), period))
    for p in report.get("probes") or []:
        rows.append(_csv_entry("probe", p, client_name(p), period))
    for w in report.get("windows") or []:
        rows.append(_csv_window(w))
    text = _csv(rows)
    footer = statement_line(report)
    return text + f"# {footer.replace(',', ';')}\n" if footer else text  # one cell, a comment


INCIDENT_CSV_COLUMNS = ["probe", "client", "start", "end", "seconds",
                        "maintenance_seconds", "duration", "error_kinds", "overrun_seconds"]


def _incidents_csv(rows: list[dict[str, Any]]) -> str:
    out: list[Sequence[Any]] = [INCIDENT_CSV_COLUMNS]
    for r in rows:
        out.append([r.get("probe"), client_name(r), r.get("start"),
                    "ongoing" if r.get("end") is None else r.get("end"), r.get("seconds"),
                    r.get("maintenance_seconds"), duration(r.get("seconds")),
                    " ".join(str(k) for k in r.get("error_kinds") or []),
                    r.get("overrun_seconds")])
    return _csv(out)


# ---------------------------------------------------------------- Markdown

_MD_ACTIVE = re.compile(r"([\\`*_\[\]|~!$@])")


def md_escape(text: str) -> str:
    """Text for a Markdown table cell: no raw HTML, no emphasis, links, pipes or mentions."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_ACTIVE.sub(r"\\\1", text)


def _md_table(columns: Sequence[Column], rows: Iterable[dict[str, str]]) -> str:
    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "| " + " | ".join("---:" if right else "---" for _, _, right in columns) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(row[key]) or " " for key, _, _ in columns)
                     + " |")
    return "\n".join(lines) + "\n"


def _md_incidents(rows: list[dict[str, Any]], zone: str | None) -> str:
    if not rows:
        return "No incidents.\n"
    return _md_table(INCIDENT_COLUMNS, (incident_cells(r, zone) for r in rows))


def _report_md(report: dict[str, Any]) -> str:
    zone = (report.get("period") or {}).get("timezone")
    parts = [f"# {md_escape(report_header(report))}\n"]
    if report.get("generated_at"):
        parts.append(f"Generated {md_escape(fmt_when(report['generated_at'], zone))}.\n")
    parts.append("## Clients\n")
    parts.append(_md_table(CLIENT_COLUMNS, client_rows(report)))
    parts.append("## Probes\n")
    parts.append(_md_table(PROBE_COLUMNS, probe_rows(report)))
    if has_kpis(report):
        parts.append("## Service levels\n")
        parts.append(_md_table(KPI_COLUMNS, kpi_rows(report)))
    parts.append("## Incidents\n")
    parts.append(_md_incidents(report_incidents(report), zone))
    if report.get("windows"):
        parts.append("## Maintenance windows\n")
        parts.append(_md_table(WINDOW_COLUMNS, window_rows(report, zone)))
        excluded = excluded_rows(report)
        if excluded:
            parts.append("## Excluded time by category\n")
            parts.append(_md_table(excluded_columns(report), excluded))
    footer = statement_line(report)
    if footer:
        parts.append(f"---\n\n{md_escape(footer)}\n")
    return "\n".join(parts)


# ---------------------------------------------------------------- entry points


def render_report(report: dict[str, Any], fmt: str, *, width: int = 100,
                  color: bool = False) -> str:
    """The SLA report (SPEC 5, 6) as `fmt` text: table, json, csv, md or html.

    `width` and `color` only shape the terminal table.

        print(render_report(report_to_dict(report), "table", width=80), end="")
    """
    if fmt == "json":
        return _json(report)
    if fmt == "table":
        from .render_table import report_table  # rich: only for terminal tables

        return report_table(report, width, color)
    if fmt == "csv":
        return _report_csv(report)
    if fmt == "md":
        return _report_md(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(REPORT_FORMATS)}")


def render_incidents(rows: list[dict[str, Any]], fmt: str, *, width: int = 100,
                     timezone: str | None = None) -> str:
    """Down stretches for `slaprobe incidents` as table, json, csv or md.

    Rows: probe, client, client_name, start, end (None while ongoing), seconds,
    maintenance_seconds, overrun_seconds, error_kinds. Times are shown in `timezone` when given
    (the report's `period.timezone`), else with their own offsets.
    """
    if fmt == "json":
        return _json(rows)
    if fmt == "table":
        from .render_table import incidents_table  # rich: only for terminal tables

        return incidents_table(rows, width, timezone)
    if fmt == "csv":
        return _incidents_csv(rows)
    if fmt == "md":
        return _md_incidents(rows, timezone)
    raise ValueError(f"unknown incidents format {fmt!r}; use one of {', '.join(INCIDENT_FORMATS)}")


def render_check_results(rows: list[dict[str, Any]], *, width: int = 100,
                         color: bool = False) -> str:
    """The results of `slaprobe run --once`: one line per probe, UP or DOWN, and why.

    Rows: probe, client_name, kind, ok, latency_ms, error.
    """
    from .render_table import checks_table  # rich: only for terminal tables

    return checks_table(rows, width, color)
