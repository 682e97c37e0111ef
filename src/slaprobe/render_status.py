"""The status table for the terminal (rich), kept apart so status.py stays plain data."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from .durations import format_duration
from .render import floor3
from .sanitize import inert
from .status import StatusRow

_STYLE = {"up": "green", "down": "bold red", "unknown": "yellow", "maintenance": "cyan"}
_LABEL = {"up": "UP", "down": "DOWN", "unknown": "UNKNOWN", "maintenance": "MAINT"}


def _since(row: StatusRow, now: float) -> str:
    return format_duration(now - row.since).split(" ")[0] if row.since is not None else "-"


def render_status_table(rows: list[StatusRow], now: float) -> Table:
    """probe, client, state, since, latency, availability, budget left, cert days: 80 columns."""
    down = sum(1 for r in rows if r.state == "down")
    table = Table(title=f"slaprobe: {len(rows)} probes, {down} down", title_justify="left",
                  expand=False, pad_edge=False)
    table.add_column("probe", overflow="fold", max_width=18)
    table.add_column("client", overflow="fold", max_width=14)
    table.add_column("state", no_wrap=True)
    table.add_column("since", justify="right", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("avail %", justify="right", no_wrap=True)
    table.add_column("budget", justify="right", no_wrap=True)
    table.add_column("cert d", justify="right", no_wrap=True)
    for r in rows:
        state = Text(_LABEL[r.state], style=_STYLE[r.state])
        table.add_row(
            Text(inert(r.probe)),
            Text(inert(r.client_name or r.client or "-")),
            state,
            _since(r, now),
            "-" if r.latency_ms is None else f"{r.latency_ms:.1f}",
            floor3(r.availability) if r.availability is not None else "-",
            format_duration(r.budget_left_seconds) if r.budget_left_seconds is not None else "-",
            "-" if r.cert_days is None else f"{r.cert_days:.0f}",
        )
    return table
