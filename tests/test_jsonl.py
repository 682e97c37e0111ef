"""JSON Lines of checks (SPEC section 4): strict, line-numbered reading; exact writing."""

from __future__ import annotations

import io
import json

import pytest

from slaprobe.checks import Check
from slaprobe.errors import InputError
from slaprobe.jsonl import encode_check, read_jsonl

PROBES = {"acme-web": 30.0, "acme-db": 60.0}


def _read(text: bytes | str) -> list[Check]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_jsonl(io.BytesIO(data), "in.jsonl", probes=PROBES, default_agent="local"))


def test_the_spec_example_line_is_read_exactly():
    line = ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00.000Z", "ok": true, '
            '"latency_ms": 12.3, "error": null, "interval_s": 30, "agent": "fra1"}')
    [c] = _read(line)
    assert c == Check("acme-web", 1793700000.0, True, 12.3, None, 30.0, "fra1")


def test_optional_fields_default_to_the_probe_interval_and_local_agent():
    [c] = _read('{"probe": "acme-db", "ts": "2026-11-03T11:00:00+01:00", "ok": false}')
    assert (c.latency_ms, c.error, c.interval_s, c.agent) == (None, None, 60.0, "local")
    assert c.ts == 1793700000.0


def test_encode_then_read_round_trips():
    c = Check("acme-web", 1793700000.25, False, None, "timeout: after 5s", 30.0, "fra1")
    assert _read(encode_check(c)) == [c]
    assert json.loads(encode_check(c))["ts"] == "2026-11-03T10:00:00.250Z"


@pytest.mark.parametrize(
    ("line", "phrase"),
    [
        ('{"probe": "nope", "ts": "2026-11-03T10:00:00Z", "ok": true}', "not in the configuration"),
        ('{"ts": "2026-11-03T10:00:00Z", "ok": true}', "'probe' is required"),
        ('{"probe": "acme-web", "ok": true}', "'ts' is required"),
        ('{"probe": "acme-web", "ts": "2026-11-03 10:00", "ok": true}', "offset"),
        ('{"probe": "acme-web", "ts": "yesterday", "ok": true}', "RFC 3339"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": "yes"}', "'ok'"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": 1}', "'ok'"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": true, "latency_ms": "5"}',
         "latency_ms"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": true, "latency_ms": NaN}',
         "NaN"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": true, "latency_ms": 1e999}',
         "too large"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": true, "interval_s": 0}',
         "interval_s"),
        ('{"probe": "acme-web", "ts": "1960-01-01T00:00:00Z", "ok": true}', "1970"),
        ('{"probe": "acme-web", "probe": "acme-db", "ts": "2026-11-03T10:00:00Z", "ok": true}',
         "duplicate key"),
        ('{"probe": "acme-web", "ts": "2026-11-03T10:00:00Z", "ok": true, "agnet": "x"}',
         "unknown key 'agnet'"),
        ('[1, 2]', "JSON object"),
        ('{"probe": ', "not valid JSON"),
    ],
)
def test_a_bad_line_is_named_with_file_and_line(line, phrase):
    good = '{"probe": "acme-web", "ts": "2026-11-03T09:00:00Z", "ok": true}\n'
    with pytest.raises(InputError) as e:
        _read(good + "\n" + line + "\n")
    assert str(e.value).startswith("in.jsonl:3: ")
    assert phrase in str(e.value)


def test_invalid_utf8_is_an_error_with_its_line():
    with pytest.raises(InputError, match=r"^in.jsonl:1: not UTF-8"):
        _read(b'{"probe": "acme-web\xff", "ts": "2026-11-03T09:00:00Z", "ok": true}\n')


def test_a_huge_line_is_refused_without_reading_it_all():
    with pytest.raises(InputError, match=r"^in.jsonl:1: line longer"):
        _read(b'{"probe": "' + b"x" * (10 << 20) + b'"}\n')


@pytest.mark.parametrize("ts", ["2026-W45-2T10:00:00Z", "20261103T100000Z", "2026-11-03",
                                "2026-11-03T10:00:00"])
def test_times_that_are_not_rfc_3339_with_an_offset_are_refused(ts):
    with pytest.raises(InputError, match=r"^in.jsonl:1: 'ts'"):
        _read(f'{{"probe": "acme-web", "ts": "{ts}", "ok": true}}\n')
