"""What is worth an alert: events found in the stream of checks, and their payload (pure).

Events and their keys (a key names one event for good: the queue stores an
event at most once per route, so a key seen again is never sent again):

    down           down:<probe>:<first failed check, ms>    `confirm` failed checks in a row
    recovered      recovered:<probe>:<same ms>              the first ok check after it
    cert_expiring  cert_expiring:<probe>:<local date>       cert_days <= cert_expiry_warn_days
    burn_page      burn_page:<probe>:<ms>                   see burn.py
    burn_ticket    burn_ticket:<probe>:<ms>

Maintenance silences an event while a window covers the probe, with one
rule kept for incident tools: a recovery is sent exactly when its down was.
So a stretch that starts and ends inside a window sends nothing; one that
overruns the window sends its down at the first failed check after the
window (key unchanged: it is the same stretch) and later its recovery; one
that started before a window sends its recovery even inside it.

Usage::

    tracker = DownTracker()
    for event in tracker.observe(probe, check, in_maintenance=False, day="2026-11-03"):
        payload = event_payload(event, config, agent="fra1")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .checks import Check, ts_to_iso
from .config import Config, Probe
from .durations import format_duration
from .sanitize import inert

SEVERITY = {"down": "critical", "recovered": "resolved", "cert_expiring": "warning",
            "burn_page": "critical", "burn_ticket": "warning"}
TITLE = {"down": "DOWN", "recovered": "RECOVERED", "cert_expiring": "CERTIFICATE EXPIRING",
         "burn_page": "ERROR BUDGET BURN (page)", "burn_ticket": "ERROR BUDGET BURN (ticket)"}


def ms(ts: float) -> int:
    return round(ts * 1000)


@dataclass(frozen=True)
class AlertEvent:
    event: str  # down | recovered | cert_expiring | burn_page | burn_ticket
    key: str
    probe: str
    client: str | None
    at: float  # when it was seen (epoch seconds)
    details: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class _Run:
    """The current stretch of failed checks of one probe."""

    fails: int = 0
    first_fail: float | None = None
    alerted: bool = False  # its down event was raised


class DownTracker:
    """Follows each probe's checks; says when it goes down, recovers, or its cert expires."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._cert_day: dict[str, str] = {}

    def seed(self, probe: str, fails: int, first_fail: float, alerted: bool) -> None:
        """Take up a stretch of failed checks stored before a restart."""
        if fails > 0:
            self._runs[probe] = _Run(fails, first_fail, alerted)

    def down_since(self, probe: str) -> float | None:
        run = self._runs.get(probe)
        return run.first_fail if run and run.alerted else None

    def quiet(self, probe: str, check: Check) -> bool:
        """True when this check can raise nothing: ok, no failures open, no certificate."""
        return check.ok and check.cert_days is None and probe not in self._runs

    def observe(self, probe: Probe, check: Check, in_maintenance: bool,
                day: str) -> list[AlertEvent]:
        """Events this check raises. `day` is its local date (for cert_expiring keys)."""
        out: list[AlertEvent] = []
        run = self._runs.get(probe.id)
        if check.ok:
            if run is not None and run.alerted and run.first_fail is not None:
                since = run.first_fail
                out.append(AlertEvent("recovered", f"recovered:{probe.id}:{ms(since)}", probe.id,
                                      probe.client, check.ts,
                                      {"since": since, "down_seconds": check.ts - since}))
            self._runs.pop(probe.id, None)
        else:
            if run is None:
                run = self._runs[probe.id] = _Run()
            run.fails += 1
            if run.first_fail is None:
                run.first_fail = check.ts
            if run.fails >= max(1, probe.confirm) and not run.alerted and not in_maintenance:
                run.alerted = True
                since = run.first_fail
                out.append(AlertEvent("down", f"down:{probe.id}:{ms(since)}", probe.id,
                                      probe.client, check.ts,
                                      {"since": since, "error": check.error,
                                       "failed_checks": run.fails}))
        warn = probe.cert_expiry_warn_days
        if (check.cert_days is not None and warn > 0 and check.cert_days <= warn
                and not in_maintenance and self._cert_day.get(probe.id) != day):
            self._cert_day[probe.id] = day
            out.append(AlertEvent("cert_expiring", f"cert_expiring:{probe.id}:{day}", probe.id,
                                  probe.client, check.ts,
                                  {"cert_days": check.cert_days, "warn_days": warn}))
        return out


def local_day(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).date().isoformat()


def summary(event: AlertEvent, client_name: str | None, zone: str) -> str:
    """One line for people: what happened to which probe, since when."""
    who = f"{event.probe} ({client_name})" if client_name else event.probe
    d = event.details
    if event.event == "down":
        error = inert(d.get("error") or "failed")
        return f"{who} is DOWN since {_when(d['since'], zone)}: {error}"
    if event.event == "recovered":
        return (f"{who} RECOVERED after {format_duration(round(d['down_seconds']))} "
                f"(down since {_when(d['since'], zone)})")
    if event.event == "cert_expiring":
        return (f"{who}: the TLS certificate expires in {d['cert_days']:.1f} days "
                f"(warning at {d['warn_days']} days)")
    rates = d.get("burn_rates", {})
    shown = ", ".join(f"{rate:.1f}x over {window}" for window, rate in rates.items())
    return (f"{who}: error budget burning {shown} (objective {d.get('objective'):g} %); "
            f"{'page' if event.event == 'burn_page' else 'ticket'}")


def _when(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def event_payload(event: AlertEvent, config: Config, agent: str) -> dict[str, Any]:
    """The event as the JSON object every route receives (the "json" format).

    Keys: event, key, severity, title, summary, probe, client, client_name,
    agent, at, then the event's own: since, down_seconds, error,
    failed_checks, cert_days, warn_days, objective, burn_rates.
    """
    client = config.clients.get(event.client) if event.client else None
    name = client.name if client else None
    data: dict[str, Any] = {
        "event": event.event, "key": event.key, "severity": SEVERITY[event.event],
        "title": TITLE[event.event], "summary": summary(event, name, config.agent.timezone),
        "probe": event.probe, "client": event.client, "client_name": name,
        "agent": agent, "at": ts_to_iso(event.at),
    }
    for k, v in event.details.items():
        if k == "since":
            v = ts_to_iso(v)
        elif k == "burn_rates":  # JSON has no infinity (objective 100 and any downtime)
            v = {w: r if r is not None and math.isfinite(r) else None for w, r in v.items()}
        data[k] = v
    return data
