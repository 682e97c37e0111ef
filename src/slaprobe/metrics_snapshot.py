"""The daemon's live state -> a MetricsSnapshot for /metrics (read on each scrape, cheap)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import __version__
from .metrics import AgentMetrics, MetricsSnapshot, ProbeMetrics, quantiles

if TYPE_CHECKING:
    from .daemon import Daemon


def snapshot(daemon: Daemon) -> MetricsSnapshot:
    h = daemon.health
    probes = []
    location = daemon.config.cluster.location if daemon.config.cluster else None
    for pid, probe in daemon.config.probes.items():
        live = daemon.live.get(pid)
        figures = daemon.period_figures.get(pid)
        up = None
        if live is not None and live.up is not None:
            up = 1 if live.up else 0
        probes.append(ProbeMetrics(
            id=pid, kind=probe.kind, client=probe.client, up=up,
            latency_seconds=None if live is None or live.latency_ms is None
            else live.latency_ms / 1000,
            checks_total={"up": live.checks_up if live else 0,
                          "down": live.checks_down if live else 0},
            availability_ratio=None if figures is None or figures[0] is None
            else figures[0] / 100,
            error_budget_remaining_seconds=None if figures is None else figures[1],
            tls_cert_expiry_seconds=None if live is None or live.cert_days is None
            else live.cert_days * 86400,
            location=location,
        ))
    shipper = getattr(daemon, "shipper", None)
    agent = AgentMetrics(
        version=__version__, start_time_seconds=h.started, probes=len(daemon.config.probes),
        checks_total=h.checks_total, checks_per_second=h.checks_per_second(time.monotonic()),
        write_queue_depth=daemon.writer.depth(),
        db_write_errors_total=daemon.writer.stats.write_errors,
        lateness_quantiles=quantiles(list(h.lateness)),
        lateness_sum_seconds=h.lateness_sum, lateness_count=h.lateness_count,
        central_backlog_checks=shipper.backlog_checks if shipper else None,
        central_backlog_age_seconds=shipper.backlog_age_seconds if shipper else None,
    )
    return MetricsSnapshot(agent=agent, probes=tuple(probes))
