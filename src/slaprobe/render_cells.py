"""What the report forms show: figures made into text for people, one row model for all.

Table, Markdown and HTML show the same columns with the same text, so they
are built once here from the report dict (SPEC 6): availability floored to
three decimals, durations as "1h 02m 03s", times in the report's zone, client
display names, and every string made inert. Each form then applies only its
own escaping.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .durations import format_duration
from .sanitize import inert

DASH = "\u2014"  # shown for a value that does not apply (no SLA, nothing measured)


def floor3(x: float | None) -> str:
    """Availability as text with three decimals, floored: a report must not round up.

    The 1e-9 absorbs binary error (99.9 is stored as 99.900000000000006, a
    ratio can land a hair under its decimal value); "100.000" only for 100.

    >>> floor3(99.9996), floor3(None)
    ('99.999', '—')
    """
    if x is None or not math.isfinite(x):
        return DASH
    n = math.floor(x * 1000 + 1e-9)
    if n >= 100_000 and x < 100:
        n = 99_999
    return f"{n / 1000:.3f}"


def fmt_number(x: float | None) -> str:
    """Shortest exact text for a configured number (objective 99.9, credit 10)."""
    if x is None:
        return DASH
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def fmt_latency(ms: float | None) -> str:
    """Latency for people: "12.3 ms", "1.25 s"."""
    if ms is None:
        return DASH
    if round(ms, 1) < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def duration(seconds: float | None) -> str:
    """Seconds as "1h 02m 03s" (the human form of SPEC 3), or the dash."""
    return DASH if seconds is None else format_duration(seconds)


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ValueError, KeyError, OSError):
        return None


def fmt_when(ts: str | None, zone: str | None = None) -> str:
    """An ISO 8601 time as "2026-11-03 11:00:00 CET" in `zone`, else with its own offset.

    Unparsable text is shown as it is (made inert), never dropped.
    """
    if ts is None:
        return DASH
    try:
        dt = datetime.fromisoformat(ts).replace(microsecond=0)
    except (TypeError, ValueError):
        return inert(str(ts))
    tz = _zone(zone)
    if tz is not None and dt.tzinfo is not None:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    return dt.isoformat(sep=" ")


def as_text(value: Any) -> str:
    """Any value as inert text; None as the dash."""
    return DASH if value is None else inert(str(value))


def met_text(met: bool | None) -> str:
    """Met as "yes" or "NO" (capitals: a miss stands out without colour), or the dash."""
    return DASH if met is None else ("yes" if met else "NO")


def period_title(report: dict[str, Any]) -> str:
    """"SLA report <start> to <end> (<zone>)", times in the report's zone."""
    period = report.get("period") or {}
    zone = period.get("timezone")
    line = (
        f"SLA report {fmt_when(period.get('start'), zone)} to {fmt_when(period.get('end'), zone)}"
    )
    if zone:
        line += f" ({inert(str(zone))})"
    return line


PARTIAL_NOTE = "partial: the period is not over, figures so far"


def report_header(report: dict[str, Any]) -> str:
    """The period title, and a warning when the period is still running."""
    if (report.get("period") or {}).get("partial"):
        return f"{period_title(report)}, {PARTIAL_NOTE}"
    return period_title(report)


# ---------------------------------------------------------------- the report's rows

Column = tuple[str, str, bool]  # key, header, right-aligned

# The same columns, in this order, in the table, Markdown and HTML forms.
_FIGURES: list[Column] = [
    ("sla", "SLA", False),
    ("objective", "objective", True),
    ("availability", "avail. %", True),
    ("met", "met", False),
    ("down", "down", True),
    ("unknown", "unknown", True),
    ("maintenance", "maint.", True),
    ("budget_left", "budget left", True),
    ("credit", "credit", True),
    ("incidents", "incidents", True),
]
CLIENT_COLUMNS: list[Column] = [("name", "client", False), *_FIGURES]
PROBE_COLUMNS: list[Column] = [("name", "probe", False), ("client", "client", False),
                               *_FIGURES, ("p95", "p95", True)]


def _figures(e: dict[str, Any]) -> dict[str, str]:
    """One client or probe entry as display strings (inert, not yet escaped)."""
    objective = e.get("objective")
    credit = e.get("credit_percent")
    return {
        "sla": as_text(e.get("sla")),
        "objective": DASH if objective is None else f"{fmt_number(objective)}%",
        "availability": floor3(e.get("availability")),
        "met": met_text(e.get("met")),
        "down": duration(e.get("down_seconds")),
        "unknown": duration(e.get("unknown_seconds")),
        "maintenance": duration(e.get("maintenance_seconds")),
        "budget_left": duration(e.get("budget_left_seconds")),
        "credit": DASH if credit is None else f"{fmt_number(credit)}%",
        "incidents": str(len(e.get("incidents") or [])),
    }


def client_name(probe: dict[str, Any]) -> str | None:
    """The client's display name for a probe or incident row, else its id."""
    return probe.get("client_name") or probe.get("client")


def client_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Display strings per client, in report order; "missed" is "1" when met is false."""
    rows = []
    for c in report.get("clients") or []:
        row = {"name": as_text(c.get("name") or c.get("id")), **_figures(c)}
        row["missed"] = "1" if c.get("met") is False else ""
        rows.append(row)
    return rows


def probe_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Display strings per probe, with the client's display name and p95 latency."""
    rows = []
    for p in report.get("probes") or []:
        latency = p.get("latency_ms") or {}
        row = {"name": as_text(p.get("id")), "client": as_text(client_name(p)), **_figures(p),
               "p95": fmt_latency(latency.get("p95"))}
        row["missed"] = "1" if p.get("met") is False else ""
        rows.append(row)
    return rows


def report_incidents(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The probes' incidents as rows of the `slaprobe incidents` shape."""
    rows = []
    for p in report.get("probes") or []:
        for inc in p.get("incidents") or []:
            rows.append({"probe": p.get("id"), "client": p.get("client"),
                         "client_name": p.get("client_name"), **inc})
    return rows


INCIDENT_COLUMNS: list[Column] = [
    ("probe", "probe", False),
    ("client", "client", False),
    ("start", "start", False),
    ("end", "end", False),
    ("duration", "duration", True),
    ("maintenance", "in maint.", True),
    ("overrun", "overrun", True),
    ("errors", "errors", False),
]


def incident_cells(row: dict[str, Any], zone: str | None = None) -> dict[str, str]:
    """One incident as display strings; a null end reads "ongoing", no overrun the dash."""
    end = row.get("end")
    overrun = row.get("overrun_seconds")
    return {
        "probe": as_text(row.get("probe")),
        "client": as_text(client_name(row)),
        "start": fmt_when(row.get("start"), zone),
        "end": "ongoing" if end is None else fmt_when(end, zone),
        "duration": duration(row.get("seconds")),
        "maintenance": duration(row.get("maintenance_seconds")),
        "overrun": duration(overrun) if overrun else DASH,
        "errors": ", ".join(inert(str(k)) for k in row.get("error_kinds") or []) or DASH,
    }


CHECK_COLUMNS: list[Column] = [
    ("probe", "probe", False),
    ("client", "client", False),
    ("kind", "kind", False),
    ("result", "result", False),
    ("latency", "latency", True),
    ("error", "error", False),
]


def check_cells(row: dict[str, Any]) -> dict[str, str]:
    """One `run --once` result as display strings."""
    return {
        "probe": as_text(row.get("probe")),
        "client": as_text(row.get("client_name")),
        "kind": as_text(row.get("kind")),
        "result": "UP" if row.get("ok") else "DOWN",
        "latency": fmt_latency(row.get("latency_ms")),
        "error": "" if row.get("error") is None else inert(str(row["error"])),
    }
