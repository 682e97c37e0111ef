"""Error-budget burn rates, multi-window, as the Google SRE workbook alerts on them.

The burn rate over a window is how fast the error budget goes: the down
fraction of the window's measured eligible time divided by the budget
fraction, ``(down / (up + down)) / (1 - objective / 100)``. At rate 1 the
budget lasts exactly the SLA period; at 14.4 a 30-day budget is 2 % gone in
an hour.

Two rules (workbook, "Multiwindow, multi-burn-rate alerts"), each needing its
long window (the burn is real) and its short window (it is still going on):

    burn_page    rate >= 14.4 over 1 h  and over 5 min
    burn_ticket  rate >=  6   over 6 h  and over 30 min

Windows are measured like the report (SPEC 5): maintenance and time outside
the SLA's hours are left out, unknown time counts neither way, a probe
without an SLA has no budget and no burn rate, and a window less than half
measured is not judged.

Usage: ``rates = window_rates(config, store, time.time())``, then
``burning(rates["web"], PAGE)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .availability import CheckSource, build_report
from .config import Config


@dataclass(frozen=True)
class BurnRule:
    event: str  # the alert it raises
    threshold: float
    long: float  # seconds
    short: float  # seconds


PAGE = BurnRule("burn_page", 14.4, 3600.0, 300.0)
TICKET = BurnRule("burn_ticket", 6.0, 6 * 3600.0, 1800.0)
RULES = (PAGE, TICKET)
WINDOWS = tuple(sorted({w for r in RULES for w in (r.long, r.short)}))


def burn_rate(up: float, down: float, objective: float) -> float | None:
    """The burn rate of a window with `up` and `down` seconds; None when nothing was measured.

    >>> round(burn_rate(3420.0, 180.0, 99.9), 6)  # 5 % down against a 0.1 % budget
    50.0
    """
    measured = up + down
    if measured <= 0:
        return None
    budget = 1.0 - objective / 100.0
    if budget <= 0:  # objective 100: any downtime burns without bound
        return math.inf if down > 0 else 0.0
    return (down / measured) / budget


def burning(rates: Mapping[float, float | None], rule: BurnRule) -> bool:
    """Whether both of the rule's windows burn at or above its threshold."""
    long, short = rates.get(rule.long), rates.get(rule.short)
    return (long is not None and short is not None
            and long >= rule.threshold and short >= rule.threshold)


MIN_COVERAGE = 0.5  # a window is judged once at least half its eligible time was measured


def window_rates(config: Config, store: CheckSource, now: float,
                 windows: tuple[float, ...] = WINDOWS) -> dict[str, dict[float, float | None]]:
    """Each probe with an SLA -> {window seconds: burn rate over [now - window, now)}.

    The rate is None while less than MIN_COVERAGE of the window's eligible
    time was measured: an agent started five minutes ago must not page for
    a blip that is "100 % of the last hour" only because nothing else of
    that hour was seen.
    """
    out: dict[str, dict[float, float | None]] = {}
    objectives = {p.id: sla.objective for p in config.probes.values()
                  if (sla := config.sla_for_probe(p)) is not None}
    if not objectives:
        return out
    for window in windows:
        report = build_report(config, store, now - window, now, now, partial=True, latency=False)
        for f in report.probes:
            if f.id in objectives:
                judged = f.coverage is not None and f.coverage >= MIN_COVERAGE
                out.setdefault(f.id, {})[window] = (
                    burn_rate(f.up_seconds, f.down_seconds, objectives[f.id]) if judged else None)
    return out
