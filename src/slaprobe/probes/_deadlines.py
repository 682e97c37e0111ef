"""Many deadlines, one loop timer: what the callback fast paths (TCP, ICMP) use instead of
a timer per attempt.

Nearly every attempt ends long before its deadline, so a timer per attempt is made and
cancelled for nothing (and cancelled timers pile up in the loop's heap until it sweeps
them). Here each attempt is one entry in a heap of (deadline, tie-break, item); the one
loop timer waits for the earliest deadline of an item not yet finished, and entries of
finished items are dropped when they reach the top of the heap (lazily, so ending an
attempt costs nothing here). An item has a `finished` attribute and an `expire()` method,
called once, at (never before) its deadline, unless it finished first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from typing import Protocol


class Expiring(Protocol):
    finished: bool

    def expire(self) -> None: ...


_EARLY = 1e-6  # call_at may run its callback a hair before `when` (clock resolution)


class Deadlines:
    __slots__ = ("_heap", "_loop", "_order", "_timer", "_timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Expiring]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __len__(self) -> int:
        """Entries kept (finished items' entries included, until they reach the top)."""
        return len(self._heap)

    def add(self, deadline: float, item: Expiring) -> None:
        """Call `item.expire()` at `deadline` (loop time) unless it has finished by then."""
        heap = self._heap
        while heap and heap[0][2].finished:
            heapq.heappop(heap)
        heapq.heappush(heap, (deadline, next(self._order), item))
        if deadline < self._timer_at:
            self._arm(deadline)

    def close(self) -> list[Expiring]:
        """Stop the timer and forget every entry; returns the items not finished."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        items = [entry[2] for entry in self._heap if not entry[2].finished]
        self._heap.clear()
        return items

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        heap = self._heap
        now = self._loop.time() + _EARLY
        while heap:
            deadline, _, item = heap[0]
            if item.finished:
                heapq.heappop(heap)
            elif deadline <= now:
                heapq.heappop(heap)
                item.expire()  # may add items (and arm the timer) meanwhile
            else:
                if deadline < self._timer_at:
                    self._arm(deadline)
                return
