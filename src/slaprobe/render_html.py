"""The SLA report as one self-contained HTML page, for mail, archives and print.

No external assets and no script: the page carries its CSS and a
Content-Security-Policy that forbids everything else, so even a value that
slipped past escaping could not load or run anything. Every value from the
report is made inert and then passed through `html.escape(quote=True)`.
Missed objectives are marked by text ("NO") and a row class, not by colour
alone, so they survive black-and-white print.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from .render_cells import (
    CLIENT_COLUMNS,
    INCIDENT_COLUMNS,
    PARTIAL_NOTE,
    PROBE_COLUMNS,
    Column,
    client_rows,
    fmt_when,
    incident_cells,
    period_title,
    probe_rows,
    report_incidents,
)
from .render_review import (
    KPI_COLUMNS,
    WINDOW_COLUMNS,
    excluded_columns,
    excluded_rows,
    has_kpis,
    kpi_rows,
    statement_line,
    window_rows,
)

__all__ = ["render_html"]

_CSS = """\
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111;
       margin: 2rem; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
p { margin: .2rem 0; }
.partial { font-weight: bold; }
table { border-collapse: collapse; }
th, td { padding: .2rem .55rem; border-bottom: 1px solid #ccc; text-align: left;
         vertical-align: top; }
th { border-bottom: 2px solid #444; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.missed td { background: #fdeaea; }
tr.missed td.met { font-weight: bold; color: #a00; }
footer { margin-top: 2rem; color: #555; font-size: .85rem; }
footer .statement { color: #111; overflow-wrap: anywhere; }
@media print {
  body { margin: 0; font-size: 9pt; color: #000; }
  thead { display: table-header-group; }
  tr { page-break-inside: avoid; }
  h2 { page-break-after: avoid; }
  tr.missed td { background: none; }
  tr.missed td.met { color: #000; text-decoration: underline; }
}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _table(css_class: str, columns: Sequence[Column],
           rows: Iterable[dict[str, str]]) -> str:
    """An HTML table of display strings; a row with "missed" set gets class="missed"."""
    head = "".join(
        f'<th class="num">{_e(header)}</th>' if right else f"<th>{_e(header)}</th>"
        for _, header, right in columns
    )
    body = []
    for row in rows:
        cells = []
        for key, _, right in columns:
            classes = " ".join(c for c in ("met" if key == "met" else "", "num" if right else "")
                               if c)
            attr = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attr}>{_e(row[key])}</td>")
        attr = ' class="missed"' if row.get("missed") else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return (f'<table class="{css_class}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody>\n</table>\n")


def render_html(report: dict[str, Any]) -> str:
    """The report as a complete HTML document (UTF-8 text)."""
    period = report.get("period") or {}
    zone = period.get("timezone")
    title = _e(period_title(report))
    parts = [
        "<!DOCTYPE html>\n",
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{title}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n",
        f"<h1>{title}</h1>\n",
    ]
    if period.get("partial"):
        parts.append(f'<p class="partial">{_e(PARTIAL_NOTE.capitalize())}.</p>\n')
    parts.append("<h2>Clients</h2>\n")
    parts.append(_table("clients", CLIENT_COLUMNS, client_rows(report)))
    parts.append("<h2>Probes</h2>\n")
    parts.append(_table("probes", PROBE_COLUMNS, probe_rows(report)))
    if has_kpis(report):
        parts.append("<h2>Service levels</h2>\n")
        parts.append(_table("service-levels", KPI_COLUMNS, kpi_rows(report)))
    parts.append("<h2>Incidents</h2>\n")
    incidents = report_incidents(report)
    if incidents:
        parts.append(_table("incidents", INCIDENT_COLUMNS,
                            (incident_cells(r, zone) for r in incidents)))
    else:
        parts.append("<p>No incidents.</p>\n")
    if report.get("windows"):
        parts.append("<h2>Maintenance windows</h2>\n")
        parts.append(_table("windows", WINDOW_COLUMNS, window_rows(report, zone)))
        excluded = excluded_rows(report)
        if excluded:
            parts.append("<h2>Excluded time by category</h2>\n")
            parts.append(_table("excluded", excluded_columns(report), excluded))
    statement = statement_line(report)
    if report.get("generated_at") or statement:
        parts.append("<footer>")
        if report.get("generated_at"):
            parts.append(f"Generated {_e(fmt_when(report['generated_at'], zone))}.")
        if statement:
            parts.append(f'\n<p class="statement">{_e(statement)}</p>\n')
        parts.append("</footer>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)
