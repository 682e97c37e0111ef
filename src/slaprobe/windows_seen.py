"""When slaprobe first saw each maintenance window: the record behind "retroactive".

A window added to probes.toml after its own start takes time out of the SLA
after the fact. slaprobe cannot know when an operator typed it, only when it
first loaded a configuration holding it; so every command that loads the
configuration for the record (`run` and each SIGHUP reload, `check`,
`report`, `incidents`, `statement`) calls `note_windows`, which stores
``(window id, fingerprint) -> first seen`` once (see `exclusions` for the
fingerprint and the rule). The first recording into a database also stores
when recording began (meta ``windows_seen_since_ms``): windows already
configured then have an unknown history.

Recording never fails a command: a database that cannot be written (a
reader without write access) leaves the record as it was, and reports then
mark the windows it lacks as unknown.

Usage: ``note_windows(config, db_path, time.time()); seen(store.conn, config.maintenance)``
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .config import Config, Maintenance
from .errors import StoreError
from .exclusions import window_fingerprint

log = logging.getLogger("slaprobe")

SINCE_KEY = "windows_seen_since_ms"
BUSY_MS = 2000  # how long a note waits for a writer's lock before giving up


def record(conn: sqlite3.Connection, windows: Iterable[Maintenance], now: float) -> None:
    """Store each window's first sighting (kept if already there), in one transaction.

    Raises StoreError when the database cannot be written.
    """
    now_ms = int(now * 1000)
    try:
        with conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                         (SINCE_KEY, str(now_ms)))
            conn.executemany(
                "INSERT OR IGNORE INTO windows_seen (window_id, fingerprint, first_seen_ms)"
                " VALUES (?, ?, ?)", [(w.id, window_fingerprint(w), now_ms) for w in windows])
    except sqlite3.Error as e:
        raise StoreError(f"cannot record the maintenance windows: {e}") from e


def note_windows(config: Config, db_path: Path, now: float, *, create: bool = False) -> bool:
    """Record the configuration's windows in the database at `db_path`; True when stored.

    Without `create`, a database that does not exist yet is left alone (`check`
    on a machine where the agent never ran creates nothing).
    """
    from .store import Store

    if not create and not Path(db_path).exists():
        return False
    try:
        with Store(db_path) as store:
            store.conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")  # best effort: never stall
            record(store.conn, config.maintenance, now)
        return True
    except (StoreError, sqlite3.Error, OSError) as e:
        log.debug("maintenance windows not recorded in %s: %s", db_path, e)
        return False


def seen(conn: sqlite3.Connection, windows: Iterable[Maintenance],
         ) -> tuple[dict[str, float], float | None]:
    """(window id -> first seen as it is configured now, when recording began), epoch seconds.

    Empty for a database that has never recorded windows.
    """
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (SINCE_KEY,)).fetchone()
        out: dict[str, float] = {}
        for w in windows:
            hit = conn.execute(
                "SELECT first_seen_ms FROM windows_seen WHERE window_id = ? AND fingerprint = ?",
                (w.id, window_fingerprint(w))).fetchone()
            if hit is not None:
                out[w.id] = hit[0] / 1000
    except sqlite3.OperationalError:  # an older database, opened read-only: no table yet
        return {}, None
    return out, (int(row[0]) / 1000 if row else None)


def read_seen(db_path: Path, windows: Iterable[Maintenance],
              ) -> tuple[dict[str, float], float | None]:
    """`seen` from the database file at `db_path`, opened read-only; empty when there is none."""
    if not Path(db_path).exists():
        return {}, None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return {}, None
    try:
        return seen(conn, windows)
    except sqlite3.Error:
        return {}, None
    finally:
        conn.close()
