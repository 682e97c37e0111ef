"""The writer thread: batches, flushes on close, survives an unwritable database."""

from __future__ import annotations

import os
import time

from slaprobe.checks import Check
from slaprobe.store import Store
from slaprobe.writer import Writer


def _checks(n: int, start: float = 1000.0) -> list[Check]:
    return [Check("web", start + i, True, 1.0, None, 1.0, "a1") for i in range(n)]


def test_close_writes_everything_queued(tmp_path):
    w = Writer(tmp_path / "w.db", flush_every=60.0)
    w.start("a1")
    for c in _checks(5000):
        w.put(c)
    w.close()
    with Store(tmp_path / "w.db") as s:
        assert s.count_checks() == 5000
        run = s.conn.execute("SELECT agent, stopped_ms FROM agent_runs").fetchone()
        assert run[0] == "a1" and run[1] is not None


def test_checks_reach_disk_within_the_flush_interval(tmp_path):
    w = Writer(tmp_path / "w.db", flush_every=0.1)
    w.start()
    for c in _checks(10):
        w.put(c)
    deadline = time.monotonic() + 5
    seen = 0
    while time.monotonic() < deadline and seen < 10:
        time.sleep(0.05)
        with Store(tmp_path / "w.db", readonly=True) as r:
            seen = r.count_checks()
    w.close()
    assert seen == 10


def test_a_locked_database_buffers_then_writes_when_free(tmp_path, monkeypatch):
    import sqlite3

    import slaprobe.store as store_mod

    # A locked file normally waits busy_timeout (30 s); shorten it for this test only.
    orig = store_mod._connect

    def impatient(path, readonly):
        conn = orig(path, readonly)
        conn.execute("PRAGMA busy_timeout = 200")
        return conn

    monkeypatch.setattr(store_mod, "_connect", impatient)
    w = Writer(tmp_path / "w.db", flush_every=0.05)
    w.start()
    blocker = sqlite3.connect(tmp_path / "w.db", timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # a long reader/writer holds the file
    try:
        for c in _checks(3):
            w.put(c)
        deadline = time.monotonic() + 5
        while w.stats.write_errors == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.stats.write_errors >= 1 and w.stats.buffered == 3
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    w.close()
    with Store(tmp_path / "w.db") as s:
        assert s.count_checks() == 3


def test_an_unopenable_database_fails_at_start(tmp_path):
    import pytest

    from slaprobe.errors import StoreError

    d = tmp_path / "dir.db"
    os.mkdir(d)
    w = Writer(d)
    with pytest.raises(StoreError):
        w.start()
