"""The agent's SQLite file as the outbox of [central]: which checks PostgreSQL still lacks.

`ship_queue` (store migration m004) holds the key of every check stored while
shipping is on; a trigger fills it inside the writer's own transaction, so a
check is queued exactly when it is stored and never twice. The shipper reads
the oldest keys with their checks, copies them to PostgreSQL, then deletes
those keys; a crash in between ships them again, which the centre ignores
(its key is the same). Cheap by design: the queue is small when the centre
keeps up, and its key starts with the time, so the backlog's age is one
lookup.

1. `enable(store, target, since)`: shipping on towards `target` (the central
   database's instance id). The first time, or when the target changed, every
   stored check since `since` is queued in the same transaction that turns the
   trigger on, so no check falls between the two.
2. `next_batch`, `mark_shipped`, `backlog`: the shipper's reads and writes.
3. `disable(store)`: shipping off (the agent runs without [central]): the
   trigger stops and the queue is emptied, so it cannot grow for ever.

Every function takes a Store opened in the calling thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .errors import StoreError
from .store import Store

Key = tuple[int, int, int]  # (ts_ms, probe_id, agent_id), the queue's primary key


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One queued check as PostgreSQL receives it."""

    key: Key
    probe: str
    agent: str
    ts_ms: int
    ok: bool
    latency_ms: float | None
    error: str | None
    interval_ms: int
    cert_days: float | None


def _fail(store: Store, what: str, e: sqlite3.Error) -> StoreError:
    return StoreError(f"{store.path}: {what}: {e}")


def enable(store: Store, target: str, since_ms: int) -> int:
    """Ship towards `target` from now on; returns how many stored checks were queued."""
    try:
        with store.conn:
            store.conn.execute("BEGIN IMMEDIATE")
            row = store.conn.execute("SELECT value FROM meta WHERE key = 'ship'").fetchone()
            if row is not None and row[0] == target:
                return 0
            store.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('ship', ?)",
                               (target,))
            before = store.conn.total_changes
            store.conn.execute(
                "INSERT OR IGNORE INTO ship_queue (ts_ms, probe_id, agent_id)"
                " SELECT ts_ms, probe_id, agent_id FROM checks WHERE ts_ms >= ?", (since_ms,))
            return store.conn.total_changes - before
    except sqlite3.Error as e:
        raise _fail(store, "cannot turn shipping on", e) from e


def disable(store: Store) -> int:
    """Stop queueing checks and forget the queue; returns how many keys were dropped."""
    try:
        with store.conn:
            store.conn.execute("DELETE FROM meta WHERE key = 'ship'")
            return store.conn.execute("DELETE FROM ship_queue").rowcount
    except sqlite3.Error as e:
        raise _fail(store, "cannot turn shipping off", e) from e


def shipping_target(store: Store) -> str | None:
    row = store.conn.execute("SELECT value FROM meta WHERE key = 'ship'").fetchone()
    return None if row is None else str(row[0])


def next_batch(store: Store, limit: int, horizon_ms: int) -> tuple[list[Outgoing], list[Key]]:
    """The oldest queued checks, and keys to drop unsent: checks pruned meanwhile, or
    older than `horizon_ms` (the centre keeps nothing that old)."""
    try:
        rows = store.conn.execute(
            "SELECT q.ts_ms, q.probe_id, q.agent_id, p.name, a.name, c.ok, c.latency_ms,"
            " c.error, c.interval_ms, c.cert_days FROM ship_queue q"
            " LEFT JOIN checks c ON c.probe_id = q.probe_id AND c.ts_ms = q.ts_ms"
            "  AND c.agent_id = q.agent_id"
            " LEFT JOIN probes p ON p.id = q.probe_id LEFT JOIN agents a ON a.id = q.agent_id"
            " ORDER BY q.ts_ms, q.probe_id, q.agent_id LIMIT ?", (limit,)).fetchall()
    except sqlite3.Error as e:
        raise _fail(store, "cannot read the outbox", e) from e
    out: list[Outgoing] = []
    gone: list[Key] = []
    for ts_ms, pid, aid, probe, agent, ok, latency, error, interval_ms, cert in rows:
        key = (ts_ms, pid, aid)
        if ok is None or probe is None or agent is None or ts_ms < horizon_ms:
            gone.append(key)
            continue
        out.append(Outgoing(key, probe, agent, ts_ms, bool(ok), latency, error, interval_ms,
                            cert))
    return out, gone


def mark_shipped(store: Store, keys: list[Key]) -> None:
    try:
        with store.conn:
            store.conn.executemany(
                "DELETE FROM ship_queue WHERE ts_ms = ? AND probe_id = ? AND agent_id = ?", keys)
    except sqlite3.Error as e:
        raise _fail(store, "cannot mark checks shipped", e) from e


def backlog(store: Store) -> tuple[int, float | None]:
    """(checks waiting, epoch seconds of the oldest or None)."""
    try:
        n, oldest = store.conn.execute("SELECT count(*), min(ts_ms) FROM ship_queue").fetchone()
    except sqlite3.Error as e:
        raise _fail(store, "cannot read the outbox", e) from e
    return int(n), None if oldest is None else oldest / 1000


def summary(store: Store, now: float) -> dict[str, float | int | str] | None:
    """What `status` shows of the outbox: None while shipping is off (or in a database
    from before shipping existed, opened read-only)."""
    try:
        target = shipping_target(store)
        if target is None:
            return None
        n, oldest = backlog(store)
    except (sqlite3.Error, StoreError):
        return None
    return {"backlog_checks": n,
            "backlog_age_seconds": 0.0 if oldest is None else max(0.0, now - oldest)}
