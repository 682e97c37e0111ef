"""Which member of a location runs which probe: rendezvous hashing, pure.

Every agent of a location reads the same `[cluster] members` list and
decides on its own, without talking to the others, which probes are its:

1. A probe whose `locations` list excludes this agent's location is not run
   here at all (an empty list means every location).
2. Otherwise each member gets a weight for the probe: the first 8 bytes of
   BLAKE2b over "probe id NUL member name", a stable hash (Python's `hash`
   changes between processes).
3. The member with the highest weight owns the probe (highest random weight,
   Thaler and Ravishankar 1996). Ties, which need a 64-bit collision, go to
   the greater name, so every agent still agrees.

Adding an Nth member moves only the probes it now wins, about 1/N of them;
removing one moves only its own. Membership is static: a member that dies
keeps its probes until it returns or the list changes.

Usage: ``probes = probes_run_here(config, "fra2")``
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from .config import Config, Probe


def weight(probe_id: str, member: str) -> int:
    """The member's stable 64-bit weight for the probe."""
    digest = hashlib.blake2b(f"{probe_id}\0{member}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(probe_id: str, members: Sequence[str]) -> str:
    """The member that runs the probe; ValueError for an empty member list."""
    if not members:
        raise ValueError("a cluster needs at least one member")
    return max(members, key=lambda m: (weight(probe_id, m), m))


def runs_in(probe: Probe, location: str) -> bool:
    """Whether the probe is measured from `location` (no `locations`: from everywhere)."""
    return not probe.locations or location in probe.locations


def probes_run_here(config: Config, agent: str) -> dict[str, Probe]:
    """The probes this agent runs: all of them without [cluster], else its share.

    An agent that is not a member of its location runs nothing (the CLI refuses
    to start one; a reload that drops it from the list stops its probes).
    """
    cluster = config.cluster
    if cluster is None:
        return dict(config.probes)
    if agent not in cluster.members:
        return {}
    return {pid: p for pid, p in config.probes.items()
            if runs_in(p, cluster.location) and owner(pid, cluster.members) == agent}


def assignment(probe_ids: Iterable[str], members: Sequence[str]) -> dict[str, str]:
    """probe id -> owning member, for tests and for operators asking "who runs what"."""
    return {pid: owner(pid, members) for pid in probe_ids}
