"""End to end: the real `slaprobe` CLI as a subprocess against real loopback servers and SQLite."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from e2e import SwitchableHTTP, daemon, slaprobe, wait_for

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "probes.toml"
    path.write_text('[agent]\nname = "t1"\ndatabase = "t.db"\ntimezone = "UTC"\n' + body)
    return path


def _http_probe(url: str, interval: str = "200ms", pid: str = "web") -> str:
    return f'\n[[probes]]\nid = "{pid}"\nkind = "http"\nurl = "{url}"\ninterval = "{interval}"\ntimeout = "1s"\n'


def _exported(config: Path, *extra: str) -> list[dict]:
    out = slaprobe("export", "--config", str(config), *extra)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM checks").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_shipped_config_passes_check():
    out = slaprobe("check", "--config", str(ROOT / "probes.toml"))
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_shipped_config_runs_once_and_all_probes_are_up(tmp_path):
    out = slaprobe("run", "--once", "--config", str(ROOT / "probes.toml"), "--db",
                   str(tmp_path / "once.db"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "UP" in out.stdout and "DOWN" not in out.stdout


def test_bad_config_exits_2_naming_file_and_line(tmp_path):
    cfg = _config(tmp_path, '\n[[probes]]\nid = "web"\nkind = "htp"\nurl = "http://x"\n')
    for command in ("check", "run"):
        out = slaprobe(command, "--config", str(cfg))
        assert out.returncode == 2
        assert "probes.toml:8:" in out.stderr and "Traceback" not in out.stderr


def test_run_once_exits_1_when_a_probe_is_down(tmp_path):
    with SwitchableHTTP() as up:
        cfg = _config(tmp_path, _http_probe(up.url) + _http_probe(
            "http://127.0.0.1:9/closed", pid="gone"))
        out = slaprobe("run", "--once", "--config", str(cfg))
    assert out.returncode == 1, out.stderr
    assert "DOWN" in out.stdout and "refused" in out.stdout
    checks = _exported(cfg)
    assert {c["probe"]: c["ok"] for c in checks} == {"web": True, "gone": False}


def test_agent_records_an_outage_and_the_recovery_with_the_right_timing(tmp_path):
    with SwitchableHTTP() as server:
        cfg = _config(tmp_path, _http_probe(server.url))
        with daemon(cfg) as proc:
            assert wait_for(lambda: _count(tmp_path / "t.db") >= 3), proc.stderr
            server.status = 503
            down_from = time.time()
            time.sleep(1.0)
            server.status = 200
            up_from = time.time()
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
    checks = _exported(cfg)
    failed = [c for c in checks if not c["ok"]]
    assert 3 <= len(failed) <= 7  # 1 s of failures at 200 ms
    assert all("status" in c["error"] for c in failed)
    from slaprobe.checks import iso_to_ts

    for c in failed:
        assert down_from - 0.25 <= iso_to_ts(c["ts"]) <= up_from + 0.05
    assert checks[-1]["ok"] is True
    assert all(c["agent"] == "t1" and c["interval_s"] == 0.2 for c in checks)


def test_sigterm_loses_nothing_and_kill_9_loses_at_most_a_second(tmp_path):
    with SwitchableHTTP() as server:
        cfg = _config(tmp_path, _http_probe(server.url, interval="100ms"))
        db = tmp_path / "t.db"
        with daemon(cfg) as proc:
            assert wait_for(lambda: _count(db) >= 10)
            time.sleep(0.5)
            killed_at = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            last_ms = conn.execute("SELECT max(ts_ms) FROM checks").fetchone()[0]
        assert killed_at - last_ms / 1000 <= 1.0 + 0.15  # flushes every 250 ms
        before = _count(db)
        with daemon(cfg) as proc:  # restarts on its own database
            assert wait_for(lambda: _count(db) >= before + 5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
            hits_at_stop = server.hits
        # every check the server answered before SIGTERM is in the database
        assert _count(db) >= hits_at_stop - 10  # hits before the kill that were lost: <= 1 s


def test_sighup_with_a_bad_file_keeps_running_then_a_good_file_applies(tmp_path):
    with SwitchableHTTP() as server:
        cfg = _config(tmp_path, _http_probe(server.url))
        good = cfg.read_text()
        with daemon(cfg) as proc:
            assert wait_for(lambda: _count(tmp_path / "t.db") >= 2)
            cfg.write_text(good + "\n[[probes]]\nid = \"x\"\nkind = \"nope\"\n")
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert proc.poll() is None
            cfg.write_text(good + _http_probe(server.url, pid="web2"))
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: any(c["probe"] == "web2" for c in _exported(cfg)))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
            err = proc.stderr.read()
    assert "reload refused" in err and "nope" in err


def test_export_import_round_trip_is_identical_and_idempotent(tmp_path):
    with SwitchableHTTP() as server:
        cfg = _config(tmp_path, _http_probe(server.url))
        slaprobe("run", "--once", "--config", str(cfg))
        server.status = 500
        slaprobe("run", "--once", "--config", str(cfg))
    first = slaprobe("export", "--config", str(cfg)).stdout
    dump = tmp_path / "dump.jsonl"
    dump.write_text(first)
    other = tmp_path / "other.db"
    assert slaprobe("import", "--config", str(cfg), "--db", str(other), str(dump)).returncode == 0
    assert slaprobe("import", "--config", str(cfg), "--db", str(other), str(dump)).returncode == 0
    again = slaprobe("export", "--config", str(cfg), "--db", str(other)).stdout
    assert again == first and len(first.splitlines()) == 2


def test_import_with_a_bad_line_stores_nothing(tmp_path):
    cfg = _config(tmp_path, _http_probe("http://127.0.0.1:9/"))
    good = '{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true}\n'
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good * 3 + '{"probe": "web", "ts": "2026-11-03T10:01:00Z", "ok": "maybe"}\n')
    out = slaprobe("import", "--config", str(cfg), str(bad))
    assert out.returncode == 2
    assert "bad.jsonl:4:" in out.stderr and "Traceback" not in out.stderr
    assert _count(tmp_path / "t.db") == 0


def test_export_filters_by_probe_and_time(tmp_path):
    cfg = _config(tmp_path, _http_probe("http://127.0.0.1:9/") + _http_probe(
        "http://127.0.0.1:9/", pid="api"))
    lines = "".join(
        f'{{"probe": "{p}", "ts": "2026-11-0{d}T10:00:00Z", "ok": true}}\n'
        for p in ("web", "api") for d in (1, 2, 3)
    )
    src = tmp_path / "in.jsonl"
    src.write_text(lines)
    assert slaprobe("import", "--config", str(cfg), str(src)).returncode == 0
    got = _exported(cfg, "--probe", "web", "--from", "2026-11-02", "--to", "2026-11-03")
    assert [(c["probe"], c["ts"]) for c in got] == [("web", "2026-11-02T10:00:00.000Z")]


@pytest.mark.parametrize("args", [["report", "--period", "2026-13"], ["report", "--from", "x"],
                                  ["report", "--client", "nobody"]])
def test_bad_flags_exit_2_without_traceback(tmp_path, args):
    cfg = _config(tmp_path, _http_probe("http://127.0.0.1:9/"))
    slaprobe("run", "--once", "--config", str(cfg))
    out = slaprobe(*args, "--config", str(cfg))
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.strip()
