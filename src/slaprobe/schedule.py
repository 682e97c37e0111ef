"""When each probe is due: pure schedule maths on the monotonic clock.

Phases are spread by hashing the probe id, so thousands of probes with one
interval do not fire in the same millisecond, and a restart keeps each
probe's phase (no burst of checks after a reload).
"""

from __future__ import annotations

import hashlib
import math


PHASE_GRID = 0.02  # seconds: probes due within one grid step share one loop wake-up


def phase(probe_id: str, interval: float) -> float:
    """A stable offset in [0, interval) for this probe id, on a 10 ms grid.

    The grid costs at most 10 ms of spread and lets probes due together run
    from one timer wake-up (bench/FINDINGS.md: -20 to -44 % CPU per check).
    """
    digest = hashlib.blake2b(probe_id.encode(), digest_size=8).digest()
    offset = (int.from_bytes(digest, "big") / 2**64) * interval
    if interval > 10 * PHASE_GRID:
        offset = min(round(offset / PHASE_GRID) * PHASE_GRID, interval - PHASE_GRID)
    return offset


def first_due(probe_id: str, interval: float, now: float) -> float:
    """The first due time at or after `now` on the probe's phase grid."""
    offset = phase(probe_id, interval)
    k = math.ceil((now - offset) / interval)
    return offset + k * interval


def next_due(previous_due: float, interval: float, now: float) -> float:
    """The next tick after `previous_due` that is not already in the past.

    When a check took longer than its interval (or the loop was late), missed
    ticks are skipped rather than run back to back: a burst of catch-up checks
    would only add load when the agent is already behind.
    """
    due = previous_due + interval
    if due < now:
        due += math.ceil((now - due) / interval) * interval
    return due
