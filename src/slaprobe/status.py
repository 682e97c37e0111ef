"""`slaprobe status`: what every probe looks like now, read from the database.

The rows come from the store's per-probe state (the newest check and its run)
plus this period's figures; the daemon need not be reachable, only its file.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import outbox
from .availability import build_report
from .checks import ts_to_iso
from .config import Config
from .durations import format_duration
from .maintenance import maintenance_intervals
from .periods import resolve_period
from .sanitize import json_inert
from .store import ProbeState, Store

_ORDER = {"down": 0, "unknown": 1, "maintenance": 2, "up": 3}


@dataclass(frozen=True)
class StatusRow:
    probe: str
    client: str | None
    client_name: str | None
    kind: str
    state: str  # up | down | unknown | maintenance
    since: float | None
    last_check: float | None
    latency_ms: float | None
    error: str | None
    availability: float | None  # this period, percent
    objective: float | None
    budget_left_seconds: float | None
    cert_days: float | None


WRITE_LAG = 1.0  # seconds: the writer commits every 250 ms; allow for a loaded machine


def probe_state_now(st: ProbeState | None, confirm: int, in_maintenance: bool,
                    now: float, check_duration: float = 0.0) -> tuple[str, float | None]:
    """(state, since) of one probe from its newest check, the SPEC's rules applied to `now`.

    A check is stored only once it has finished and been written, so the
    newest stored one is judged stale only after its two intervals plus the
    longest a check may take (`check_duration`) and the writer's lag: a probe
    whose next check is merely in flight is not shown as unknown.
    """
    if in_maintenance:
        return "maintenance", None
    if st is None:
        return "unknown", None
    stale_from = st.last_ts + max(2 * st.interval_s, st.interval_s + check_duration) + WRITE_LAG
    if now >= stale_from:
        return "unknown", stale_from
    if st.ok or st.fails < confirm:
        return "up", st.since if st.ok else None
    return "down", st.since


FIGURES_FRESH = 180.0  # seconds: the running daemon refreshes them every minute
CACHE_FROM_PROBES = 200  # below this, computing the month here is quick and exact to the second


def _period_figures(config: Config, store: Store, start: float, end: float, now: float,
                    ) -> dict[str, tuple[float | None, float | None, float | None]]:
    """(availability, objective, budget left) per probe.

    With many probes, the running daemon's figures (at most a few minutes old)
    when complete; else (few probes, no daemon, a new period) computed here.
    """
    if len(config.probes) >= CACHE_FROM_PROBES:
        computed, cached = store.period_figures(start)
        fresh = computed is not None and now - computed <= FIGURES_FRESH
        if fresh and set(config.probes) <= set(cached):
            return cached
    report = build_report(config, store, start, end, now, latency=False, error_kinds=False)
    return {f.id: (f.availability, f.objective, f.budget_left_seconds) for f in report.probes}


def status_rows(config: Config, store: Store, now: float) -> list[StatusRow]:
    """One row per configured probe, down first, then unknown, maintenance, up."""
    states = store.states()
    start, end, _ = resolve_period(None, None, None, config.agent.timezone, now)
    figures = _period_figures(config, store, start, end, now)
    rows = []
    for probe in config.probes.values():
        st = states.get(probe.id)
        in_maint = bool(maintenance_intervals(config.maintenance, probe, now, now + 1e-3))
        state, since = probe_state_now(st, probe.confirm, in_maint, now,
                                       probe.timeout * (1 + probe.retries))
        client = config.clients.get(probe.client) if probe.client else None
        f = figures.get(probe.id)
        rows.append(StatusRow(
            probe=probe.id, client=probe.client, client_name=client.name if client else None,
            kind=probe.kind, state=state, since=since,
            last_check=st.last_ts if st else None, latency_ms=st.latency_ms if st else None,
            error=st.error if st and not st.ok else None,
            availability=f[0] if f else None, objective=f[1] if f else None,
            budget_left_seconds=f[2] if f else None,
            cert_days=st.cert_days if st else None,
        ))
    rows.sort(key=lambda r: (_ORDER[r.state], r.client or "~", r.probe))
    return rows


def rows_to_json(rows: list[StatusRow]) -> list[dict]:
    out = []
    for r in rows:
        d = dict(vars(r))  # flat fields: no need for asdict's deep copy (1 ms per 20 rows)
        d["since"] = ts_to_iso(r.since) if r.since is not None else None
        d["last_check"] = ts_to_iso(r.last_check) if r.last_check is not None else None
        out.append(d)
    return out


def run_status(config: Config, db: Path, *, watch: bool, as_json: bool) -> int:
    """Print the status once (table or JSON), or refresh it in place with --watch."""
    from .render_status import render_status_table

    with Store(db, readonly=True) as store:
        shipping = outbox.summary(store, time.time())  # [central]: what is not shipped yet
        if as_json:
            doc: dict = {"generated_at": ts_to_iso(time.time()),
                         "probes": rows_to_json(status_rows(config, store, time.time()))}
            if shipping is not None:
                doc["central"] = shipping
            text = json.dumps(doc, indent=2, ensure_ascii=False)
            sys.stdout.write(json_inert(text) + "\n")  # names may hold terminal controls
            return 0
        from rich.console import Console
        from rich.live import Live

        console = Console()
        if not watch:
            console.print(render_status_table(status_rows(config, store, time.time()),
                                              time.time()))
            if shipping is not None and shipping["backlog_checks"]:
                console.print(f"central: {shipping['backlog_checks']} checks not shipped yet, "
                              f"oldest {format_duration(float(shipping['backlog_age_seconds']))}"
                              " ago", highlight=False)
            return 0
        try:
            with Live(console=console, auto_refresh=False, screen=False) as live:
                while True:
                    now = time.time()
                    live.update(render_status_table(status_rows(config, store, now), now),
                                refresh=True)
                    time.sleep(2.0)
        except KeyboardInterrupt:
            return 0
