"""A report computed by a process per core is the report build_report makes, byte for byte."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slaprobe import report_shards
from slaprobe.availability import build_report, report_to_dict
from slaprobe.checks import Check
from slaprobe.config import parse_config
from slaprobe.errors import InputError, StoreError
from slaprobe.render import render_report
from slaprobe.store import Store

START = 1793491200.0  # 2026-11-01T00:00Z (a Sunday)
END = START + 7 * 86400
NOW = END + 86400

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="sharding needs fork")


def _config_text(db: Path, clients: int, per_client: int, loose: int) -> str:
    """Clients on 24x7 and on office hours (Berlin), a weekly window for everyone, a one-off
    window for one client, and probes without a client."""
    out = [f'''[agent]
name = "a1"
database = "{db}"
timezone = "Europe/Berlin"
interval = "60s"

[sla.gold]
objective = 99.9
credits = [{{ below = 99.9, percent = 10 }}]
latency = {{ threshold = "20ms", objective = 90 }}

[sla.office]
objective = 99.5
hours = "Mon-Fri 08:00-18:00"
timezone = "Europe/Berlin"
min_downtime = "2m"

[[maintenance]]
id = "weekly"
rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=4;BYMINUTE=0"
duration = "30m"

[[maintenance]]
id = "c01-move"
clients = ["c01"]
start = "2026-11-03T10:00:00Z"
end = "2026-11-03T11:45:00Z"
category = "customer"
''']
    for c in range(clients):
        out.append(f'[clients.c{c:02d}]\nname = "Client {c:02d}"\n'
                   f'sla = "{"office" if c % 3 == 2 else "gold"}"\n')
    for c in range(clients):
        for i in range(per_client):
            out.append(f'[[probes]]\nid = "c{c:02d}-p{i}"\nclient = "c{c:02d}"\nkind = "tcp"\n'
                       f'host = "127.0.0.1"\nport = 9\nconfirm = {1 + i % 2}\n')
    for i in range(loose):
        out.append(f'[[probes]]\nid = "loose-{i}"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 9\n')
    return "\n".join(out)


def _fill(db: Path, ids: list[str], seed: int) -> None:
    """Checks every 10 minutes with random outages and latencies, two agents for some."""
    rnd = random.Random(seed)
    checks = []
    for n, pid in enumerate(ids):
        agents = ("a1", "a2") if n % 4 == 0 else ("a1",)
        for agent in agents:
            t, failing = START - 3600 + rnd.random() * 600, False
            while t < END + 600:
                if rnd.random() < 0.03:
                    failing = not failing
                checks.append(Check(pid, round(t, 3), not failing,
                                    None if failing else round(rnd.uniform(1, 40), 3),
                                    "refused: x" if failing else None, 600.0, agent))
                t += 600.0
    with Store(db) as store:
        store.insert_checks(checks)
        store.roll_up(NOW)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    db = d / "slaprobe.db"
    path = d / "probes.toml"
    path.write_text(_config_text(db, clients=9, per_client=5, loose=7))
    config = parse_config(path.read_text(), path)
    _fill(db, list(config.probes), seed=7)
    return config, db, path


def _json(report) -> str:
    return json.dumps(report_to_dict(report), sort_keys=True)


def test_shares_keep_each_client_whole_and_every_probe_once(fleet) -> None:
    config, _, _ = fleet
    probes, clients = list(config.probes.values()), list(config.clients.values())
    got = report_shards.shares(probes, clients, 3)
    assert len(got) == 3
    dealt = [p.id for ps, _ in got for p in ps]
    assert sorted(dealt) == sorted(config.probes)
    for ps, cs in got:
        ids = {p.id for p in ps}
        for c in cs:  # a client's figures need all its probes in the same share
            assert {p.id for p in probes if p.client == c.id} <= ids
    assert sorted(c.id for _, cs in got for c in cs) == sorted(config.clients)


def test_shares_hold_about_equal_numbers_of_probes(fleet) -> None:
    config, _, _ = fleet
    probes, clients = list(config.probes.values()), list(config.clients.values())
    for n in (2, 3):
        got = report_shards.shares(probes, clients, n)
        sizes = [len(ps) for ps, _ in got]
        # 9 clients x 5 probes + 7 loose probes: equal within one client's probes
        assert max(sizes) - min(sizes) <= 5, sizes


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_a_sharded_report_is_the_in_process_report(fleet, workers) -> None:
    config, db, _ = fleet
    with Store(db, readonly=True) as store:
        want = _json(build_report(config, store, START, END, NOW))
    got = _json(report_shards.sharded_report(config, db, START, END, NOW, workers=workers))
    assert got == want
    assert '"windows"' in want and "c01-move" in want  # the window uses came through too


@pytest.mark.parametrize(("workers", "client"), [(1, None), (2, None), (3, None), (2, "c02")])
def test_a_sharded_json_report_is_the_rendered_report_byte_for_byte(fleet, workers,
                                                                     client) -> None:
    config, db, _ = fleet
    with Store(db, readonly=True) as store:
        report = build_report(config, store, START, END, NOW, client=client)
    want = render_report(report_to_dict(report), "json")
    text, missed = report_shards.sharded_report_json(config, db, START, END, NOW,
                                                     client=client, workers=workers)
    assert text == want
    assert missed == any(f.met is False for f in (*report.probes, *report.clients))
    assert '"windows"' in want and len(report.probes) > 1


def test_a_sharded_json_report_says_no_objective_was_missed_when_none_was(fleet) -> None:
    config, db, path = fleet
    with Store(db, readonly=True) as store:  # this fleet misses its objectives ...
        assert any(f.met is False for f in build_report(config, store, START, END, NOW).probes)
    text = path.read_text().replace("objective = 99.9", "objective = 0.1")
    lenient = parse_config(text.replace("objective = 99.5", "objective = 0.1"), path)
    with Store(db, readonly=True) as store:  # ... and meets objectives of 0.1 %
        report = build_report(lenient, store, START, END, NOW)
    assert all(f.met is not False for f in (*report.probes, *report.clients))
    assert report_shards.sharded_report_json(lenient, db, START, END, NOW,
                                             workers=2) == (render_report(
                                                 report_to_dict(report), "json"), False)


def test_a_sharded_report_of_one_client_is_that_clients_report(fleet) -> None:
    config, db, _ = fleet
    with Store(db, readonly=True) as store:
        want = _json(build_report(config, store, START, END, NOW, client="c02"))
    assert _json(report_shards.sharded_report(config, db, START, END, NOW, client="c02",
                                              workers=2)) == want


def test_an_unknown_client_is_an_input_error_before_any_worker(fleet) -> None:
    config, db, _ = fleet
    with pytest.raises(InputError, match="no client 'nope'"):
        report_shards.sharded_report(config, db, START, END, NOW, client="nope", workers=2)


def test_a_missing_database_is_a_store_error_and_no_worker_is_left(fleet, tmp_path) -> None:
    config, _, _ = fleet
    with pytest.raises(StoreError):
        report_shards.sharded_report(config, tmp_path / "none.db", START, END, NOW, workers=3)
    with pytest.raises(ChildProcessError):  # every worker was reaped
        os.waitpid(-1, os.WNOHANG)


def test_a_workers_error_is_raised_in_the_parent_as_its_kind() -> None:
    import pickle

    with pytest.raises(StoreError, match="database is locked"):
        report_shards._received(pickle.dumps(("error", "StoreError", "database is locked")), 1)
    with pytest.raises(InputError, match="bad"):
        report_shards._received(pickle.dumps(("error", "InputError", "bad")), 1)
    with pytest.raises(StoreError, match="without a result"):
        report_shards._received(b"", 1)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):  # a bug keeps its traceback
        report_shards._received(pickle.dumps(("bug", "Traceback ...\nZeroDivisionError")), 1)


def test_a_bug_in_a_worker_reaches_the_parent_with_its_traceback(fleet, monkeypatch) -> None:
    config, db, _ = fleet
    real = report_shards.report_parts
    parent = os.getpid()

    def broken_in_workers(*args, **kwargs):
        if os.getpid() != parent:
            raise ZeroDivisionError("in a worker")
        return real(*args, **kwargs)

    monkeypatch.setattr(report_shards, "report_parts", broken_in_workers)
    with pytest.raises(RuntimeError, match="ZeroDivisionError: in a worker"):
        report_shards.sharded_report(config, db, START, END, NOW, workers=2)


def test_small_reports_stay_in_process() -> None:
    assert report_shards.worker_count(report_shards.MIN_PROBES - 1, {}) == 1
    assert report_shards.worker_count(10_000, {}) <= report_shards.MAX_WORKERS


def test_the_environment_sets_the_worker_count_and_a_bad_value_is_named() -> None:
    env = report_shards.WORKERS_ENV
    assert report_shards.worker_count(10_000, {env: "1"}) == 1
    assert report_shards.worker_count(50, {env: "3"}) == 3  # told: even a small report
    assert report_shards.worker_count(2, {env: "3"}) == 2  # never more than the probes
    for bad in ("0", "two", "-1", "65"):
        with pytest.raises(InputError, match=f"{env}={bad!r}"):
            report_shards.worker_count(10_000, {env: bad})


def test_the_cli_names_a_bad_worker_count_without_a_traceback(fleet) -> None:
    _, _, path = fleet
    r = subprocess.run([sys.executable, "-m", "slaprobe", "report", "--config", str(path),
                        "--period", "2026-11", "--format", "json"], capture_output=True,
                       text=True, timeout=120, check=False,
                       env={**os.environ, report_shards.WORKERS_ENV: "many"})
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "SLAPROBE_REPORT_WORKERS='many'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(report_shards.worker_count(10_000, {}) < 2, reason="one core: nothing to shard")
def test_the_cli_report_of_many_probes_uses_workers_and_matches(tmp_path) -> None:
    db = tmp_path / "slaprobe.db"
    path = tmp_path / "probes.toml"
    n = report_shards.MIN_PROBES + 20
    path.write_text(_config_text(db, clients=11, per_client=n // 11, loose=n - 11 * (n // 11)))
    config = parse_config(path.read_text(), path)
    assert report_shards.worker_count(len(config.probes), {}) >= 2
    _fill(db, list(config.probes), seed=3)
    for fmt in ("json", "csv"):
        r = subprocess.run([sys.executable, "-m", "slaprobe", "report", "--config", str(path),
                            "--from", "2026-11-01T01:00:00+01:00",
                            "--to", "2026-11-08T01:00:00+01:00", "--format", fmt],
                           capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode in (0, 1), r.stderr
        assert "Traceback" not in r.stderr
        if fmt == "json":
            with Store(db, readonly=True) as store:
                want = report_to_dict(build_report(config, store, START, END, time.time()))
            got = json.loads(r.stdout)
            for d in (got, want):  # when it ran; when the CLI first saw the windows
                d.pop("generated_at")
                for w in d["windows"]:
                    w.pop("first_seen", None)
                    w.pop("retroactive", None)
            assert got == want
        else:
            assert r.stdout.count("\n") >= len(config.probes)
