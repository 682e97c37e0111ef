"""Hostile probes.toml: whatever the file holds, the answer is a valid configuration or
exit 2 with one line per problem, never a traceback, a hang, or a raw escape sequence.

Most of the fuzzing runs `parse_config` in process (fast); a handful of files go
through `slaprobe check` as a subprocess. The bugs the fuzzers found first are
kept below as plain regression tests.
"""

from __future__ import annotations

import datetime as dt
import math
import resource
import string
from pathlib import Path
from typing import Any

import pytest
from faultkit import dangerous_chars, slaprobe, toml_key, toml_str
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slaprobe.config import (
    AGENT_KEYS,
    CLIENT_KEYS,
    MAINTENANCE_KEYS,
    PROBE_KEYS,
    PROBE_KIND_KEYS,
    SLA_KEYS,
    Config,
    load_config,
    parse_config,
)
from slaprobe.errors import ConfigError
from slaprobe.sanitize import inert

PATH = Path("/etc/slaprobe/probes.toml")
ENV = {"TOKEN": "s3cr3t-from-env", "EMPTY": ""}

# --- a TOML writer for generated documents -------------------------------------------


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _lines(table: dict[str, Any]) -> list[str]:
    return [f"{toml_key(k)} = {_value(v)}" for k, v in table.items()]


def to_toml(doc: dict[str, Any]) -> str:
    """Plain keys first, then [tables], [parent.child] tables and [[arrays]] of tables."""
    head, body = [], []
    for key, value in doc.items():
        if key in ("sla", "clients") and isinstance(value, dict) and all(
                isinstance(v, dict) for v in value.values()):
            for child, table in value.items():
                body += [f"[{toml_key(key)}.{toml_key(child)}]", *_lines(table), ""]
        elif isinstance(value, dict):
            body += [f"[{toml_key(key)}]", *_lines(value), ""]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for table in value:
                body += [f"[[{toml_key(key)}]]", *_lines(table), ""]
        else:
            head.append(f"{toml_key(key)} = {_value(value)}")
    return "\n".join(head + [""] + body)


# --- plausible documents, with implausible values --------------------------------------

PLAUSIBLE = st.sampled_from([
    "30s", "500ms", "0s", "-1s", "1d", "1h30m", "99999999999w", "1e3s", "", " ", "UTC",
    "Europe/Berlin", "../../etc/passwd", "Mars/Olympus", "http://127.0.0.1:9/", "https://x.invalid/",
    "ftp://x/", "http://", "http://[::1", "127.0.0.1:9464", ":9464", "[::1]:0", "0.0.0.0:99999",
    "Mon-Fri 09:00-17:00", "24x7", "Sun 22:00-02:00", "FREQ=WEEKLY;BYDAY=SU", "FREQ=", "DTSTART:x",
    "gold", "acme", "web", "tcp", "http", "icmp", "GET", "get", "PO ST", "\x1b[31mred\x1b[0m",
    "\u202eevil", "=1+1", "<script>alert(1)</script>", "~root/x", "~nosuchuser/x", "/dev/null",
    "maintenance", "force-majeure", "Authorization", "a\nb", "a\x00b", "2026-11-29T02:00:00+01:00",
    "x" * 300,
])
SCALAR = st.one_of(
    PLAUSIBLE, st.text(max_size=20), st.integers(-(2**70), 2**70), st.integers(-5, 70000),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                 timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=-9))])
                 | st.none()),
    st.dates(), st.times(),
)
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
IDS = st.sampled_from(["gold", "acme", "web", "db", "a.b_c-d", "Bad Id", "", "\x1b", "x" * 80])
DURATION = st.sampled_from(["30s", "500ms", "2h", "1m30s", "1d", "100ms"])
AWARE = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.just(dt.timezone.utc))
FREE_TEXT = st.text(max_size=20) | PLAUSIBLE
# What a correct file holds under each key; fuzzed values are mixed in (see _value_for).
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["web", "db", "gw", "a.b_c-d"]), "kind": st.sampled_from(
        ["http", "tcp", "icmp"]), "client": st.just("acme"), "sla": st.just("gold"),
    "url": st.sampled_from(["http://127.0.0.1:9/", "https://example.invalid/x?y=1"]),
    "host": st.sampled_from(["127.0.0.1", "localhost", "::1", "[::1]"]),
    "port": st.integers(1, 65535), "interval": DURATION, "timeout": DURATION,
    "max_latency": DURATION, "duration": DURATION, "min_downtime": DURATION,
    "keep_raw": DURATION, "retries": st.integers(0, 3), "confirm": st.integers(1, 3),
    "count": st.integers(1, 5), "max_loss": st.floats(0, 1),
    "expect_status": st.lists(st.integers(100, 599), max_size=3), "body_contains": FREE_TEXT,
    "verify_tls": st.booleans(), "follow_redirects": st.booleans(),
    "cert_expiry_warn_days": st.integers(0, 60), "method": st.sampled_from(["GET", "HEAD"]),
    "name": FREE_TEXT, "database": st.just("t.db"), "timezone": st.sampled_from(
        ["UTC", "Europe/Berlin", "America/St_Johns"]), "metrics": st.just("127.0.0.1:9464"),
    "quorum": st.integers(1, 3), "objective": st.floats(90, 100),
    "hours": st.sampled_from(["24x7", "Mon-Fri 09:00-17:00", "Sat,Sun 00:00-24:00"]),
    "start": AWARE, "end": AWARE, "dtstart": AWARE,
    "rrule": st.sampled_from(["FREQ=WEEKLY;BYDAY=SU;BYHOUR=4", "FREQ=DAILY;COUNT=3"]),
    "clients": st.just(["acme"]), "probes": st.just(["web"]),
    "category": st.sampled_from(["maintenance", "customer", "third-party", "force-majeure"]),
    "reason": FREE_TEXT, "ticket": FREE_TEXT,
}


def _value_for(key: str, junk: int) -> st.SearchStrategy[Any]:
    """A good value for `key`, or one time in `junk` any value at all (0: never)."""
    good = GOOD.get(key, VALUE)
    if not junk:
        return good
    return st.integers(0, junk - 1).flatmap(lambda i: VALUE if i == 0 else good)


def _table(keys: tuple[str, ...] | list[str], junk: int) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional={k: _value_for(k, junk) for k in keys})
    if not junk:
        return known
    stray = st.dictionaries(st.text(string.ascii_lowercase + "_", min_size=1, max_size=8),
                            VALUE, max_size=1)
    return st.tuples(known, st.integers(0, junk), stray).map(
        lambda t: {**t[0], **t[2]} if t[1] == 0 else t[0])


HEADER_VALUE = st.one_of(
    PLAUSIBLE, st.text(max_size=10),
    st.fixed_dictionaries({"env": st.sampled_from(["TOKEN", "EMPTY", "NOPE", "1BAD", ""])}),
    st.fixed_dictionaries({"file": st.sampled_from(["secret.txt", "/nonexistent", "/", "",
                                                     "/etc/hostname"])}),
    st.dictionaries(st.sampled_from(["env", "file", "x"]), SCALAR, max_size=2), SCALAR,
)


@st.composite
def probe_tables(draw, junk: int) -> dict[str, Any]:
    kinds = ["http", "http", "tcp", "icmp"] + (["udp"] if junk else [])
    kind = draw(st.sampled_from(kinds))
    keys = [*PROBE_KEYS, *PROBE_KIND_KEYS.get(kind, PROBE_KIND_KEYS["http"])]
    table = draw(_table(keys, junk))
    table.setdefault("id", draw(IDS if junk else GOOD["id"]))
    table["kind"] = kind if not junk or draw(st.integers(0, junk)) else draw(VALUE)
    if kind == "http":
        table.setdefault("url", "http://127.0.0.1:9/")
        if draw(st.booleans()):
            names = ["Authorization", "X-Api-Key"] + (["Bad Name", "", "X\x1b"] if junk else [])
            values = HEADER_VALUE if junk else (
                st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1)
                | st.just({"env": "TOKEN"}))
            table["headers"] = draw(st.dictionaries(st.sampled_from(names), values, max_size=3))
    elif kind in ("tcp", "icmp"):
        table.setdefault("host", "127.0.0.1")
        if kind == "tcp":
            table.setdefault("port", 80)
    return table


def _credits() -> st.SearchStrategy[Any]:
    tier = st.fixed_dictionaries({}, optional={"below": st.floats(0, 100) | SCALAR,
                                               "percent": st.floats(0, 100) | SCALAR})
    return st.lists(tier | SCALAR, max_size=3)


def _sla(junk: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(_table(SLA_KEYS, junk), st.none() | _credits()).map(
        lambda t: {"objective": 99.9, **t[0], **({"credits": t[1]} if t[1] is not None else {})})


def _window(junk: int) -> st.SearchStrategy[dict[str, Any]]:
    def fill(t: dict[str, Any]) -> dict[str, Any]:
        if not {"start", "end", "rrule", "duration"} & set(t):
            t = {**t, "start": dt.datetime(2026, 11, 29, 2, tzinfo=dt.timezone.utc),
                 "end": dt.datetime(2026, 11, 29, 4, tzinfo=dt.timezone.utc)}
        return {"id": "m", **t}
    return _table(MAINTENANCE_KEYS, junk).map(fill)


JUNK = st.fixed_dictionaries({}, optional={
    "central": VALUE, "cluster": VALUE, "alerts": VALUE, "extra": VALUE, "interval": SCALAR,
    "\x1b]0;title\x07": VALUE, "probes": SCALAR})
def documents(junk: int) -> st.SearchStrategy[dict[str, Any]]:
    """Whole documents; one value in `junk` is anything at all (0: only good values)."""
    ids = IDS if junk else st.sampled_from(["gold", "acme", "silver"])
    sections = st.fixed_dictionaries({}, optional={
        "agent": _table(AGENT_KEYS, junk),
        "sla": st.dictionaries(st.just("gold") | ids, _sla(junk), max_size=2),
        "clients": st.dictionaries(st.just("acme") | ids, _table(CLIENT_KEYS, junk),
                                   max_size=2),
        "probes": st.lists(probe_tables(junk), max_size=4),
        "maintenance": st.lists(_window(junk), max_size=2),
    })
    if not junk:
        return sections.map(_cohere)
    return st.tuples(sections, st.integers(0, junk), JUNK).map(
        lambda t: _cohere({**t[0], **t[2]} if t[1] == 0 else t[0]))


def _cohere(doc: dict[str, Any]) -> dict[str, Any]:
    """Add what cross references need (client acme, SLA gold, probe web), so that many
    documents get past them to the deeper checks; fuzzed entries are kept."""
    doc = dict(doc)
    probes = doc.get("probes")
    if isinstance(probes, list):
        seen: set[str] = set()
        unique = []
        for table in probes:
            if isinstance(table, dict) and str(table.get("id")) not in seen:
                seen.add(str(table.get("id")))
                unique.append(table)
        doc["probes"] = unique
        if any(isinstance(t, dict) and t.get("client") == "acme" for t in unique):
            if isinstance(doc.get("clients", {}), dict):
                doc["clients"] = {"acme": {"name": "ACME", "sla": "gold"}, **doc.get("clients", {})}
    clients = doc.get("clients")
    if isinstance(clients, dict) and any(isinstance(c, dict) and c.get("sla") == "gold"
                                         for c in clients.values()):
        if isinstance(doc.get("sla", {}), dict):
            doc["sla"] = {"gold": {"objective": 99.9}, **doc.get("sla", {})}
    windows = doc.get("maintenance")
    if isinstance(windows, list):
        ids = {str(t.get("id")) for t in probes if isinstance(t, dict)} if isinstance(
            probes, list) else set()
        fixed = []
        for i, w in enumerate(windows):
            w = {**w, "id": f"m{i}"}
            if w.get("probes") == ["web"] and "web" not in ids:
                del w["probes"]
            if w.get("clients") == ["acme"] and not isinstance(doc.get("clients"), dict):
                del w["clients"]
            fixed.append(w)
        doc["maintenance"] = fixed
    return doc


DOCUMENTS = st.one_of(documents(0), documents(10), documents(3))


# --- the invariant ---------------------------------------------------------------------

def assert_well_reported(text: str, path: Path = PATH) -> Config | None:
    """parse_config(text) is a Config, or a ConfigError whose problems, as the CLI and the
    daemon's log show them (through sanitize.inert), are one inert line each naming the file."""
    try:
        config = parse_config(text, path, environ=ENV)
    except ConfigError as e:
        assert e.problems, "a ConfigError must say what is wrong"
        for problem in e.problems:
            shown = inert(problem)
            assert shown.startswith(str(path)), shown
            assert "\n" not in shown and not dangerous_chars(shown), shown
        return None
    for warning in config.warnings:
        assert "\n" not in warning and not dangerous_chars(warning), warning
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(DOCUMENTS)
def test_any_plausible_document_is_a_config_or_well_reported_problems(doc):
    assert_well_reported(to_toml(doc))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=st.sampled_from(list('[]{}="\',.#\n \t\\:-_+0123456789aeiklnoprstuxz'))
               | st.characters(), max_size=200))
def test_any_text_is_a_config_or_well_reported_problems(text):
    assert_well_reported(text)


SHIPPED = (Path(__file__).resolve().parent.parent / "probes.toml").read_text()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, len(SHIPPED)), st.integers(0, 8),
                          st.text(max_size=4)), min_size=1, max_size=4))
def test_the_shipped_file_mutated_is_a_config_or_well_reported_problems(edits):
    text = SHIPPED
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut:]
    assert_well_reported(text)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300) | st.builds(lambda b: SHIPPED.encode()[:200] + b,
                                           st.binary(max_size=50)))
def test_any_bytes_on_disk_are_a_config_or_well_reported_problems(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cfg") / "probes.toml"
    path.write_bytes(data)
    try:
        load_config(path, environ=ENV)
    except ConfigError as e:
        assert all(inert(p).startswith(str(path)) for p in e.problems)


def test_the_generator_makes_valid_configs_too():
    """The fuzzer is only worth something if it reaches the far side of validation."""
    doc = {"agent": {"name": "fra1", "interval": "30s"},
           "sla": {"gold": {"objective": 99.9, "credits": [{"below": 99.9, "percent": 10}]}},
           "clients": {"acme": {"name": "\u202eACME\x1b[31m", "sla": "gold"}},
           "probes": [{"id": "web", "kind": "http", "url": "http://127.0.0.1:9/", "client": "acme",
                       "headers": {"Authorization": {"env": "TOKEN"}}}]}
    config = assert_well_reported(to_toml(doc))
    assert config is not None and config.probes["web"].headers == (("Authorization",
                                                                     ENV["TOKEN"]),)
    assert config.clients["acme"].name == "\u202eACME\x1b[31m"  # free text, made inert on output


# --- through the CLI -----------------------------------------------------------------------

CLI_FILES = {
    "empty": b"",
    "binary": bytes(range(256)),
    "not utf-8": b'[agent]\nname = "\xff\xfe"\n',
    "syntax": b"[agent\nname = 1\n",
    "escape in a value": b'[agent]\ntimezone = "\\u001b[2J\\u001b]0;owned\\u0007"\n',
    "escape in a key": b'[agent]\n"\\u001b[2J" = 1\n',
    "wrong types": b'[agent]\ninterval = 30\n[[probes]]\nid = 5\nkind = ["http"]\nport = "x"\n',
    "deep nesting": b"x = " + b"[" * 200 + b"]" * 200 + b"\n",
    "long line": b'[agent]\nnmae = "' + b"n" * 1_000_000 + b'"\n',
    "valid": SHIPPED.encode(),
}


@pytest.mark.parametrize("name", list(CLI_FILES))
def test_slaprobe_check_answers_0_or_2_with_a_message_and_no_traceback(tmp_path, name):
    path = tmp_path / "probes.toml"
    path.write_bytes(CLI_FILES[name])
    path.chmod(0o600)
    out = slaprobe("check", "--config", str(path), timeout=30)
    err = out.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in out.stderr, err
    assert out.returncode in (0, 2), (out.returncode, err)
    if out.returncode == 2:
        first = err.splitlines()[0]
        assert first.startswith(str(path)), err
    else:
        assert name in ("valid", "empty")
    assert not dangerous_chars(err), err


# --- bugs found by fuzzing (fixed in config.py), kept as regressions ---------------------------

def test_a_huge_integer_literal_is_a_problem_not_a_traceback(tmp_path):
    path = tmp_path / "probes.toml"
    path.write_text("[agent]\nquorum = " + "9" * 5000 + "\n")
    out = slaprobe("check", "--config", str(path))
    assert out.returncode == 2 and b"Traceback" not in out.stderr


@pytest.mark.parametrize("body", [
    '[agent]\ndatabase = "~nosuchuser/slaprobe.db"\n',
    '[[probes]]\nid = "w"\nkind = "http"\nurl = "http://127.0.0.1:9/"\n'
    'headers = { Authorization = { file = "~nosuchuser/token" } }\n',
])
def test_an_unknown_home_directory_is_a_problem_not_a_traceback(tmp_path, body):
    path = tmp_path / "probes.toml"
    path.write_text(body)
    out = slaprobe("check", "--config", str(path))
    assert out.returncode == 2 and b"Traceback" not in out.stderr


def test_a_nul_in_a_secret_path_is_a_problem_not_a_traceback(tmp_path):
    path = tmp_path / "probes.toml"
    path.write_text('[[probes]]\nid = "w"\nkind = "http"\nurl = "http://127.0.0.1:9/"\n'
                    'headers = { Authorization = { file = "/tmp/a\\u0000b" } }\n')
    out = slaprobe("check", "--config", str(path))
    assert out.returncode == 2 and b"Traceback" not in out.stderr


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_secret_file_that_never_ends_is_a_problem(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "probes.toml"
    path.write_text('[[probes]]\nid = "w"\nkind = "http"\nurl = "http://127.0.0.1:9/"\n'
                    'headers = { Authorization = { file = "/dev/zero" } }\n')
    out = subprocess.run([sys.executable, "-m", "slaprobe", "check", "--config", str(path)],
                         capture_output=True, timeout=60, preexec_fn=_limit_memory)
    assert out.returncode == 2 and b"Traceback" not in out.stderr


@pytest.mark.parametrize("body", [
    '["\\u001b]0;owned\\u0007"]\nx = 1\n',
    '[[maintenance]]\nid = "m"\nrrule = "FREQ=\\u001b[2J"\nduration = "1h"\n',
    '[[probes]]\nid = "w"\nkind = "http"\nurl = "http://127.0.0.1:9/"\n'
    'headers = { Authorization = { file = "/nonexistent/\\u001b[2J" } }\n',
])
def test_problems_never_echo_escape_sequences(tmp_path, body):
    path = tmp_path / "probes.toml"
    path.write_text(body)
    out = slaprobe("check", "--config", str(path))
    assert out.returncode == 2 and not dangerous_chars(out.stderr.decode())
