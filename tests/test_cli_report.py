"""End to end: the SPEC worked example imported as JSON Lines and reported by the real CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from e2e import slaprobe

CONFIG = """
[agent]
name = "local"
database = "r.db"
timezone = "UTC"

[sla.gold]
objective = 99.9
credits = [
  { below = 99.9, percent = 10 },
  { below = 99.0, percent = 25 },
  { below = 95.0, percent = 100 },
]

[clients.acme]
name = "=HYPERLINK(\\"http://x\\") <script>alert(1)</script>"
sla = "gold"

[[probes]]
id = "acme-web"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 9
interval = "60s"

[[maintenance]]
id = "m1"
clients = ["acme"]
start = "2026-11-03T10:05:00Z"
end = "2026-11-03T10:15:00Z"
"""


@pytest.fixture
def worked_example(tmp_path: Path) -> Path:
    """SPEC section 5's day: failures 10:00-10:09, a window 10:05-10:15, no checks 13:00-13:59."""
    cfg = tmp_path / "probes.toml"
    cfg.write_text(CONFIG)
    day = datetime(2026, 11, 3, tzinfo=timezone.utc)
    lines = []
    for minute in range(24 * 60):
        t = day + timedelta(minutes=minute)
        if t.hour == 13:
            continue
        ok = not (t.hour == 10 and t.minute < 10)
        lines.append(json.dumps({
            "probe": "acme-web", "ts": t.isoformat().replace("+00:00", "Z"), "ok": ok,
            "latency_ms": 10.0 + minute % 7 if ok else None,
            "error": None if ok else "refused: connection refused", "interval_s": 60,
        }))
    src = tmp_path / "day.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = slaprobe("import", "--config", str(cfg), str(src))
    assert out.returncode == 0, out.stderr
    return cfg


def _report(cfg: Path, *extra: str):
    return slaprobe("report", "--config", str(cfg), "--from", "2026-11-03", "--to", "2026-11-04",
                    *extra)


def test_worked_example_figures_to_the_digit(worked_example):
    out = _report(worked_example, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["period"]["start"] == "2026-11-03T00:00:00+00:00"
    assert data["period"]["partial"] is False
    [p] = data["probes"]
    assert p["maintenance_seconds"] == pytest.approx(600)
    assert p["down_seconds"] == pytest.approx(300)
    assert p["unknown_seconds"] == pytest.approx(3540)
    assert p["up_seconds"] == pytest.approx(81960)
    assert p["availability"] == pytest.approx(81960 / 82260 * 100, rel=1e-12)
    assert p["coverage"] == pytest.approx(82260 / 85800, rel=1e-12)
    assert p["error_budget_seconds"] == pytest.approx(82.26)
    assert p["budget_left_seconds"] == pytest.approx(-217.74)
    assert p["met"] is False and p["credit_percent"] == 10
    [inc] = p["incidents"]
    assert (inc["start"], inc["end"]) == ("2026-11-03T10:00:00+00:00", "2026-11-03T10:10:00+00:00")
    assert inc["seconds"] == pytest.approx(600) and inc["maintenance_seconds"] == pytest.approx(300)
    [client] = data["clients"]
    assert client["availability"] == pytest.approx(p["availability"], rel=1e-12)


def test_fail_on_breach_exits_1_and_without_it_0(worked_example):
    assert _report(worked_example, "--format", "json").returncode == 0
    assert _report(worked_example, "--format", "json", "--fail-on-breach").returncode == 1


def test_incidents_command_lists_the_stretch(worked_example):
    out = slaprobe("incidents", "--config", str(worked_example), "--from", "2026-11-03",
                   "--to", "2026-11-04", "--format", "json")
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["probe"] == "acme-web" and row["seconds"] == pytest.approx(600)
    assert row["maintenance_seconds"] == pytest.approx(300) and row["error_kinds"] == ["refused"]


def test_every_form_renders_and_hostile_names_are_inert(worked_example, tmp_path):
    html_out = tmp_path / "r.html"
    assert _report(worked_example, "--format", "html", "--output", str(html_out)).returncode == 0
    page = html_out.read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "99.635" in page
    text = _report(worked_example, "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(text)))
    names = [cell for row in rows for cell in row if "HYPERLINK" in cell]
    assert names and all(cell.startswith("'") for cell in names)
    md = _report(worked_example, "--format", "md").stdout
    assert "<script>" not in md and "99.635" in md
    table = _report(worked_example, "--format", "table").stdout
    assert "99.635" in table and "\x1b" not in table
