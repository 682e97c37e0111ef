"""Service KPIs, response-time objectives and Apdex: the pure arithmetic reviewers ask for.

Everything here takes plain values (incidents, interval sets, latency
samples) and returns frozen dataclasses; `figures` calls it for each probe
and client. Definitions, where the SPEC leaves room:

- **Incidents** (the KPI) are the incidents of the period that count against
  the SLA: some of their down time lies in eligible time (inside the SLA
  hours, outside maintenance). A stretch wholly inside a window, or wholly at
  night under business hours, is listed among the incidents but is not a
  failure of the service. ``incidents = 0`` makes the three means null.
- **MTTR** = the mean wall duration of those incidents, clipped to the
  period (an ongoing one counts until `now`): how long a break lasts.
- **MTBF** = ``up_seconds / incidents`` (the ITIL form: available time per
  break), with `up_seconds` the eligible up time of SPEC 5. It is "mean up
  time between incident starts" without guessing the up time before the first
  start or after the last.
- **Longest incident** = the longest of those incidents, in wall seconds.
- **Latency objective** (``[sla.X] latency = { threshold, objective }``):
  *attained* = the percent of successful checks in eligible time whose
  latency is at or under the threshold; *met* = attained >= objective. Both
  are null when no successful check stands in eligible time.
- **Apdex** (apdex.org): satisfied = successful checks with latency <= T,
  tolerating = successful with T < latency <= 4T, frustrated = slower ones and
  every failed check in eligible time (a failed check is a frustrated user,
  however fast it failed); ``score = (satisfied + tolerating / 2) / all``,
  null without any check. T is the SLA's latency threshold, else 500 ms.

Latencies arrive as a `latency_digest.LatencyDigest` (a list of values is
folded into one): counts at or under a threshold are exact except within the
one 1 %-wide bucket holding the threshold (see `latency_digest.count_at_most`).

Usage: ``apdex(digest, failed=3, t_ms=500.0).score``
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .intervals import Intervals, clip
from .latency_digest import LatencyDigest, digest_of

DEFAULT_APDEX_T_MS = 500.0


class _Incident(Protocol):
    @property
    def start(self) -> float: ...

    @property
    def seconds(self) -> float: ...


@dataclass(frozen=True)
class Kpis:
    incidents: int
    mttr_seconds: float | None
    mtbf_seconds: float | None
    longest_incident_seconds: float | None


@dataclass(frozen=True)
class LatencyAttainment:
    threshold_ms: float
    objective: float  # percent
    attained: float | None  # percent of successful checks at or under the threshold
    met: bool | None


@dataclass(frozen=True)
class Apdex:
    score: float | None
    t_ms: float
    satisfied: int = 0
    tolerating: int = 0
    frustrated: int = 0


def service_kpis(incidents: Sequence[_Incident], counted_down: Intervals,
                 up_seconds: float) -> Kpis:
    """KPIs of the incidents that overlap `counted_down` (down time in eligible time).

    1. Keep the incidents with counted down time inside ``[start, start + seconds)``.
    2. MTTR = their mean seconds, longest = their maximum, MTBF = up / their count.
    """
    kept = [i.seconds for i in incidents if clip(counted_down, i.start, i.start + i.seconds)]
    n = len(kept)
    if n == 0:
        return Kpis(0, None, None, None)
    return Kpis(n, sum(kept) / n, up_seconds / n, max(kept))


def latency_attainment(latencies_ms: LatencyDigest | Iterable[float], threshold_ms: float,
                       objective: float) -> LatencyAttainment:
    """Share of the successful checks' latencies at or under `threshold_ms`, against `objective`.

    `latencies_ms`: a digest (or values, folded into one); the count at or under the
    threshold is exact but for the one digest bucket holding the threshold, whose
    values are split linearly between their exact min and max (see latency_digest).
    """
    d = digest_of(latencies_ms)
    n = d.n
    if not n:
        return LatencyAttainment(threshold_ms, objective, None, None)
    attained = d.count_at_most(threshold_ms) * 100 / n
    return LatencyAttainment(threshold_ms, objective, attained, attained >= objective)


def apdex(latencies_ms: LatencyDigest | Iterable[float], failed: int, t_ms: float) -> Apdex:
    """Apdex_T of the successful checks' latencies (a digest, or values) and `failed` checks
    (frustrated); T and 4T are counted as in `latency_attainment`."""
    d = digest_of(latencies_ms)
    n_ok = d.n
    satisfied = d.count_at_most(t_ms) if n_ok else 0
    tolerating = (d.count_at_most(4 * t_ms) - satisfied) if n_ok else 0
    frustrated = n_ok - satisfied - tolerating + failed
    n = satisfied + tolerating + frustrated
    score = (satisfied + tolerating / 2) / n if n else None
    return Apdex(score, t_ms, satisfied, tolerating, frustrated)
