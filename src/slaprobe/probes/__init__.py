"""Probes: run one check of a configured probe and say what happened.

Usage::

    async with ProbeContext() as ctx:
        outcome = await run_check(probe, ctx)   # never raises (but cancellation)

One `ProbeContext` per daemon holds what checks share: the HTTP clients and
their SSL contexts (`http.HttpEngine`) and the ICMP sockets
(`icmp.IcmpEngine`). A check is 1 + `probe.retries` attempts, each bounded by
`probe.timeout`; the first success wins, else the last failure is returned
(SPEC section 5, rule 1). Failures are `Outcome.error` strings
"kind: message" with a kind from `slaprobe.checks.ERROR_KINDS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from slaprobe.config import Probe

from ._base import Outcome
from .http import HttpEngine
from .icmp import IcmpEngine
from .tcp import check_tcp

__all__ = ["Outcome", "ProbeContext", "run_check"]

log = logging.getLogger(__name__)


class ProbeContext:
    """What all checks share; enter it once, in the daemon's event loop.

    `icmp_mode` is "auto" (ping sockets, else raw sockets), "dgram" or "raw".
    """

    def __init__(self, *, icmp_mode: str = "auto") -> None:
        self.http = HttpEngine()
        self.icmp = IcmpEngine(icmp_mode)
        self._attempts: dict[str, Callable[[Probe], Awaitable[Outcome]]] = {
            "http": self.http.check, "tcp": check_tcp, "icmp": self.icmp.check,
        }

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.icmp.close()
        await self.http.aclose()

    def attempt_for(self, kind: str) -> Callable[[Probe], Awaitable[Outcome]] | None:
        """The one-attempt function for a probe kind, or None if unknown."""
        return self._attempts.get(kind)


async def run_check(probe: Probe, ctx: ProbeContext) -> Outcome:
    """1 + probe.retries attempts, each bounded by probe.timeout; returns the
    first success or the last failure. NEVER raises (except asyncio.CancelledError)."""
    attempt = ctx.attempt_for(probe.kind)
    if attempt is None:
        return Outcome(False, None, f"error: unknown probe kind {probe.kind!r}")
    outcome = Outcome(False, None, "error: no attempt made")
    for _ in range(1 + max(0, probe.retries)):
        try:
            outcome = await attempt(probe)
        except Exception as exc:  # a bug of ours must not stop the agent
            log.exception("probe %s: unexpected error", probe.id)
            outcome = Outcome(False, None, f"error: internal error ({type(exc).__name__})")
        if outcome.ok or (outcome.error or "").startswith("permission:"):
            break
    return outcome
