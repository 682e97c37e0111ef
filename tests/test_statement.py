"""Frozen monthly statements: made once with their hash, verified later, every change named."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e import slaprobe
from slaprobe.config import parse_config
from slaprobe.statement import (
    Statement,
    canonical_json,
    compute_statement,
    make_statement,
    newest_statement,
    report_sha256,
    verify_statement,
)
from slaprobe.statement_diff import changes, describe
from slaprobe.store import Store

# ---------------------------------------------------------------- the hash


def test_sha256_is_of_the_canonical_json_without_generated_at():
    report = {"period": {"start": "2026-10-01T00:00:00+00:00"}, "generated_at": "x",
              "probes": [{"id": "wéb", "availability": 99.5}], "clients": []}
    text = json.dumps({k: v for k, v in report.items() if k != "generated_at"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    assert report_sha256(report) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert canonical_json(report).startswith('{"clients":[],"generated_at":"x"')
    later = {**report, "generated_at": "tomorrow", "statement": {"id": 3}}
    assert report_sha256(later) == report_sha256(report)  # neither is part of the hash
    moved = copy.deepcopy(report)
    moved["probes"][0]["availability"] = 99.4
    assert report_sha256(moved) != report_sha256(report)


# ---------------------------------------------------------------- naming what moved


def _entry(**figures):
    base = {"id": "acme-web", "client": "acme", "availability": 99.95, "met": True,
            "down_seconds": 1296.0, "incidents": [], "excluded_seconds": {"maintenance": 60.0},
            "kpis": {"incidents": 0, "mttr_seconds": None},
            "latency_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0}}
    return base | figures


@pytest.mark.parametrize(
    "new, lines",
    [
        (_entry(), []),
        (_entry(availability=99.8, down_seconds=5184.0),
         ["acme-web availability 99.95 -> 99.80; down_seconds 1296 -> 5184"]),
        # floored: 99.8991 next to 99.9 never reads as 99.90
        (_entry(availability=99.8991), ["acme-web availability 99.95 -> 99.89"]),
        (_entry(availability=99.950001), ["acme-web availability 99.950000 -> 99.950001"]),
        (_entry(met=False), ["acme-web met true -> false"]),
        (_entry(excluded_seconds={"maintenance": 60.0, "customer": 1800.0}),
         ["acme-web excluded_seconds.customer 0 -> 1800"]),
        (_entry(kpis={"incidents": 1, "mttr_seconds": 600.0}),
         ["acme-web kpis.incidents 0 -> 1; kpis.mttr_seconds null -> 600"]),
        (_entry(incidents=[{"start": "s"}]), ["acme-web incidents 0 -> 1"]),
    ],
)
def test_changes_name_each_figure(new, lines):
    old = {"probes": [_entry()], "clients": []}
    assert describe(changes(old, {"probes": [new], "clients": []})) == lines


def test_changes_of_clients_probes_and_windows():
    old = {"probes": [_entry()], "clients": [_entry(id="acme")],
           "windows": [{"id": "w1", "start": "a", "category": "maintenance",
                        "excluded_down_seconds": 0.0}]}
    new = {"probes": [_entry(), _entry(id="acme-db")], "clients": [_entry(id="acme", met=False)],
           "windows": [{"id": "w1", "start": "a", "category": "customer",
                        "excluded_down_seconds": 0.0},
                       {"id": "w2", "start": "b", "category": "force-majeure",
                        "excluded_down_seconds": 3600.0, "retroactive": True}]}
    assert describe(changes(old, new)) == [
        "acme-db added (not in the statement)",
        "client acme met true -> false",
        "window w1 a category maintenance -> customer",
        ("window w2 b added (force-majeure); excluded_down_seconds null -> 3600; "
         "retroactive null -> true"),
    ]
    assert describe(changes(new, old))[0] == "acme-db removed (not reported now)"


# ---------------------------------------------------------------- store and verify, in process

CONFIG = """
[agent]
name = "local"
database = "st.db"
timezone = "Europe/Berlin"
keep_raw = "1d"

[sla.gold]
objective = 99.9
latency = { threshold = "200ms", objective = 95.0 }
credits = [{ below = 99.9, percent = 10 }]

[clients.acme]
name = "ACME Corp"
sla = "gold"

[[probes]]
id = "acme-web"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 9
interval = "60s"
"""

OCT = datetime(2026, 9, 30, 22, tzinfo=UTC)  # 2026-10-01 00:00 in Berlin
MINUTES = (31 * 24 + 1) * 60  # October 2026 in Berlin has 745 hours (DST ends on the 25th)


def _checks(*, gap: bool = True, late: bool = False) -> list[str]:
    """October (Berlin), a check a minute: down 10-05 10:00-10:20 UTC; no checks 10-20 03 UTC
    (`gap`), or failed checks there (`late`: the agent's buffered hour arriving afterwards)."""
    out = []
    for minute in range(MINUTES):
        t = OCT + timedelta(minutes=minute)
        in_gap = t.day == 20 and t.hour == 3
        if in_gap and not late or late and not in_gap:
            continue
        down = in_gap or (t.day == 5 and t.hour == 10 and t.minute < 20)
        out.append(json.dumps({"probe": "acme-web", "ts": t.isoformat(), "ok": not down,
                               "latency_ms": None if down else 50.0 + minute % 200,
                               "error": "refused: x" if down else None, "interval_s": 60}))
    return out


@pytest.fixture
def october(tmp_path: Path) -> Path:
    cfg = tmp_path / "probes.toml"
    cfg.write_text(CONFIG)
    src = tmp_path / "oct.jsonl"
    src.write_text("\n".join(_checks()) + "\n")
    out = slaprobe("import", "--config", str(cfg), str(src))
    assert out.returncode == 0, out.stderr
    return cfg


def _late(cfg: Path) -> None:
    src = cfg.parent / "late.jsonl"
    src.write_text("\n".join(_checks(late=True)) + "\n")
    out = slaprobe("import", "--config", str(cfg), str(src))
    assert out.returncode == 0, out.stderr


def test_statements_keep_history_and_verify_compares_the_newest(october):
    config = parse_config(CONFIG, october)
    with Store(october.parent / "st.db") as store:
        data, inputs = compute_statement(config, store, "2026-10", None, datetime.now().timestamp())
        first = make_statement(store.conn, "2026-10", None, data, inputs, 1_800_000_000.0)
        second = make_statement(store.conn, "2026-10", None, data, inputs, 1_800_000_100.0)
        assert second.id > first.id and second.sha256 == first.sha256
        got = newest_statement(store.conn, "2026-10", None)
        assert isinstance(got, Statement) and got.id == second.id and got.report == data
        assert got.inputs == inputs and got.created_at == 1_800_000_100.0
        assert newest_statement(store.conn, "2026-10", "acme") is None
        assert newest_statement(store.conn, "2026-09", None) is None
        v = verify_statement(got, data, inputs)
        assert v.unchanged and not v.changes and not v.inputs_changed


def test_pruning_raw_checks_leaves_the_inputs_digest_and_the_statement_standing(october):
    config = parse_config(CONFIG, october)
    with Store(october.parent / "st.db") as store:
        now = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
        data, inputs = compute_statement(config, store, "2026-10", None, now)
        stored = make_statement(store.conn, "2026-10", None, data, inputs, now)
        assert store.prune(datetime(2026, 11, 2, tzinfo=UTC).timestamp()) > 40_000
        again, inputs_again = compute_statement(config, store, "2026-10", None, now)
        assert inputs_again == inputs  # segments and failed checks survive retention
        v = verify_statement(stored, again, inputs_again)
        # availability, downtime, KPIs... exactly; latency only within the histograms
        assert all(c.latency_only for c in v.changes), v.moved()
        assert v.unchanged


# ---------------------------------------------------------------- end to end


def _statement(cfg: Path, *args: str):
    return slaprobe("statement", "--config", str(cfg), "--period", "2026-10", *args)


def test_a_statement_prints_its_hash_and_carries_it_in_every_form(october, tmp_path):
    out = _statement(october)
    assert out.returncode == 0, out.stderr
    last = out.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("sha256: ") and len(last) == len("sha256: ") + 64
    sha = last.split()[1]
    assert "Statement #1 of 2026-10 (all clients)" in out.stdout
    assert sha in out.stdout.replace("\n", "")  # the footer of the table (it may wrap)
    for fmt in ("json", "csv", "md", "html"):
        target = tmp_path / f"s.{fmt}"
        made = _statement(october, "--format", fmt, "--output", str(target))
        assert made.returncode == 0, made.stderr
        assert made.stdout.splitlines() == [f"sha256: {sha}"]  # same month, same data
        text = target.read_text()
        assert (f'"sha256": "{sha}"' if fmt == "json" else f"sha256: {sha}") in text, fmt
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["statement"]["sha256"] == sha and data["statement"]["period"] == "2026-10"
    assert report_sha256(data) == sha  # anyone can recompute it from the JSON
    rows = list(csv.reader(io.StringIO((tmp_path / "s.csv").read_text())))
    assert rows[-1][0].startswith("# Statement #") and rows[-1][0].endswith(sha)


def test_verify_after_a_late_import_names_the_figures_that_moved(october):
    made = _statement(october, "--format", "json", "--output", str(october.parent / "s.json"))
    assert made.returncode == 0, made.stderr
    same = _statement(october, "verify")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "unchanged" in same.stdout
    _late(october)
    moved = _statement(october, "verify")
    assert moved.returncode == 1, moved.stdout + moved.stderr
    text = moved.stdout
    assert "inputs changed since: checks of acme-web" in text
    line = next(ln.strip() for ln in text.splitlines() if ln.strip().startswith("acme-web "))
    assert "availability 99.9" in line and "down_seconds 1200 -> 4800" in line
    assert "unknown_seconds 3540 -> 0" in line and "credit_percent 0 -> 10" in line
    assert any(ln.strip().startswith("client acme availability") for ln in text.splitlines())
    assert text.splitlines()[-1].startswith("sha256: ")
    # a new statement takes the late checks in; verify then holds again
    assert _statement(october).returncode == 0
    assert _statement(october, "verify").returncode == 0


def test_verify_names_changed_sla_terms(october):
    assert _statement(october, "--client", "acme").returncode == 0
    october.write_text(CONFIG.replace("objective = 99.9", "objective = 99.99"))
    out = _statement(october, "verify", "--client", "acme")
    assert out.returncode == 1
    assert "SLA or probe terms" in out.stdout
    assert "acme-web objective 99.90 -> 99.99" in out.stdout


def test_verify_without_a_statement_exits_2(october):
    out = _statement(october, "verify")
    assert out.returncode == 2
    assert "no statement of 2026-10" in out.stderr
    assert _statement(october).returncode == 0
    assert _statement(october, "verify", "--client", "acme").returncode == 2  # per client


def test_a_month_not_over_is_refused(october):
    out = slaprobe("statement", "--config", str(october), "--period", "2999-01")
    assert out.returncode == 2 and "has not ended" in out.stderr
    bad = slaprobe("statement", "--config", str(october), "--period", "October")
    assert bad.returncode == 2 and "--period" in bad.stderr


def test_a_json_statement_on_stdout_is_one_json_document(october):
    out = _statement(october, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # the hash rides inside it, not on a line after it
    assert len(data["statement"]["sha256"]) == 64
    assert f"sha256: {data['statement']['sha256']}" in out.stderr
