"""The database misbehaves under the real daemon: locked, full, read-only, deleted.

In every case the daemon keeps probing, says what is wrong (log and
`slaprobe_db_write_errors_total`), and once the file is usable again holds
every check, the ones taken while it was not included.
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from e2e import SwitchableHTTP
from faultkit import (
    Agent,
    by_probe,
    config_text,
    db_checks,
    db_count,
    free_port,
    http_probe,
    integrity,
    metric,
    scrape,
    slaprobe,
    wait_for,
)

INTERVAL = 0.1


def _agent(tmp_path: Path, server: SwitchableHTTP, db: Path, port: int) -> Agent:
    cfg = config_text([http_probe("web", server.url, interval="100ms")], metrics=port)
    return Agent(tmp_path, cfg, db=db)


def _write_errors(port: int) -> float:
    return metric(scrape(port)[1], "slaprobe_db_write_errors_total") or 0.0


def _assert_nothing_lost(db: Path, t0: float, t1: float) -> None:
    """Checks every INTERVAL from t0 to t1 with no hole: nothing was dropped."""
    assert integrity(db) == "ok"
    checks = [c for c in by_probe(db_checks(db))["web"] if t0 <= c.ts <= t1]
    gaps = [b.ts - a.ts for a, b in zip(checks, checks[1:])]
    assert checks and checks[0].ts - t0 < 1 and t1 - checks[-1].ts < 1
    assert max(gaps) <= 2 * INTERVAL + 0.1, max(gaps)
    assert len(checks) >= (t1 - t0) / INTERVAL * 0.8


def _unusable_then_usable(tmp_path: Path, db: Path, break_it, mend_it, *,
                          expect_errors: bool = True) -> str:
    """Run the daemon; break the database for about 2 s, then mend it. Returns the log."""
    port = free_port()
    with SwitchableHTTP() as server, _agent(tmp_path, server, db, port) as agent:
        agent.wait_checks(5)
        t0 = time.time()
        time.sleep(0.5)
        break_it(agent)
        try:
            if expect_errors:
                assert wait_for(lambda: _write_errors(port) > 0, 10), agent.log()
            time.sleep(1.5)
            assert agent.alive()
            # probing goes on: the daemon's own counter keeps climbing
            first = metric(scrape(port)[1], "slaprobe_agent_checks_total")
            time.sleep(0.5)
            assert metric(scrape(port)[1], "slaprobe_agent_checks_total") > first
        finally:
            mend_it(agent)
        assert wait_for(lambda: metric(scrape(port)[1], "slaprobe_write_queue_depth") == 0, 20)
        time.sleep(0.5)
        t1 = time.time()
        assert agent.stop() == 0
    _assert_nothing_lost(db, t0, t1)
    log = agent.log()
    assert "Traceback" not in log
    return log


@pytest.mark.slow
def test_an_exclusive_lock_delays_writes_and_loses_nothing(tmp_path):
    db = tmp_path / "t.db"
    blocker: list[sqlite3.Connection] = []

    def lock(agent):
        conn = sqlite3.connect(db, timeout=10, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        blocker.append(conn)

    def unlock(agent):
        blocker[0].execute("COMMIT")
        blocker[0].close()

    # The writer waits out a lock (busy timeout 30 s) instead of failing: no errors.
    _unusable_then_usable(tmp_path, db, lock, unlock, expect_errors=False)


@pytest.mark.slow
def test_a_long_reader_does_not_stop_writes(tmp_path):
    db = tmp_path / "t.db"
    port = free_port()
    with SwitchableHTTP() as server, _agent(tmp_path, server, db, port) as agent:
        agent.wait_checks(5)
        reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        reader.execute("BEGIN")
        held = reader.execute("SELECT count(*) FROM checks").fetchone()[0]
        before = db_count(db)
        assert wait_for(lambda: db_count(db) >= before + 10, 10)  # others see new rows
        assert reader.execute("SELECT count(*) FROM checks").fetchone()[0] == held
        reader.execute("COMMIT")
        reader.close()
        assert agent.stop() == 0


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.slow
def test_a_full_disk_is_survived_and_everything_written_once_space_is_freed(tmp_path):
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "8m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers it")
    filler = small / "filler"
    try:
        def fill(agent):
            # unbuffered: a short last write must not leave bytes for close() to flush
            with open(filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass

        def free(agent):
            filler.unlink()

        log = _unusable_then_usable(tmp_path, small / "t.db", fill, free)
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)
    assert "database write failed" in log and "full" in log
    assert "database writable again" in log


@pytest.mark.slow
def test_a_file_size_limit_is_survived_like_a_full_disk(tmp_path):
    """RLIMIT_FSIZE lowered on the running daemon: writes past it fail with EFBIG
    (Python ignores SIGXFSZ), and raising it again lets the buffered checks through.
    The same fault as a full disk, without needing root to mount a small tmpfs."""
    db = tmp_path / "t.db"

    def limit(agent: Agent) -> None:
        status = Path(f"/proc/{agent.pid}/status").read_text()
        ignored = int(status.split("SigIgn:")[1].split()[0], 16)
        assert ignored & (1 << (25 - 1)), "SIGXFSZ must be ignored, or a big write kills us"
        biggest = max(p.stat().st_size for p in tmp_path.glob("t.db*"))
        resource.prlimit(agent.pid, resource.RLIMIT_FSIZE, (biggest, resource.RLIM_INFINITY))

    def unlimit(agent: Agent) -> None:
        resource.prlimit(agent.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    log = _unusable_then_usable(tmp_path, db, limit, unlimit)
    assert "database write failed" in log and "database writable again" in log


def _chattr(flag: str, *paths: Path) -> bool:
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    return done.returncode == 0


@pytest.mark.slow
def test_a_read_only_database_file_is_survived(tmp_path):
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root (chmod does not stop root or an open file)")
    probe = tmp_path / "probe-attr"
    probe.write_text("x")
    if not _chattr("+i", probe):
        pytest.skip("the file system does not support the immutable attribute")
    _chattr("-i", probe)
    db = tmp_path / "t.db"
    files = [db, Path(f"{db}-wal")]
    try:
        log = _unusable_then_usable(tmp_path, db, lambda a: _chattr("+i", *files),
                                    lambda a: _chattr("-i", *files))
    finally:
        _chattr("-i", *files)
    assert "database write failed" in log and "database writable again" in log


@pytest.mark.slow
def test_a_database_deleted_under_the_daemon_is_restored_with_everything(tmp_path):
    db = tmp_path / "t.db"
    port = free_port()
    with SwitchableHTTP() as server, _agent(tmp_path, server, db, port) as agent:
        agent.wait_checks(5)
        t0 = time.time()
        time.sleep(1)
        stored_before = db_count(db)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink()
        assert wait_for(lambda: db.exists() and db_count(db) > stored_before, 10), agent.log()
        time.sleep(1)
        # the CLI reads the restored file while the daemon writes it
        out = slaprobe("status", "--json", "--config", str(agent.config), "--db", str(db))
        assert out.returncode == 0, out.stderr
        t1 = time.time()
        assert agent.stop() == 0
    log = agent.log()
    assert "deleted" in log and "Traceback" not in log
    _assert_nothing_lost(db, t0, t1)


@pytest.mark.slow
def test_a_database_renamed_under_the_daemon_keeps_both_copies_whole(tmp_path):
    db, moved = tmp_path / "t.db", tmp_path / "moved.db"
    port = free_port()
    with SwitchableHTTP() as server, _agent(tmp_path, server, db, port) as agent:
        agent.wait_checks(5)
        t0 = time.time()
        time.sleep(1)
        renamed_at = time.time()
        db.rename(moved)
        assert wait_for(db.exists, 10), agent.log()
        time.sleep(1)
        t1 = time.time()
        assert agent.stop() == 0
    assert integrity(moved) == "ok"
    _assert_nothing_lost(moved, t0, renamed_at - 0.5)  # the renamed file is whole
    _assert_nothing_lost(db, t0, t1)  # and the agent's file has it all, and more


# --- the writer thread on its own (in process, fast) ----------------------------------


def _writer_checks(start: float, n: int):
    from slaprobe.checks import Check

    return [Check("web", start + i, True, 1.0, None, 1.0, "a1") for i in range(n)]


def _stored(path: Path) -> int:
    from slaprobe.store import Store

    with Store(path, readonly=True) as s:
        return s.count_checks()


def test_a_replaced_database_is_used_and_the_old_checks_are_saved_beside_it(tmp_path):
    from slaprobe.store import Store
    from slaprobe.writer import Writer

    db = tmp_path / "w.db"
    w = Writer(db, flush_every=0.05, file_check_every=0.1)
    w.start("a1")
    try:
        for c in _writer_checks(1000, 20):
            w.put(c)
        assert wait_for(lambda: _stored(db) == 20, 5)
        other = tmp_path / "other.db"
        Store(other).close()
        os.replace(other, db)  # e.g. an operator restores a backup over it
        assert wait_for(lambda: w.stats.rescues == 1, 5)
        for c in _writer_checks(2000, 5):
            w.put(c)
    finally:
        w.close()
    [saved] = tmp_path.glob("w.db.rescued-*")
    assert _stored(saved) == 20 and integrity(saved) == "ok"
    assert _stored(db) == 5 and integrity(db) == "ok"


def test_a_deleted_database_whose_wal_a_reader_still_holds_is_restored_clean(tmp_path):
    from slaprobe.writer import Writer

    db = tmp_path / "w.db"
    w = Writer(db, flush_every=0.05, file_check_every=0.1)
    w.start("a1")
    reader = None
    try:
        for c in _writer_checks(1000, 50):
            w.put(c)
        assert wait_for(lambda: _stored(db) == 50, 5)
        reader = sqlite3.connect(db)  # keeps the old -wal and -shm alive
        reader.execute("SELECT count(*) FROM checks").fetchone()
        db.unlink()
        assert wait_for(lambda: w.stats.rescues == 1, 5)
        for c in _writer_checks(2000, 5):
            w.put(c)
    finally:
        w.close()
        if reader is not None:
            reader.close()
    assert integrity(db) == "ok" and _stored(db) == 55


def test_checks_written_in_one_batch_each_count_towards_confirm(tmp_path):
    """A database outage hands the store hundreds of checks at once; `slaprobe status`
    must still see every consecutive failure, and since when the probe has failed."""
    from slaprobe.checks import Check
    from slaprobe.store import Store

    with Store(tmp_path / "s.db") as s:
        s.insert_checks([Check("web", 1000.0, True, 1.0, None, 1.0, "a")], live=True)
        s.insert_checks([Check("web", 1001.0 + i, False, None, "refused: x", 1.0, "a")
                         for i in range(5)], live=True)
        st = s.states()["web"]
        assert (st.ok, st.fails, st.since, st.last_ts) == (False, 5, 1001.0, 1005.0)
        # an import of the same checks again changes nothing
        s.insert_checks([Check("web", 1001.0 + i, False, None, "refused: x", 1.0, "a")
                         for i in range(5)])
        assert s.states()["web"] == st


def test_after_the_clock_steps_back_status_follows_the_newest_check_taken(tmp_path):
    from slaprobe.checks import Check
    from slaprobe.store import Store

    with Store(tmp_path / "s.db") as s:
        s.insert_checks([Check("web", 5000.0, True, 1.0, None, 1.0, "a")], live=True)
        s.insert_checks([Check("web", 2000.0, False, None, "refused: x", 1.0, "a")], live=True)
        st = s.states()["web"]
        assert (st.ok, st.last_ts, st.fails) == (False, 2000.0, 1)
        s.insert_checks([Check("web", 1000.0, True, 1.0, None, 1.0, "b")])  # an old import
        assert s.states()["web"] == st
