"""Hostile JSON Lines imports: a bad file fails as a whole, naming FILE:LINE, and leaves
the database exactly as it was; a good one stores what export wrote, byte for byte.

`read_jsonl` is fuzzed in process with hypothesis (what it accepts must also be
storable); a handful of nasty files go through `slaprobe import` as a subprocess.
"""

from __future__ import annotations

import atexit
import datetime as dt
import io
import json
import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from faultkit import config_text, dangerous_chars, dump, slaprobe, tcp_probe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slaprobe.checks import Check
from slaprobe.errors import InputError
from slaprobe.jsonl import encode_check, parse_check, read_jsonl
from slaprobe.store import Store

PROBES = {"web": 30.0, "db": 60.0}
_DIR = Path(tempfile.mkdtemp(prefix="slaprobe-import-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)
_STORE: list[Store] = []


def _store() -> Store:
    """One scratch database for all fuzz examples: what parses must also store."""
    if not _STORE:
        _STORE.append(Store(_DIR / "fuzz.db"))
    return _STORE[0]


# --- strategies ----------------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.one_of(
    st.text(max_size=20), st.text(st.characters(), max_size=5) | st.just(""),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=3), SURROGATE, st.text(max_size=3)),
    st.sampled_from(["\x1b[31mred\x1b[0m", "\u202egnp.exe", "=cmd|'/c calc'!A1", "\x00", "\n",
                     "x" * 5000]),
)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**80), 2**80),
    st.sampled_from([0, -0.0, 1e-300, 1e308, 10**30, -1, 0.0005, 0.001]),
)
TIMES = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                 timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=14))]))
    .map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-03T10:00:00Z", "2026-11-03T10:00:00", "1969-12-31T23:59:59Z",
                     "9999-12-31T23:59:59Z", "+99999-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
                     "2026-11-03T10:00:00+25:00", "", "now", "1e9"]),
)
ANY = st.one_of(TEXT, NUMBER, st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
FIELDS = {
    "probe": st.sampled_from(["web", "db"]) | ANY, "ts": TIMES | ANY,
    "ok": st.booleans() | ANY, "latency_ms": NUMBER | st.none() | ANY,
    "error": TEXT | st.none() | ANY, "interval_s": NUMBER | st.none() | ANY,
    "agent": TEXT | st.none() | ANY, "cert_days": NUMBER | st.none() | ANY,
}
GOOD = st.fixed_dictionaries(
    {"probe": st.sampled_from(["web", "db"]), "ts": st.just("2026-11-03T10:00:00Z"),
     "ok": st.booleans()},
    optional={"latency_ms": st.floats(0, 1e6), "error": st.text(max_size=20) | st.none(),
              "interval_s": st.floats(0.001, 1e6), "agent": st.sampled_from(["fra1", "ams1"])})
FUZZED = st.fixed_dictionaries({}, optional={**FIELDS, "extra": ANY})


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, allow_nan=True)


LINE = st.one_of(
    GOOD.map(_json), GOOD.map(_json), FUZZED.map(_json),
    st.builds(lambda o, k, v: _json(o)[:-1] + f', "{k}": {json.dumps(v)}}}', GOOD,
              st.sampled_from(list(FIELDS)), st.integers()),  # a duplicate key
    st.text(max_size=40), st.sampled_from(["", "   ", "[]", "null", "{", "[" * 100_000,
                                          '{"probe": "web"}' * 2, "\ufeff{}"]),
)


@st.composite
def files(draw) -> bytes:
    lines = [line.encode("utf-8", "surrogatepass") for line in draw(st.lists(LINE, min_size=1,
                                                                             max_size=6))]
    if draw(st.integers(0, 9)) == 0:  # raw bytes: invalid UTF-8, NULs, CRs
        lines.insert(draw(st.integers(0, len(lines))), draw(st.binary(max_size=30)))
    return b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")


# --- the invariant ---------------------------------------------------------------------

ERROR = re.compile(r"in\.jsonl:(\d+): \S")


def _first_bad_line(data: bytes) -> int | None:
    """The oracle: each line on its own, as the reader would see it."""
    for n, raw in enumerate(io.BytesIO(data).readlines(), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return n
        if not text.strip():
            continue
        try:
            parse_check(text, probes=PROBES, default_agent="local")
        except ValueError:
            return n
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(files())
def test_any_file_is_all_read_or_refused_at_its_first_bad_line(data):
    try:
        checks = list(read_jsonl(io.BytesIO(data), "in.jsonl", probes=PROBES,
                                 default_agent="local"))
    except InputError as e:
        m = ERROR.match(str(e))
        assert m, str(e)
        assert int(m.group(1)) == _first_bad_line(data), str(e)
        assert "\n" not in str(e)
        return
    assert _first_bad_line(data) is None
    for c in checks:  # what was accepted is a check SQLite can store and export can write
        assert isinstance(c.ok, bool) and c.probe in PROBES
        assert 0 <= c.ts <= 253402300799 and c.interval_s >= 0.001
        assert all(v is None or math.isfinite(v) for v in (c.latency_ms, c.cert_days))
    _store().insert_checks(checks)
    for c in checks:
        json.loads(encode_check(c))


CHECKS = st.builds(
    Check, probe=st.sampled_from(["web", "db"]),
    ts=st.integers(0, 253402300799000).map(lambda ms: ms / 1000),
    ok=st.booleans(), latency_ms=st.none() | st.floats(0, 1e9).map(lambda x: round(x, 3)),
    error=st.none() | st.text(st.characters(blacklist_categories=["Cs"]), max_size=30),
    interval_s=st.integers(1, 10**9).map(lambda ms: ms / 1000),
    agent=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=10).filter(
        str.strip),
    cert_days=st.none() | st.floats(-1e5, 1e5).map(lambda x: round(x, 3)),
)


@settings(max_examples=300, deadline=None)
@given(CHECKS)
def test_export_then_import_is_exact_and_export_shows_no_control_characters(check):
    line = encode_check(check)
    assert "\n" not in line and not dangerous_chars(line)
    [back] = read_jsonl(io.BytesIO(line.encode() + b"\n"), "x.jsonl", probes=PROBES,
                        default_agent="local")
    assert back == check


def test_a_surrogate_is_refused_with_its_line_not_a_traceback():
    data = b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true}\n' \
           b'{"probe": "web", "ts": "2026-11-03T10:01:00Z", "ok": false, "error": "\\ud800"}\n'
    with pytest.raises(InputError, match=r"^in\.jsonl:2: 'error' holds an unpaired surrogate"):
        list(read_jsonl(io.BytesIO(data), "in.jsonl", probes=PROBES, default_agent="l"))


def test_an_interval_export_cannot_write_is_refused():
    """The store keeps milliseconds: 1e-300 s would come back as 0, which import refuses."""
    line = b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true, "interval_s": 1e-300}'
    with pytest.raises(InputError, match="interval_s"):
        list(read_jsonl(io.BytesIO(line), "in.jsonl", probes=PROBES, default_agent="l"))


# --- through the CLI: atomic, FILE:LINE, the database untouched --------------------------

GOOD_LINE = b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true}\n'


def _lines(n: int) -> bytes:
    return b"".join(
        b'{"probe": "web", "ts": "2026-11-%02dT%02d:%02d:00Z", "ok": true}\n'
        % (1 + i // 1440, i // 60 % 24, i % 60) for i in range(n))


NASTY = {
    "10 MB line": (_lines(3) + b'{"probe": "web", "error": "' + b"e" * 10_000_000 + b'"}\n', 4),
    "invalid UTF-8": (_lines(2) + b'{"probe": "web", "error": "\xff\xfe"}\n', 3),
    "NaN": (_lines(1) + b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true, '
            b'"latency_ms": NaN}\n', 2),
    "Infinity": (b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true, '
                 b'"latency_ms": 1e999}\n', 1),
    "huge integer": (b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true, '
                     b'"latency_ms": ' + b"9" * 5000 + b"}\n", 1),
    "duplicate key": (b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true, '
                      b'"ok": false}\n', 1),
    "far future": (b'{"probe": "web", "ts": "10000-01-01T00:00:00Z", "ok": true}\n', 1),
    "end of 9999 in -01:00": (b'{"probe": "web", "ts": "9999-12-31T23:59:59-01:00", '
                              b'"ok": true}\n', 1),
    "before 1970": (b'{"probe": "web", "ts": "1969-12-31T23:59:59Z", "ok": true}\n', 1),
    "bad type last of 5000": (_lines(4999) + b'{"probe": "web", "ts": "2026-11-03T10:00:00Z",'
                              b' "ok": "yes"}\n', 5000),
    "unknown probe": (_lines(2) + b'{"probe": "nope", "ts": "2026-11-03T10:00:00Z",'
                      b' "ok": true}\n', 3),
    "deep nesting": (b"[" * 200_000 + b"\n", 1),
    "surrogate": (b'{"probe": "web", "ts": "2026-11-03T10:00:00Z", "ok": true, '
                  b'"agent": "\\udfff"}\n', 1),
    "escape in a key": (b'{"probe": "web", "\\u001b[2J": 1}\n', 1),
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A configuration and a database already holding some checks."""
    d = tmp_path_factory.mktemp("import")
    cfg = d / "probes.toml"
    cfg.write_text(config_text([tcp_probe("web", "127.0.0.1", 9)]))
    cfg.chmod(0o600)
    seed = d / "seed.jsonl"
    seed.write_bytes(_lines(50))
    out = slaprobe("import", "--config", str(cfg), str(seed))
    assert out.returncode == 0, out.stderr
    return cfg, d / "t.db"


@pytest.mark.parametrize("name", list(NASTY))
def test_a_nasty_file_is_refused_whole_with_file_line_and_the_database_unchanged(
        imported, tmp_path, name):
    cfg, db = imported
    data, bad_line = NASTY[name]
    good = tmp_path / "good.jsonl"  # imported in the same run: must not go in either
    good.write_bytes(GOOD_LINE.replace(b"10:00", b"23:59"))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data)
    before = dump(db)
    out = slaprobe("import", "--config", str(cfg), str(good), str(bad), timeout=120)
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2, err
    assert b"Traceback" not in out.stderr, err
    assert f"{bad}:{bad_line}: " in err, err
    assert len(err) < 2000 and not dangerous_chars(err)
    assert dump(db) == before


def test_importing_the_same_file_twice_stores_nothing_twice(imported, tmp_path):
    cfg, db = imported
    again = tmp_path / "again.jsonl"
    again.write_bytes(_lines(50))
    before = dump(db)
    out = slaprobe("import", "--config", str(cfg), str(again))
    assert out.returncode == 0 and b"50 checks read, 0 new" in out.stderr
    assert dump(db) == before
