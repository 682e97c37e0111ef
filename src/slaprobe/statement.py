"""Frozen monthly statements: a month's report made once, stored with its hashes, verified later.

`slaprobe statement --period 2026-10` builds the month's report (SPEC 5, 6),
stores it in the `statements` table with the time it was made, the SHA-256
of its canonical JSON and a digest of the inputs it was computed from, and
prints the hash. `slaprobe statement verify --period 2026-10` computes the
month again and names every figure that moved since (late imports, a window
added afterwards, changed SLA terms): the statement is what was agreed; the
verification says whether the data still agrees with it.

- **sha256** = SHA-256 of ``json.dumps(report, sort_keys=True,
  separators=(",", ":"), ensure_ascii=False)`` (UTF-8) of the report dict
  without `generated_at` (and without the `statement` block added for
  rendering). Anyone holding the JSON can recompute it.
- **inputs_digest** = SHA-256 of the canonical JSON of the per-part digests
  kept in `inputs_json`:
  ``checks``: per reported probe, SHA-256 over its segments (agent, result,
  first and last check time clipped to the range read, interval) and its
  failed checks (time, agent, error) in the range the report reads
  (``[start - min_downtime - 2 x interval, end)``). Segments and failed
  checks survive retention, so pruning raw checks leaves it unchanged; a late
  import changes it whenever it changes a run of results or adds a failure.
  ``windows``: the windows covering a reported probe with time in the
  period (definition fingerprint, reason, ticket, their intervals).
  ``terms``: the SLAs, clients and probe settings the figures depend on
  (objective, hours, zones, min_downtime, credits, latency objective,
  confirm, interval, quorum).
- Retention: latency figures (percentiles, latency objective, Apdex) of a
  month whose raw checks were pruned come from day and month digests afterwards;
  when nothing but those moved and the checks digests are unchanged, verify
  says so and counts the statement as unchanged.

Usage: ``made = make_statement(store, "2026-10", None, report, inputs, now)``
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .availability import Report
from .config import Config
from .errors import StoreError
from .exclusions import window_fingerprint
from .maintenance import covers, window_intervals
from .statement_diff import Change, changes, describe

__all__ = ["Statement", "Verification", "canonical_json", "compute_statement", "inputs_of",
           "make_statement", "newest_statement", "report_sha256", "verification_lines",
           "verify_statement"]


@dataclass(frozen=True)
class Statement:
    id: int
    period: str  # "2026-10"
    client: str | None  # None: every client
    created_at: float
    report: dict[str, Any]  # report_to_dict, with generated_at
    sha256: str
    inputs_digest: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def header(self, timezone: str = "UTC") -> dict[str, Any]:
        """The `statement` block added to a report dict for rendering (not hashed)."""
        made = datetime.fromtimestamp(self.created_at, ZoneInfo(timezone)).isoformat()
        return {"id": self.id, "period": self.period, "client": self.client,
                "created_at": made, "sha256": self.sha256, "inputs_digest": self.inputs_digest}


@dataclass(frozen=True)
class Verification:
    statement: Statement
    sha256_now: str
    inputs_now: dict[str, Any]
    changes: tuple[Change, ...]  # figures that moved
    inputs_changed: tuple[str, ...]  # which inputs differ, in words

    @property
    def unchanged(self) -> bool:
        """Same hash, or only latency figures moved on unchanged checks (pruned months)."""
        if self.sha256_now == self.statement.sha256:
            return True
        if not self.changes:  # the hash moved outside the figures compared: say so, as moved
            return False
        checks_same = self.inputs_now.get("checks") == self.statement.inputs.get("checks")
        return checks_same and all(c.latency_only for c in self.changes)

    def moved(self) -> list[str]:
        found = describe(self.changes)
        return found or ["the report differs outside its figures (period, zone or layout)"]


def canonical_json(data: Any) -> str:
    """The one text a report hashes as: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def report_sha256(report: Mapping[str, Any]) -> str:
    """SHA-256 of the report's canonical JSON without `generated_at` (or a `statement` block)."""
    return _sha(canonical_json({k: v for k, v in report.items()
                                if k not in ("generated_at", "statement")}))


class _Reads(Protocol):
    """The store reads the inputs digest needs (store.Store)."""

    def spans(self, probe: str, start: float | None = None,
              end: float | None = None) -> Sequence[Any]: ...

    def failed_checks(self, probe: str, start: float, end: float) -> Sequence[Any]: ...


def inputs_of(config: Config, store: _Reads, report: Report) -> dict[str, Any]:
    """Per-part digests of what the report was computed from (see the module docstring)."""
    start, end = report.start, report.end
    ids = [f.id for f in report.probes]
    probes = [config.probes[i] for i in ids if i in config.probes]
    checks: dict[str, str] = {}
    for p in probes:
        sla = config.sla_for_probe(p)
        lo = start - (sla.min_downtime if sla else 0.0) - 2.0 * p.interval
        lo_ms, end_ms = round(lo * 1000), round(end * 1000)
        rows: list[Any] = [
            ["s", s.agent, s.ok, max(round(s.first * 1000), lo_ms),
             min(round(s.last * 1000), end_ms), round(s.interval_s * 1000)]
            for s in store.spans(p.id, lo, end)
        ]
        rows += [["f", c.agent, round(c.ts * 1000), c.error]
                 for c in store.failed_checks(p.id, lo, end)]
        checks[p.id] = _sha(canonical_json(rows))
    windows = []
    for w in config.maintenance:
        if not any(covers(w, p) for p in probes):
            continue
        iv = window_intervals(w, start, end)
        if iv:
            windows.append([w.id, window_fingerprint(w), w.reason, w.ticket,
                            [[round(s * 1000), round(e * 1000)] for s, e in iv]])
    clients = {c.id for c in report.clients} | {p.client for p in probes if p.client}
    terms = {
        "agent": {"timezone": config.agent.timezone, "quorum": config.agent.quorum},
        "probes": {p.id: {"client": p.client, "confirm": p.confirm, "interval": p.interval}
                   for p in probes},
        "clients": {c: {"name": config.clients[c].name, "sla": config.clients[c].sla}
                    for c in sorted(clients) if c in config.clients},
        "slas": {s.id: {"objective": s.objective, "hours": s.hours, "timezone": s.timezone,
                        "min_downtime": s.min_downtime,
                        "credits": [[t.below, t.percent] for t in s.credits],
                        "latency": None if s.latency is None
                        else [s.latency.threshold, s.latency.objective]}
                 for s in config.slas.values()
                 if any(config.clients[c].sla == s.id for c in clients if c in config.clients)},
    }
    return {"checks": checks, "windows": _sha(canonical_json(windows)),
            "terms": _sha(canonical_json(terms))}


def compute_statement(config: Config, store: Any, period: str, client: str | None,
                      now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report dict of the month `period` and the digests of its inputs, from `store`.

    The month is read in the agent's zone and never partial: callers refuse
    a month that has not ended.
    """
    from .availability import build_report, report_to_dict
    from .periods import month_period
    from .windows_seen import seen

    start, end = month_period(period, config.agent.timezone)
    first, since = seen(store.conn, config.maintenance)
    report = build_report(config, store, start, end, now, client=client, partial=False,
                          first_seen=first, seen_since=since)
    return report_to_dict(report), inputs_of(config, store, report)


def verification_lines(v: Verification, timezone: str = "UTC") -> list[str]:
    """What `statement verify` prints: which statement, whether it holds, what moved."""
    st = v.statement
    who = f"client {st.client}" if st.client else "all clients"
    made = datetime.fromtimestamp(st.created_at, ZoneInfo(timezone)).isoformat(
        sep=" ", timespec="seconds")
    lines = [f"statement #{st.id} of {st.period} ({who}), made {made}"]
    if v.inputs_changed:
        lines.append("inputs changed since: " + "; ".join(v.inputs_changed))
    if v.sha256_now == st.sha256:
        lines.append("unchanged: every figure is as stated")
    elif v.unchanged:
        lines.append("unchanged: only latency figures moved, within the precision of the hourly "
                     "histograms that replaced pruned raw checks:")
        lines += [f"  {line}" for line in v.moved()]
    else:
        lines.append("figures moved:")
        lines += [f"  {line}" for line in v.moved()]
        lines.append(f"sha256 stated: {st.sha256}")
    lines.append(f"sha256: {v.sha256_now}")
    return lines


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    return _sha(canonical_json(inputs))


def make_statement(conn: sqlite3.Connection, period: str, client: str | None,
                   report: dict[str, Any], inputs: dict[str, Any], now: float) -> Statement:
    """Store a new statement of `period` (and `client`) and return it."""
    sha, digest = report_sha256(report), inputs_digest(inputs)
    try:
        with conn:
            cur = conn.execute(
                "INSERT INTO statements (period, client, created_at, report_json, sha256,"
                " inputs_digest, inputs_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (period, client, int(now * 1000), json.dumps(report, ensure_ascii=False),
                 sha, digest, canonical_json(inputs)))
    except sqlite3.Error as e:
        raise StoreError(f"cannot store the statement: {e}") from e
    return Statement(int(cur.lastrowid or 0), period, client, int(now * 1000) / 1000, report,
                     sha, digest, inputs)


def newest_statement(conn: sqlite3.Connection, period: str,
                     client: str | None) -> Statement | None:
    """The last statement made of `period` for `client` (None: for every client)."""
    row = conn.execute(
        "SELECT id, period, client, created_at, report_json, sha256, inputs_digest, inputs_json"
        " FROM statements WHERE period = ? AND client IS ? ORDER BY id DESC LIMIT 1",
        (period, client)).fetchone()
    if row is None:
        return None
    return Statement(row[0], row[1], row[2], row[3] / 1000, json.loads(row[4]), row[5], row[6],
                     json.loads(row[7] or "{}"))


def verify_statement(stored: Statement, report: dict[str, Any],
                     inputs: dict[str, Any]) -> Verification:
    """Compare a statement with its month computed again from the data now."""
    return Verification(stored, report_sha256(report), inputs,
                        tuple(changes(stored.report, report)),
                        tuple(changed_inputs(stored.inputs, inputs)))


def changed_inputs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Which inputs differ, in words: checks of which probes, windows, terms."""
    out: list[str] = []
    oc, nc = old.get("checks") or {}, new.get("checks") or {}
    moved = [p for p in nc if p in oc and oc[p] != nc[p]]
    if moved:
        out.append("checks of " + ", ".join(moved) + " (late imports or rewritten history)")
    gone, added = [p for p in oc if p not in nc], [p for p in nc if p not in oc]
    if added or gone:
        out.append("probes reported: " + ", ".join([*(f"+{p}" for p in added),
                                                     *(f"-{p}" for p in gone)]))
    if old.get("windows") != new.get("windows"):
        out.append("maintenance windows (added, removed or changed)")
    if old.get("terms") != new.get("terms"):
        out.append("SLA or probe terms")
    return out
