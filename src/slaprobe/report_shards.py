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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from .availability import Report, ReportParts, assemble_report, build_report, report_parts
from .config import Client, Config, Probe
from .errors import InputError, StoreError

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

    if client is not None and client not in config.clients:
        raise InputError(f"--client: no client {client!r} in the configuration")
    probes = [p for p in config.probes.values() if client is None or p.client == client]
    clients = [c for c in config.clients.values() if client is None or c.id == client]
    n = worker_count(len(probes)) if workers is None else workers
    parts_of = shares(probes, clients, n)
    if len(parts_of) <= 1:
        with Store(db, readonly=True) as store:
            return build_report(config, store, start, end, now, client=client, partial=partial,
                                first_seen=first_seen, seen_since=seen_since)

    def compute(share: tuple[list[Probe], list[Client]]) -> ReportParts:
        with Store(db, readonly=True) as store:
            return report_parts(config, store, share[0], share[1], start, end, now)

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
        parts = [compute(parts_of[0])]
        parts += [_received(src.read(), pid) for pid, src in children]
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
    return assemble_report(config, parts, probes, clients, start, end, now, partial=partial,
                           first_seen=first_seen, seen_since=seen_since)


def _received(data: bytes, pid: int) -> ReportParts:
    """A worker's parts, or its error raised here."""
    if not data:
        raise StoreError(f"report worker {pid} ended without a result")
    got = pickle.loads(data)  # our own child, through our own pipe
    if got[0] == "ok":
        return got[1]  # type: ignore[no-any-return]
    if got[0] == "bug":
        raise RuntimeError(f"report worker {pid} failed:\n{got[1]}")
    raise (InputError if got[1] == "InputError" else StoreError)(got[2])
