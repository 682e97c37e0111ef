"""The alert_queue table: alerts stored before they are sent, so none is lost or sent twice.

An alert is one event for one route. It is written here first (INSERT OR
IGNORE on the unique (event_key, route)), then delivered, then marked sent;
a failed attempt records its error and the time of the next try. So a
receiver that is down, or an agent restarted mid-delivery, only delays an
alert, and an event seen again (after a restart, say) is never queued again.

Use an AlertQueue from one thread only: it owns a sqlite-utils connection
(AlertManager gives it a single-thread executor).

Usage::

    q = AlertQueue(db_path)
    q.add([("down:web:1700000000000", "ops-hook", '{"event": "down", ...}', now_ms)])
    for row in q.due(now_ms, limit=20):
        ...deliver...; q.sent(row.id, now_ms)  # or q.failed(row.id, error, retry_ms)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError
from .store import ProbeState, Store


@dataclass(frozen=True)
class QueuedAlert:
    id: int
    event_key: str
    route: str
    payload: str  # the event as JSON (the "json" format)
    created_ms: int
    attempts: int


class AlertQueue:
    def __init__(self, path: Path):
        self.store = Store(path)  # applies migrations: the table exists from here on
        self.conn = self.store.conn

    def close(self) -> None:
        self.store.close()

    def _write(self, sql: str, args: Iterable[object] | list[tuple]) -> int:
        try:
            with self.conn:
                before = self.conn.total_changes
                if isinstance(args, list):
                    self.conn.executemany(sql, args)
                else:
                    self.conn.execute(sql, tuple(args))
                return self.conn.total_changes - before
        except sqlite3.Error as e:
            raise StoreError(f"{self.store.path}: alert queue: {e}") from e

    def add(self, rows: list[tuple[str, str, str, int]]) -> int:
        """Queue (event_key, route, payload, created_ms) rows; returns how many were new."""
        return self._write(
            "INSERT OR IGNORE INTO alert_queue (event_key, route, payload, created_ms,"
            " next_try_ms) VALUES (?, ?, ?, ?, ?)", [(*r, r[3]) for r in rows])

    def due(self, now_ms: int, limit: int, busy: Collection[int] = ()) -> list[QueuedAlert]:
        """Unsent alerts whose next try has come, oldest first, except ids in `busy`."""
        rows = self.conn.execute(
            "SELECT id, event_key, route, payload, created_ms, attempts FROM alert_queue"
            " WHERE sent_ms IS NULL AND next_try_ms IS NOT NULL AND next_try_ms <= ?"
            " ORDER BY next_try_ms, id LIMIT ?", (now_ms, limit + len(busy))).fetchall()
        return [QueuedAlert(*r) for r in rows if r[0] not in busy][:limit]

    def next_due_ms(self) -> int | None:
        row = self.conn.execute("SELECT min(next_try_ms) FROM alert_queue"
                                " WHERE sent_ms IS NULL").fetchone()
        return row[0] if row else None

    def sent(self, alert_id: int, now_ms: int) -> None:
        self._write("UPDATE alert_queue SET sent_ms = ?, attempts = attempts + 1,"
                    " next_try_ms = NULL WHERE id = ?", (now_ms, alert_id))

    def failed(self, alert_id: int, error: str, next_try_ms: int | None) -> None:
        """Record a failed attempt; next_try_ms None gives the alert up."""
        self._write("UPDATE alert_queue SET attempts = attempts + 1, last_error = ?,"
                    " next_try_ms = ? WHERE id = ?", (error[:500], next_try_ms, alert_id))

    def has(self, event_key: str) -> bool:
        """Whether an alert for this event was queued (for any route)."""
        return self.conn.execute("SELECT 1 FROM alert_queue WHERE event_key = ? LIMIT 1",
                                 (event_key,)).fetchone() is not None

    def latest_created_ms(self, key_prefix: str) -> int | None:
        """created_ms of the newest alert whose event key starts with `key_prefix`."""
        pattern = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        row = self.conn.execute(
            "SELECT max(created_ms) FROM alert_queue WHERE event_key LIKE ? ESCAPE '\\'",
            (pattern,)).fetchone()
        return row[0] if row else None

    def states(self) -> dict[str, ProbeState]:
        """The stored state of each probe (where a restarted agent takes up its runs)."""
        return self.store.states()

    def prune(self, before_ms: int) -> int:
        """Forget alerts created before `before_ms` that are sent or given up."""
        return self._write("DELETE FROM alert_queue WHERE created_ms < ? AND"
                           " (sent_ms IS NOT NULL OR next_try_ms IS NULL)", (before_ms,))
