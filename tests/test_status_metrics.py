"""`slaprobe status` and `/metrics` against a real running daemon and its live database."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e import SwitchableHTTP, daemon, slaprobe, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(tmp_path: Path, url: str, port: int) -> Path:
    path = tmp_path / "probes.toml"
    path.write_text(f"""
[agent]
name = "t1"
database = "t.db"
metrics = "127.0.0.1:{port}"

[sla.gold]
objective = 99.9

[clients.acme]
name = "ACME \\u202eCorp"
sla = "gold"

[[probes]]
id = "web"
client = "acme"
kind = "http"
url = "{url}"
interval = "200ms"
timeout = "1s"

[[probes]]
id = "gone"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 9
interval = "200ms"
timeout = "1s"

[[probes]]
id = "never"
kind = "tcp"
host = "127.0.0.1"
port = 9
interval = "1h"
""")
    return path


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_status_json_and_metrics_while_the_daemon_runs(tmp_path):
    port = _free_port()
    with SwitchableHTTP() as server:
        cfg = _config(tmp_path, server.url, port)
        with daemon(cfg):
            def ready() -> bool:
                out = slaprobe("status", "--json", "--config", str(cfg))
                if out.returncode != 0:
                    return False
                states = {p["probe"]: p["state"] for p in json.loads(out.stdout)["probes"]}
                return states.get("web") == "up" and states.get("gone") == "down"
            assert wait_for(ready, timeout=20)
            out = slaprobe("status", "--json", "--config", str(cfg))
            rows = json.loads(out.stdout)["probes"]
            assert [r["probe"] for r in rows][0] == "gone"  # down first
            web = next(r for r in rows if r["probe"] == "web")
            assert web["availability"] == 100.0 and web["latency_ms"] > 0
            assert web["client_name"] == "ACME \u202eCorp"
            gone = next(r for r in rows if r["probe"] == "gone")
            assert gone["error"].startswith("refused")

            status, text = _get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert 'slaprobe_probe_up{probe="web"' in text
            assert 'slaprobe_probe_up{probe="gone"' in text
            up = [ln for ln in text.splitlines() if ln.startswith('slaprobe_probe_up{probe="gone"')]
            assert up and up[0].endswith(" 0")
            assert "slaprobe_scheduler_lateness_seconds" in text
            assert "slaprobe_probe_checks_total" in text
            assert _get(f"http://127.0.0.1:{port}/other")[0] == 404

            table = slaprobe("status", "--config", str(cfg),
                             env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "DOWN" in table.stdout and "UP" in table.stdout and "UNKNOWN" in table.stdout
    assert "\x1b" not in table.stdout and "\u202e" not in table.stdout


def test_status_without_a_database_is_a_clear_error(tmp_path):
    cfg = _config(tmp_path, "http://127.0.0.1:9/", _free_port())
    out = slaprobe("status", "--config", str(cfg))
    assert out.returncode == 2 and "no database" in out.stderr and "Traceback" not in out.stderr


def test_status_with_many_probes_uses_the_daemons_cached_figures(tmp_path):
    from slaprobe.config import parse_config
    from slaprobe.status import CACHE_FROM_PROBES, status_rows
    from slaprobe.store import Store

    probes = "".join(f'[[probes]]\nid = "p{i}"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 9\n'
                     for i in range(CACHE_FROM_PROBES))
    config = parse_config('[agent]\nname = "a"\n' + probes, tmp_path / "probes.toml")
    now = 1_795_000_000.0
    from slaprobe.periods import resolve_period

    start, _, _ = resolve_period(None, None, None, "UTC", now)
    with Store(tmp_path / "s.db") as store:
        store.save_period_figures(start, now - 30, {p: (99.5, None, None) for p in config.probes})
        rows = status_rows(config, store, now)
        assert {r.availability for r in rows} == {99.5}  # nothing measured: computed would be None
        rows = status_rows(config, store, now + 3600)  # stale cache: computed afresh
        assert {r.availability for r in rows} == {None}


@pytest.mark.parametrize(("age", "duration", "state"), [
    (50.0, 0.0, "up"),        # within two intervals
    (60.5, 0.0, "up"),        # the writer may lag a little behind
    (62.0, 0.0, "unknown"),   # no check stands for now
    (75.0, 45.0, "up"),       # the next check may still be running (long timeout)
    (77.0, 45.0, "unknown"),
])
def test_a_probe_is_unknown_only_once_no_check_can_still_arrive(age, duration, state):
    from slaprobe.status import probe_state_now
    from slaprobe.store import ProbeState

    st = ProbeState("web", 1000.0, True, 900.0, 0, 1.0, None, 30.0, None)
    assert probe_state_now(st, 1, False, 1000.0 + age, duration)[0] == state
