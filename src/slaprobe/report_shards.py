"""A large report computed by one process per core: the same Report as `build_report`, sooner.

A report's cost is per probe and per client (reading their rows, merging
latency digests, the arithmetic); probes of different clients share nothing
but the maintenance windows and SLA hours, which each process expands for
itself. So:

1. The clients, each with all its probes (a client's figures need every one of
   its probes' timelines), and the probes without a client are dealt into
   shares of about equal probe count (a probe costs about the same under SLA
   hours as 24x7, since those hours have digests of their own: measured).
2. Each share but the first is computed in a forked process that opens its own
   read-only connection (none is open in the parent when it forks) and sends
   its `ReportParts` back through a pipe; the parent computes the first.
3. The parent puts the figures in configuration order and computes the window
   uses over all probes (`availability.assemble_report`), so the report is the
   one `build_report` makes, byte for byte in every format (tested).
4. For JSON (`sharded_report_json`) each share's entries are written as JSON by
   the process that computed them, and the parent splices them into the
   report's text: the same bytes, without the parent writing them all alone.

Used for the local SQLite file with fork available, more than one core and at
least `MIN_PROBES` probes, or as many processes as SLAPROBE_REPORT_WORKERS says;
otherwise, and for `--central`, `build_report` runs in-process. An error in a
worker (a locked or damaged file) is raised in the parent as the same
StoreError or InputError.

Usage: ``report = sharded_report(config, db_path, start, end, now, client=None)``
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from zoneinfo import ZoneInfo

from .availability import (
    Report,
    ReportParts,
    assemble_report,
    build_report,
    figures_dict,
    report_head,
    report_parts,
    report_to_dict,
)
from .config import Client, Config, Probe
from .errors import InputError, StoreError
from .intervals import Intervals
from .render import json_entry, spliced_report_json

MIN_PROBES = 200  # below, a worker's start-up (~10 ms) is not worth it
MAX_WORKERS = 8
WORKERS_ENV = "SLAPROBE_REPORT_WORKERS"


def worker_count(n_probes: int, environ: Mapping[str, str] = os.environ) -> int:
    """How many processes a report of `n_probes` probes uses (1: in-process).

    SLAPROBE_REPORT_WORKERS=N sets it (1: always in-process, e.g. on a busy shared
    host); by default one per core the process may use, from MIN_PROBES probes on."""
    if not hasattr(os, "fork"):
        return 1
    told = environ.get(WORKERS_ENV, "").strip()
    if told:
        if not told.isdigit() or not 1 <= int(told) <= 64:
            raise InputError(f"{WORKERS_ENV}={told!r}: expected a whole number from 1 to 64")
        return min(int(told), max(1, n_probes))
    if n_probes < MIN_PROBES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS, n_probes // (MIN_PROBES // 2)))


def shares(probes: Sequence[Probe], clients: Sequence[Client],
           n: int) -> list[tuple[list[Probe], list[Client]]]:
    """`probes` and `clients` dealt into at most `n` non-empty shares of about equal cost
    (a probe costs 1, a client 1 more), each client with all its probes (pure; largest
    first, each to the lightest share)."""
    wanted = {c.id for c in clients}
    units: list[tuple[int, list[Probe], list[Client]]] = []
    by_client: dict[str, list[Probe]] = {c.id: [] for c in clients}
    for p in probes:
        if p.client in wanted:
            by_client[p.client].append(p)  # type: ignore[index]
        else:
            units.append((1, [p], []))
    units += [(len(by_client[c.id]) + 1, by_client[c.id], [c]) for c in clients]
    units.sort(key=lambda u: -u[0])
    out: list[tuple[int, list[Probe], list[Client]]] = [(0, [], []) for _ in range(max(1, n))]
    for w, ps, cs in units:
        i = min(range(len(out)), key=lambda k: out[k][0])
        load, ops, ocs = out[i]
        out[i] = (load + w, ops + ps, ocs + cs)
    return [(ps, cs) for _, ps, cs in out if ps or cs]


def sharded_report(config: Config, db: Path, start: float, end: float, now: float,
                   client: str | None = None, *, partial: bool | None = None,
                   first_seen: Mapping[str, float] | None = None,
                   seen_since: float | None = None, workers: int | None = None) -> Report:
    """`build_report` of the SQLite file `db` (read-only), over `workers` processes
    (default: `worker_count`)."""
    from .store import Store

    probes, clients, parts_of = _dealt(config, client, workers)
    if len(parts_of) <= 1:
        with Store(db, readonly=True) as store:
            return build_report(config, store, start, end, now, client=client, partial=partial,
                                first_seen=first_seen, seen_since=seen_since)

    def compute(share: _Share) -> ReportParts:
        with Store(db, readonly=True) as store:
            return report_parts(config, store, share[0], share[1], start, end, now)

    parts = _in_workers(parts_of, compute)
    return assemble_report(config, parts, probes, clients, start, end, now, partial=partial,
                           first_seen=first_seen, seen_since=seen_since)


@dataclass(frozen=True)
class _JsonParts:
    """A share's entries as report JSON (`render.json_entry`), and what the parent still
    needs: each probe's down time and SLA hours (window uses) and whether any entry
    missed its objective (--fail-on-breach)."""

    probes: dict[str, str]
    clients: dict[str, str]
    down_and_hours: dict[str, tuple[Intervals, Intervals]]
    missed: bool


def sharded_report_json(config: Config, db: Path, start: float, end: float, now: float,
                        client: str | None = None, *, partial: bool | None = None,
                        first_seen: Mapping[str, float] | None = None,
                        seen_since: float | None = None,
                        workers: int | None = None) -> tuple[str, bool]:
    """``render_report(report_to_dict(sharded_report(...)), "json")``, byte for byte, and
    whether any probe or client missed its objective; each worker writes its own entries.

    A year's report of 1,000 probes is 16 MB of JSON, 0.25 s to write even with
    `render`'s joining writer (0.5-0.7 s with json's own) and 0.2-0.3 s to turn into
    dicts first: done by the parent after its workers, that was its longest step alone;
    done by each worker for its own share, it runs at the same time."""
    from .store import Store

    probes, clients, parts_of = _dealt(config, client, workers)
    zone = ZoneInfo(config.agent.timezone)

    def compute(share: _Share) -> _JsonParts:
        with Store(db, readonly=True) as store:
            got = report_parts(config, store, share[0], share[1], start, end, now)
        return _JsonParts(
            {f.id: json_entry(figures_dict(f, zone, is_client=False)) for f in got.probes},
            {f.id: json_entry(figures_dict(f, zone, is_client=True)) for f in got.clients},
            got.down_and_hours, any(f.met is False for f in (*got.probes, *got.clients)))

    parts = _in_workers(parts_of, compute)
    head = report_head(config, {k: v for p in parts for k, v in p.down_and_hours.items()},
                       probes, start, end, now, partial=partial, first_seen=first_seen,
                       seen_since=seen_since)
    by_id = {k: v for p in parts for k, v in p.probes.items()}
    client_by_id = {k: v for p in parts for k, v in p.clients.items()}
    text = spliced_report_json(report_to_dict(head), {
        "probes": [by_id[p.id] for p in probes], "clients": [client_by_id[c.id] for c in clients]})
    return text, any(p.missed for p in parts)


_Share = tuple[list[Probe], list[Client]]
_T = TypeVar("_T")


def _dealt(config: Config, client: str | None,
           workers: int | None) -> tuple[list[Probe], list[Client], list[_Share]]:
    """The report's probes and clients, and their shares (one: compute in-process)."""
    if client is not None and client not in config.clients:
        raise InputError(f"--client: no client {client!r} in the configuration")
    probes = [p for p in config.probes.values() if client is None or p.client == client]
    clients = [c for c in config.clients.values() if client is None or c.id == client]
    n = worker_count(len(probes)) if workers is None else workers
    return probes, clients, shares(probes, clients, n) or [([], [])]


def _in_workers(parts_of: Sequence[_Share], compute: Callable[[_Share], _T]) -> list[_T]:
    """`compute` of every share, in order: the first in this process, each other one in a
    forked worker that sends its result back through a pipe."""
    children: list[tuple[int, BinaryIO]] = []  # (pid, the read end of its pipe)
    done = False
    try:
        for share in parts_of[1:]:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: compute, send, and leave without running any cleanup
                os.close(r)
                code = 0
                try:
                    try:
                        payload = pickle.dumps(("ok", compute(share)), pickle.HIGHEST_PROTOCOL)
                    except (InputError, StoreError) as e:
                        payload = pickle.dumps(("error", type(e).__name__, str(e)))
                    except Exception:  # a bug: its traceback goes to the parent, not lost
                        payload = pickle.dumps(("bug", traceback.format_exc()))
                    with os.fdopen(w, "wb") as out:
                        out.write(payload)
                except BaseException:  # noqa: BLE001 - a worker never returns into the CLI
                    code = 70
                finally:
                    os._exit(code)
            os.close(w)
            children.append((pid, os.fdopen(r, "rb")))
        results = [compute(parts_of[0])]
        results += [_received(src.read(), pid) for pid, src in children]
        done = True
    finally:
        for pid, src in children:
            src.close()
            if not done:  # the parent failed: its workers' results are not wanted
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return results


def _received(data: bytes, pid: int) -> Any:
    """A worker's parts, or its error raised here."""
    if not data:
        raise StoreError(f"report worker {pid} ended without a result")
    got = pickle.loads(data)  # our own child, through our own pipe
    if got[0] == "ok":
        return got[1]  # type: ignore[no-any-return]
    if got[0] == "bug":
        raise RuntimeError(f"report worker {pid} failed:\n{got[1]}")
    raise (InputError if got[1] == "InputError" else StoreError)(got[2])
