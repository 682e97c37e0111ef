"""The daemon's live state -> a MetricsSnapshot for /metrics (read on each scrape, cheap).

`snapshot(daemon)` builds it at once; `snapshot_async(daemon)` builds the same in slices of
probes with a yield to the event loop between them, which is what the daemon serves: with
10,000 probes a snapshot built at once would hold the loop (and the probes' schedule) for
tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import __version__
from .metrics import AgentMetrics, MetricsSnapshot, ProbeMetrics, quantiles

if TYPE_CHECKING:
    from .config import Probe
    from .daemon import Daemon

SNAPSHOT_SLICE = 500  # probes per uninterrupted stretch


def _probe_metrics(daemon: Daemon, probes: Iterable[tuple[str, Probe]],
                   location: str | None) -> list[ProbeMetrics]:
    live_of = daemon.live.get
    figures_of = daemon.period_figures.get
    out = []
    for pid, probe in probes:
        live = live_of(pid)
        figures = figures_of(pid)
        if live is None:
            up = latency = cert = None
            checks = {"up": 0, "down": 0}
        else:
            up = None if live.up is None else (1 if live.up else 0)
            latency = None if live.latency_ms is None else live.latency_ms / 1000
            cert = None if live.cert_days is None else live.cert_days * 86400
            checks = {"up": live.checks_up, "down": live.checks_down}
        out.append(ProbeMetrics(
            id=pid, kind=probe.kind, client=probe.client, up=up, latency_seconds=latency,
            checks_total=checks,
            availability_ratio=None if figures is None or figures[0] is None
            else figures[0] / 100,
            error_budget_remaining_seconds=None if figures is None else figures[1],
            tls_cert_expiry_seconds=cert, location=location,
        ))
    return out


def _agent_metrics(daemon: Daemon, probes: int) -> AgentMetrics:
    h = daemon.health
    shipper = getattr(daemon, "shipper", None)
    return AgentMetrics(
        version=__version__, start_time_seconds=h.started, probes=probes,
        checks_total=h.checks_total, checks_per_second=h.checks_per_second(time.monotonic()),
        write_queue_depth=daemon.writer.depth(),
        db_write_errors_total=daemon.writer.stats.write_errors,
        lateness_quantiles=quantiles(list(h.lateness)),
        lateness_sum_seconds=h.lateness_sum, lateness_count=h.lateness_count,
        central_backlog_checks=shipper.backlog_checks if shipper else None,
        central_backlog_age_seconds=shipper.backlog_age_seconds if shipper else None,
    )


def _location(daemon: Daemon) -> str | None:
    return daemon.config.cluster.location if daemon.config.cluster else None


def snapshot(daemon: Daemon) -> MetricsSnapshot:
    probes = daemon.config.probes
    return MetricsSnapshot(agent=_agent_metrics(daemon, len(probes)),
                           probes=tuple(_probe_metrics(daemon, probes.items(),
                                                       _location(daemon))))


async def snapshot_async(daemon: Daemon, slice_size: int = SNAPSHOT_SLICE) -> MetricsSnapshot:
    """`snapshot(daemon)`, built in slices with a yield to the loop between them."""
    config = daemon.config  # a reload meanwhile replaces daemon.config, never mutates it
    items = list(config.probes.items())
    location = config.cluster.location if config.cluster else None
    out: list[ProbeMetrics] = []
    for k in range(0, len(items), slice_size):
        if k:
            await asyncio.sleep(0)
        out += _probe_metrics(daemon, items[k:k + slice_size], location)
    return MetricsSnapshot(agent=_agent_metrics(daemon, len(items)), probes=tuple(out))
