"""Probes: run one check of a configured probe and say what happened.

Usage::

    async with ProbeContext() as ctx:
        outcome = await run_check(probe, ctx)   # never raises (but cancellation)

One `ProbeContext` per daemon holds what checks share: the HTTP clients and
their SSL contexts (`http.HttpEngine`), the ICMP sockets (`icmp.IcmpEngine`)
and the TCP fast path's epoll set (`tcp.TcpEngine`). A check is
1 + `probe.retries` attempts, each bounded by `probe.timeout`; the first
success wins, else the last failure is returned
(SPEC section 5, rule 1). Failures are `Outcome.error` strings
"kind: message" with a kind from `slaprobe.checks.ERROR_KINDS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol, Self

from slaprobe.config import Probe

from ._base import Outcome
from .http import HttpEngine
from .icmp import IcmpEngine
from .tcp import TcpEngine, check_tcp

__all__ = ["Attempt", "FastCheck", "Outcome", "ProbeContext", "run_check"]

log = logging.getLogger(__name__)


class Attempt(Protocol):
    """An attempt in flight on a fast path."""

    def cancel(self) -> None: ...


# One attempt without a task: the Outcome when known at once, else the attempt in flight
# (which calls back once with its Outcome), or None when the fast path does not apply.
Starter = Callable[[Probe, Callable[[Outcome], None]], "Outcome | Attempt | None"]


class ProbeContext:
    """What all checks share; enter it once, in the daemon's event loop.

    `icmp_mode` is "auto" (ping sockets, else raw sockets), "dgram" or "raw".
    """

    def __init__(self, *, icmp_mode: str = "auto") -> None:
        self.http = HttpEngine()
        self.icmp = IcmpEngine(icmp_mode)
        self.tcp = TcpEngine()
        self._attempts: dict[str, Callable[[Probe], Awaitable[Outcome]]] = {
            "http": self.http.check, "tcp": check_tcp, "icmp": self.icmp.check,
        }
        self._starters: dict[str, Starter] = {"tcp": self.tcp.start,
                                                "icmp": self.icmp.start}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.icmp.close()
        self.tcp.close()
        await self.http.aclose()

    def attempt_for(self, kind: str) -> Callable[[Probe], Awaitable[Outcome]] | None:
        """The one-attempt function for a probe kind, or None if unknown."""
        return self._attempts.get(kind)

    def start_check(self, probe: Probe,
                    on_done: Callable[[Outcome], None]) -> Attempt | None:
        """A whole check (every attempt, as `run_check`) without a task, driven by loop
        callbacks, for TCP and ICMP probes of an IP address: `on_done(outcome)` is called
        exactly once, possibly before this returns, unless the returned check is
        cancelled. None when there is no fast path for this probe (use `run_check`).

        A probe without retries makes one attempt, which reports to `on_done` itself (no
        FastCheck in between: this runs for every check the daemon makes)."""
        starter = self._starters.get(probe.kind)
        if starter is None:
            return None
        if probe.retries > 0:
            check = FastCheck(starter, probe, on_done)
            return check if check.begin() else None
        try:
            result = starter(probe, on_done)
        except Exception as exc:  # a bug of ours must not stop the agent
            log.exception("probe %s: unexpected error", probe.id)
            result = Outcome(False, None, f"error: internal error ({type(exc).__name__})")
        if result is None:
            return None
        if type(result) is Outcome:
            on_done(result)
            return _OVER
        return result  # type: ignore[return-value]  # the attempt in flight


class _Over:
    """A check that ended before start_check returned: nothing left to cancel."""

    __slots__ = ()

    def cancel(self) -> None:
        pass


_OVER = _Over()


class FastCheck:
    """1 + probe.retries attempts, one after another, through a Starter (see start_check)."""

    __slots__ = ("_attempt", "_left", "_on_done", "_probe", "_starter", "cancelled")

    def __init__(self, starter: Starter, probe: Probe,
                 on_done: Callable[[Outcome], None]) -> None:
        self._starter, self._probe, self._on_done = starter, probe, on_done
        self._left = 1 + max(0, probe.retries)
        self._attempt: Attempt | None = None
        self.cancelled = False

    def begin(self) -> bool:
        """Start the first attempt; False (nothing started) when the starter declines."""
        return self._next(first=True)

    def cancel(self) -> None:
        self.cancelled = True
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.cancel()

    def _next(self, first: bool = False) -> bool:
        while True:
            self._left -= 1
            try:
                result = self._starter(self._probe, self._attempt_done)
            except Exception as exc:  # a bug of ours must not stop the agent
                log.exception("probe %s: unexpected error", self._probe.id)
                result = Outcome(False, None, f"error: internal error ({type(exc).__name__})")
            if result is None:
                if first:
                    return False
                result = Outcome(False, None, "error: no attempt made")
            first = False
            if not isinstance(result, Outcome):
                self._attempt = result
                return True
            if self._final(result):
                return True

    def _attempt_done(self, outcome: Outcome) -> None:
        self._attempt = None
        if not self.cancelled and not self._final(outcome):
            self._next()

    def _final(self, outcome: Outcome) -> bool:
        if outcome.ok or (outcome.error or "").startswith("permission:") or self._left <= 0:
            self._on_done(outcome)
            return True
        return False


async def run_check(probe: Probe, ctx: ProbeContext) -> Outcome:
    """1 + probe.retries attempts, each bounded by probe.timeout; returns the
    first success or the last failure. NEVER raises (except asyncio.CancelledError)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Outcome] = loop.create_future()

    def on_done(outcome: Outcome) -> None:
        if not done.done():
            done.set_result(outcome)

    fast = ctx.start_check(probe, on_done)
    if fast is None:
        return await _run_check_async(probe, ctx)
    try:
        return await done
    except BaseException:
        fast.cancel()
        raise


async def _run_check_async(probe: Probe, ctx: ProbeContext) -> Outcome:
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
