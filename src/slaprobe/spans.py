"""Span: the input of the availability arithmetic — one check, or a run of equal checks.

A raw check is a span with ``first == last`` and ``n == 1``. After retention
compacts old raw checks, a run of consecutive checks of one agent with the same
result, each standing until the next (no gap of 2 x interval or more), is kept
as one span with ``n`` checks: the timeline it yields is the same as the raw
checks', and ``n`` keeps confirmation (SPEC 5.2) exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import Check


@dataclass(frozen=True, slots=True)
class Span:
    first: float  # epoch seconds of the first check
    last: float  # epoch seconds of the last check (== first for one check)
    ok: bool
    n: int  # number of checks it stands for
    interval_s: float  # interval of the last check
    agent: str = ""
    latency_ms: float | None = None  # only for a single successful check
    error: str | None = None  # of the last failed check

    @classmethod
    def of(cls, check: Check) -> Span:
        return cls(check.ts, check.ts, check.ok, 1, check.interval_s, check.agent,
                   check.latency_ms if check.ok else None, check.error)
