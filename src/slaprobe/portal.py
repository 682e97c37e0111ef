"""`slaprobe portal --output DIR`: a static status site that clients can be given.

DIR/index.html lists the clients; DIR/clients/<client>.html shows one client:
its state now, this month's availability against its objective, one bar per
day for 90 days, its incidents, and the maintenance planned for the next 30
days. Plain HTML and CSS (no script, no external asset, a CSP forbidding
both), readable on a phone, every value escaped (portal_html.py).

What a client sees is what the configuration makes public: a client page
shows the client's aggregate figures (SPEC 5.7) and incidents, never probe
ids, URLs, hosts or error messages; only probes marked ``public = true`` are
listed, by id, with their state and month availability.

How the figures are made, cheaply: each probe's timeline is read and built
once over the whole range (90 days or the month, whichever starts first),
then the client figures of each day and of the month are cut from those
timelines, exactly as `build_report` would compute each of those periods.

Usage: ``slaprobe portal --output /var/www/status [--client acme]``
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Client, Config, Probe
from .errors import InputError
from .figures import Figures, Incident, ProbeMeasure

DAYS = 90
AHEAD = 30 * 86_400.0
MAX_INCIDENTS = 25
MAX_WINDOWS = 30


@dataclass(frozen=True)
class Day:
    date: date
    availability: float | None
    down_seconds: float
    level: str  # full (no downtime) | met | missed | none (nothing measured)


@dataclass(frozen=True)
class PublicProbe:
    id: str
    state: str  # up | down | unknown | maintenance
    since: float | None
    availability: float | None  # this month


@dataclass(frozen=True)
class Planned:
    start: float
    end: float
    category: str
    scope: str  # "all services", or the public probes it covers and "other services"


@dataclass(frozen=True)
class ClientPage:
    client: Client
    slug: str  # the page is clients/<slug>.html
    state: str  # up | down | unknown | maintenance
    since: float | None  # when a down client went down
    month: Figures
    days: tuple[Day, ...]
    incidents: tuple[Incident, ...]  # newest first, not those wholly in maintenance
    planned: tuple[Planned, ...]
    more_planned: int  # windows beyond MAX_WINDOWS
    public: tuple[PublicProbe, ...]


@dataclass(frozen=True)
class Portal:
    generated_at: float
    timezone: str
    month_start: float
    clients: tuple[ClientPage, ...]


# ---------------------------------------------------------------------------
# Collecting the figures


def collect(config: Config, store: object, now: float,
            only: Sequence[str] | None = None) -> Portal:
    """Everything the pages show, for every client (or those in `only`)."""
    from .availability import read_segments
    from .figures import client_figures, figures_of_probe, measure_probe
    from .intervals import union
    from .maintenance import covers, window_intervals
    from .periods import resolve_period

    zone = ZoneInfo(config.agent.timezone)
    month_start, _, _ = resolve_period(None, None, None, config.agent.timezone, now)
    days = day_bounds(now, zone, DAYS)
    lo = min(days[0][0], month_start)
    windows = [(w, window_intervals(w, lo, now + AHEAD)) for w in config.maintenance]
    states = store.states()  # type: ignore[attr-defined]
    slugs = page_names(list(config.clients))
    pages = []
    for client in config.clients.values():
        if only is not None and client.id not in only:
            continue
        sla = config.slas.get(client.sla) if client.sla else None
        probes = config.probes_of_client(client.id)
        measures: list[ProbeMeasure] = []
        for p in probes:
            p_sla = config.sla_for_probe(p)
            maint = union(*[iv for w, iv in windows if covers(w, p)], ())
            spans, failures, samples = read_segments(
                store, p, lo, now, p_sla.min_downtime if p_sla else 0.0, now,  # type: ignore[arg-type]
                latency=False)
            measures.append(measure_probe(p, p_sla, spans, now, maint, config.agent.quorum,
                                          failures=failures, samples=samples))
        month = client_figures(client, sla, measures, month_start, now, now)
        bars = []
        for start, end in days:
            f = client_figures(client, sla, measures, start, min(end, now), now)
            bars.append(Day(datetime.fromtimestamp(start, zone).date(), f.availability,
                            f.down_seconds, _level(f)))
        span = client_figures(client, sla, measures, days[0][0], now, now)
        incidents = tuple(sorted((i for i in span.incidents
                                  if i.maintenance_seconds < i.seconds),
                                 key=lambda i: -i.start))[:MAX_INCIDENTS]
        in_maint = {m.probe.id: any(s <= now < e for s, e in m.maintenance) for m in measures}
        probe_states = {p.id: _probe_state(states.get(p.id), p, in_maint[p.id], now)
                        for p in probes}
        state, since = client_state(list(probe_states.values()))
        public = tuple(
            PublicProbe(m.probe.id, *probe_states[m.probe.id],
                        figures_of_probe(m, config.sla_for_probe(m.probe), month_start, now,
                                         now).availability)
            for m in measures if m.probe.public)
        planned = _planned(windows, probes, now, covers)
        pages.append(ClientPage(client, slugs[client.id], state, since, month, tuple(bars),
                                incidents, tuple(planned[:MAX_WINDOWS]),
                                max(0, len(planned) - MAX_WINDOWS), public))
    return Portal(now, config.agent.timezone, month_start, tuple(pages))


def day_bounds(now: float, zone: ZoneInfo, n: int) -> list[tuple[float, float]]:
    """The last `n` local calendar days up to today, as (start, end) epoch seconds."""
    from .hours import local_to_ts

    today = datetime.fromtimestamp(now, zone).date()
    first = today - timedelta(days=n - 1)
    out = []
    for k in range(n):
        d = first + timedelta(days=k)
        nxt = d + timedelta(days=1)
        out.append((local_to_ts(datetime(d.year, d.month, d.day), zone),
                    local_to_ts(datetime(nxt.year, nxt.month, nxt.day), zone)))
    return out


def _level(f: Figures) -> str:
    if f.availability is None:
        return "none"
    if f.down_seconds <= 0:
        return "full"
    return "missed" if f.met is False else "met"


def _probe_state(st: object, probe: Probe, in_maintenance: bool,
                 now: float) -> tuple[str, float | None]:
    from .status import probe_state_now

    return probe_state_now(st, probe.confirm, in_maintenance, now,  # type: ignore[arg-type]
                           probe.timeout * (1 + probe.retries))


def client_state(states: list[tuple[str, float | None]]) -> tuple[str, float | None]:
    """A client's state now from its probes' (SPEC 5.7): down if any probe outside
    maintenance is down, else unknown if any is unknown, else up if any is up;
    maintenance when every probe is in a window; unknown without probes."""
    active = [(s, t) for s, t in states if s != "maintenance"]
    if not states:
        return "unknown", None
    if not active:
        return "maintenance", None
    down = [t for s, t in active if s == "down"]
    if down:
        return "down", min((t for t in down if t is not None), default=None)
    if any(s == "unknown" for s, _ in active):
        return "unknown", None
    return "up", None


def _planned(windows: list, probes: list[Probe], now: float, covers) -> list[Planned]:
    out: set[Planned] = set()
    for w, intervals in windows:
        covered = [p for p in probes if covers(w, p)]
        if not covered:
            continue
        if len(covered) == len(probes):
            scope = "all services"
        else:
            named = [p.id for p in covered if p.public]
            hidden = len(covered) > len(named)
            scope = ", ".join(named + (["other services"] if hidden else [])) or "some services"
        for start, end in intervals:
            if end > now:
                out.add(Planned(start, end, w.category, scope))
    return sorted(out, key=lambda p: (p.start, p.end, p.scope))


_SLUG_BAD = re.compile(r"[^a-z0-9._-]+")


def page_names(ids: list[str]) -> dict[str, str]:
    """A safe, unique file name (without .html) for each client id.

    Ids are kept when they are already plain ([a-z0-9._-], not starting with a
    dot); others get a cleaned name plus a short hash of the id, so two ids
    never share a page and no id can climb out of the folder.
    """
    out: dict[str, str] = {}
    for ident in ids:
        clean = _SLUG_BAD.sub("-", ident.lower()).strip("-.")[:60]
        if clean != ident or not clean:
            digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            clean = f"{clean or 'client'}-{digest}"
        out[ident] = clean
    return out


# ---------------------------------------------------------------------------
# Writing the site


def write_site(folder: Path, pages: dict[str, str], *, prune: bool) -> int:
    """Write each relative path's text atomically; with `prune`, remove client pages of
    clients no longer configured. Returns the number of files written."""
    from .atomic import write_atomic

    try:
        (folder / "clients").mkdir(parents=True, exist_ok=True)
        for rel, text in pages.items():
            write_atomic(folder / rel, text)
        if prune:
            keep = {Path(rel).name for rel in pages if rel.startswith("clients/")}
            for old in (folder / "clients").glob("*.html"):
                if old.name not in keep:
                    old.unlink()
    except OSError as e:
        raise InputError(f"--output {folder}: cannot write: {e.strerror or e}") from None
    return len(pages)


def cmd_portal(args: argparse.Namespace) -> int:
    """Write the client portal: a static site of state, availability, incidents, maintenance.

    One index page and one page per client (--client: only that one); no
    server, script or external asset needed. Probes marked `public = true`
    are listed by id; nothing else about probes is shown.

    Example: slaprobe portal --output /var/www/status
    """
    from .cli import EXIT_OK, _config, _db_path
    from .portal_html import render_site
    from .store import Store

    config = _config(args)
    if args.client is not None and args.client not in config.clients:
        known = ", ".join(sorted(config.clients)) or "none configured"
        raise InputError(f"--client {args.client!r}: no such client (known: {known})")
    now = time.time()
    with Store(_db_path(args, config), readonly=True) as store:
        portal = collect(config, store, now, [args.client] if args.client else None)
    folder = Path(args.output)
    written = write_site(folder, render_site(portal), prune=args.client is None)
    print(f"{folder}: {written} pages written", file=sys.stderr)
    return EXIT_OK
