"""What a contract review adds to the report forms: service levels, exclusions, the statement hash.

Row models in the manner of `render_cells` (display strings, inert, not yet
escaped), shared by the terminal table, Markdown and HTML; the CSV form
takes the raw numbers. Every section is shown only when the report holds its
data, so a report dict without them renders as before.

Apdex is written as its convention asks: the score to two decimals and T in
seconds in brackets, "0.94 [0.5]"; "NS [0.5]" when there was no sample.
"""

from __future__ import annotations

from typing import Any

from .config import MAINTENANCE_CATEGORIES
from .exclusions import category_order
from .render_cells import (
    DASH,
    Column,
    as_text,
    duration,
    floor3,
    fmt_number,
    fmt_when,
    met_text,
)
from .sanitize import inert

KPI_COLUMNS: list[Column] = [
    ("name", "client / probe", False),
    ("kpi_incidents", "incidents", True),
    ("mttr", "MTTR", True),
    ("mtbf", "MTBF", True),
    ("longest", "longest", True),
    ("latency_objective", "latency obj.", True),
    ("attained", "attained %", True),
    ("latency_met", "met", False),
    ("apdex", "Apdex [T s]", True),
]
KPI_NARROW = [("name",), ("kpi_incidents", "longest"), ("mttr", "mtbf"),
              ("latency_objective", "attained"), ("latency_met",), ("apdex",)]

WINDOW_COLUMNS: list[Column] = [
    ("window", "window", False),
    ("category", "category", False),
    ("start", "start", False),
    ("end", "end", False),
    ("seconds", "length", True),
    ("down", "down excluded", True),
    ("retroactive", "retroactive", False),
    ("first_seen", "first seen", False),
    ("reason", "reason", False),
    ("ticket", "ticket", False),
]
WINDOW_NARROW = [("window", "category"), ("start", "end", "first_seen"),
                 ("seconds", "down", "retroactive"), ("reason", "ticket")]


def fmt_apdex(apdex: dict[str, Any] | None) -> str:
    """ "0.94 [0.5]": score to two decimals, T in seconds; "NS [0.5]" without samples."""
    if not apdex or apdex.get("t_ms") is None:
        return DASH
    t = fmt_number(apdex["t_ms"] / 1000)
    score = apdex.get("score")
    return f"NS [{t}]" if score is None else f"{score:.2f} [{t}]"


def fmt_threshold(ms: float) -> str:
    """A latency threshold as configured: "500 ms", "1.5 s"."""
    return f"{fmt_number(ms)} ms" if ms < 1000 else f"{fmt_number(ms / 1000)} s"


def _entries(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(display name, entry): clients by display name, then probes by id."""
    return ([(as_text(c.get("name") or c.get("id")), c) for c in report.get("clients") or []]
            + [(as_text(p.get("id")), p) for p in report.get("probes") or []])


def has_kpis(report: dict[str, Any]) -> bool:
    return any("kpis" in e or "apdex" in e for _, e in _entries(report))


def kpi_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Service levels per client, then per probe; "missed" when the latency objective is not met."""
    rows = []
    for name, e in _entries(report):
        k = e.get("kpis") or {}
        lo = e.get("latency_objective")
        rows.append({
            "name": name,
            "kpi_incidents": as_text(k.get("incidents")),
            "mttr": duration(k.get("mttr_seconds")),
            "mtbf": duration(k.get("mtbf_seconds")),
            "longest": duration(k.get("longest_incident_seconds")),
            "latency_objective": DASH if not lo else
            f"{fmt_number(lo.get('objective'))}% \u2264 {fmt_threshold(lo.get('threshold_ms'))}",
            "attained": DASH if not lo else floor3(lo.get("attained")),
            "latency_met": DASH if not lo else met_text(lo.get("met")),
            "apdex": fmt_apdex(e.get("apdex")),
            "missed": "1" if lo and lo.get("met") is False else "",
        })
    return rows


def retro_text(value: bool | None) -> str:
    """Retroactive as "YES" (stands out without colour), "no", or "unknown"."""
    return "unknown" if value is None else ("YES" if value else "no")


def window_rows(report: dict[str, Any], zone: str | None) -> list[dict[str, str]]:
    """Each window occurrence in the period; "missed" marks a retroactive one."""
    rows = []
    for w in report.get("windows") or []:
        rows.append({
            "window": as_text(w.get("id")),
            "category": as_text(w.get("category")),
            "start": fmt_when(w.get("start"), zone),
            "end": fmt_when(w.get("end"), zone),
            "seconds": duration(w.get("seconds")),
            "down": duration(w.get("excluded_down_seconds")),
            "retroactive": retro_text(w.get("retroactive")),
            "first_seen": fmt_when(w.get("first_seen"), zone),
            "reason": as_text(w.get("reason")),
            "ticket": as_text(w.get("ticket")),
            "missed": "1" if w.get("retroactive") else "",
        })
    return rows


def excluded_categories(report: dict[str, Any]) -> list[str]:
    """Categories with excluded time in any entry, in category order."""
    found = {c for _, e in _entries(report) for c, s in (e.get("excluded_seconds") or {}).items()
             if s}
    return sorted(found, key=category_order)


def excluded_columns(report: dict[str, Any]) -> list[Column]:
    return [("name", "client / probe", False),
            *((f"cat:{c}", inert(str(c)), True) for c in excluded_categories(report)),
            ("total", "total", True)]


def excluded_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Excluded time per category, per client then probe (entries with some only)."""
    cats = excluded_categories(report)
    rows = []
    for name, e in _entries(report):
        by = e.get("excluded_seconds") or {}
        if not any(by.values()):
            continue
        row = {"name": name, "total": duration(e.get("maintenance_seconds")), "missed": ""}
        row.update({f"cat:{c}": duration(by.get(c, 0.0)) for c in cats})
        rows.append(row)
    return rows


def statement_line(report: dict[str, Any]) -> str | None:
    """The footer a statement carries: which, when, and its SHA-256."""
    st = report.get("statement")
    if not st:
        return None
    zone = (report.get("period") or {}).get("timezone")
    who = f"client {as_text(st.get('client'))}" if st.get("client") else "all clients"
    return (f"Statement #{as_text(st.get('id'))} of {as_text(st.get('period'))} ({who}) "
            f"made {fmt_when(st.get('created_at'), zone)}; sha256: {as_text(st.get('sha256'))}")


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = [
    "overrun_seconds", *(f"excluded_{c.replace('-', '_')}_seconds" for c in MAINTENANCE_CATEGORIES),
    "kpi_incidents", "mttr_seconds", "mtbf_seconds", "longest_incident_seconds",
    "latency_threshold_ms", "latency_objective", "latency_attained", "latency_met",
    "apdex", "apdex_t_ms",
    "category", "reason", "ticket", "retroactive", "first_seen", "excluded_down_seconds",
]


def csv_entry(e: dict[str, Any]) -> list[Any]:
    """The review columns of a client or probe row (raw numbers; the window columns empty)."""
    k = e.get("kpis") or {}
    lo = e.get("latency_objective") or {}
    ap = e.get("apdex") or {}
    by = e.get("excluded_seconds") or {}
    overrun = sum(i.get("overrun_seconds") or 0.0 for i in e.get("incidents") or [])
    return [
        overrun, *(by.get(c) for c in MAINTENANCE_CATEGORIES),
        k.get("incidents"), k.get("mttr_seconds"), k.get("mtbf_seconds"),
        k.get("longest_incident_seconds"), lo.get("threshold_ms"), lo.get("objective"),
        None if lo.get("attained") is None else floor3(lo["attained"]), lo.get("met"),
        ap.get("score"), ap.get("t_ms"), None, None, None, None, None, None,
    ]


def csv_window(w: dict[str, Any]) -> list[Any]:
    """The review columns of a window row."""
    return [None] * (len(CSV_COLUMNS) - 6) + [
        w.get("category"), w.get("reason"), w.get("ticket"), w.get("retroactive"),
        w.get("first_seen"), w.get("excluded_down_seconds"),
    ]

