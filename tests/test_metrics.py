"""Prometheus exposition: golden text, a strict parser, and a real loopback server."""

from __future__ import annotations

import asyncio
import math
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from slaprobe.metrics import (
    CONTENT_TYPE,
    AgentMetrics,
    MetricsServer,
    MetricsSnapshot,
    ProbeMetrics,
    escape_label_value,
    format_value,
    parse_listen,
    quantiles,
    render_metrics,
)

T = TypeVar("T")

HOSTILE_IDS = ['say "hi"', "back\\slash", "new\nline", '\\"\n\\n', "ünïcode ✓", "}{,=", ""]


def snapshot(*probes: ProbeMetrics, **agent: Any) -> MetricsSnapshot:
    fields: dict[str, Any] = {"version": "0.1.0", "start_time_seconds": 1700000000.0, "probes": 2}
    fields.update(agent)
    return MetricsSnapshot(AgentMetrics(**fields), probes)


FULL = snapshot(
    ProbeMetrics(
        id="acme-web",
        kind="http",
        client="acme",
        up=1,
        latency_seconds=0.125,
        checks_total={"up": 41, "down": 1},
        availability_ratio=0.999,
        error_budget_remaining_seconds=2540.5,
        tls_cert_expiry_seconds=86400.0 * 30,
    ),
    ProbeMetrics(id="lo-ping", kind="icmp"),
    checks_total=42,
    checks_per_second=0.5,
    write_queue_depth=3,
    db_write_errors_total=1,
    lateness_quantiles=((0.5, 0.002), (0.99, 0.04)),
    lateness_sum_seconds=0.25,
    lateness_count=42,
)

GOLDEN = """\
# HELP slaprobe_build_info slaprobe version; always 1.
# TYPE slaprobe_build_info gauge
slaprobe_build_info{version="0.1.0"} 1
# HELP slaprobe_start_time_seconds Unix time the agent started.
# TYPE slaprobe_start_time_seconds gauge
slaprobe_start_time_seconds 1700000000.0
# HELP slaprobe_probes Probes in the running configuration.
# TYPE slaprobe_probes gauge
slaprobe_probes 2
# HELP slaprobe_agent_checks_total Checks run since the agent started (all probes).
# TYPE slaprobe_agent_checks_total counter
slaprobe_agent_checks_total 42
# HELP slaprobe_checks_per_second Checks per second, recent average.
# TYPE slaprobe_checks_per_second gauge
slaprobe_checks_per_second 0.5
# HELP slaprobe_write_queue_depth Checks waiting to be written to the database.
# TYPE slaprobe_write_queue_depth gauge
slaprobe_write_queue_depth 3
# HELP slaprobe_db_write_errors_total Failed database writes since the agent started.
# TYPE slaprobe_db_write_errors_total counter
slaprobe_db_write_errors_total 1
# HELP slaprobe_scheduler_lateness_seconds Seconds a check started after it was due; \
quantiles over recent checks.
# TYPE slaprobe_scheduler_lateness_seconds summary
slaprobe_scheduler_lateness_seconds{quantile="0.5"} 0.002
slaprobe_scheduler_lateness_seconds{quantile="0.99"} 0.04
slaprobe_scheduler_lateness_seconds_sum 0.25
slaprobe_scheduler_lateness_seconds_count 42
# HELP slaprobe_probe_up 1 if the probe's last check passed, 0 if it failed.
# TYPE slaprobe_probe_up gauge
slaprobe_probe_up{probe="acme-web",client="acme",kind="http"} 1
# HELP slaprobe_probe_latency_seconds Latency of the probe's last check.
# TYPE slaprobe_probe_latency_seconds gauge
slaprobe_probe_latency_seconds{probe="acme-web"} 0.125
# HELP slaprobe_probe_checks_total Checks of the probe since the agent started, by result.
# TYPE slaprobe_probe_checks_total counter
slaprobe_probe_checks_total{probe="acme-web",result="up"} 41
slaprobe_probe_checks_total{probe="acme-web",result="down"} 1
slaprobe_probe_checks_total{probe="lo-ping",result="up"} 0
slaprobe_probe_checks_total{probe="lo-ping",result="down"} 0
# HELP slaprobe_checks_total Checks of the probe by this agent's location, by result (for \
recording rules).
# TYPE slaprobe_checks_total counter
slaprobe_checks_total{probe="acme-web",location="",result="up"} 41
slaprobe_checks_total{probe="acme-web",location="",result="down"} 1
slaprobe_checks_total{probe="lo-ping",location="",result="up"} 0
slaprobe_checks_total{probe="lo-ping",location="",result="down"} 0
# HELP slaprobe_availability_ratio Availability (0..1) of the probe in the current SLA period \
so far.
# TYPE slaprobe_availability_ratio gauge
slaprobe_availability_ratio{probe="acme-web",window="period"} 0.999
# HELP slaprobe_error_budget_remaining_seconds Downtime the probe may still have this period \
without missing its objective.
# TYPE slaprobe_error_budget_remaining_seconds gauge
slaprobe_error_budget_remaining_seconds{probe="acme-web"} 2540.5
# HELP slaprobe_tls_cert_expiry_seconds Seconds until the probe's TLS certificate expires; \
negative once expired.
# TYPE slaprobe_tls_cert_expiry_seconds gauge
slaprobe_tls_cert_expiry_seconds{probe="acme-web"} 2592000.0
"""


# --- a strict parser for the text format 0.0.4 ------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = rf"[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE}"
SAMPLE = re.compile(rf"({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)")
LABEL_RE = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})")
FLOAT = re.compile(r"[+-]?(?:Inf|NaN|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
SUFFIXES = {"counter": ("",), "gauge": ("",), "summary": ("", "_sum", "_count")}

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], quoted[1:-1])


def strict_parse(text: str) -> tuple[dict[str, str], Series]:
    """Families (name -> type) and series; fails on anything the format forbids.

    HELP then TYPE open each family exactly once; every sample belongs to the
    open family; label values use only the three escapes; no series repeats.
    """
    assert text.endswith("\n"), "the exposition must end with a newline"
    types: dict[str, str] = {}
    series: Series = {}
    current: str | None = None
    expect_type_for: str | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(NAME, name), where
            assert name not in types, f"family repeated, {where}"
            help_text = line.split(" ", 3)[3] if line.count(" ") >= 3 else ""
            assert re.fullmatch(r"(?:[^\\\n]|\\[\\n])*", help_text), where
            expect_type_for = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == expect_type_for, f"TYPE without HELP, {where}"
            assert kind in SUFFIXES, where
            types[name] = kind
            current, expect_type_for = name, None
        else:
            match = SAMPLE.fullmatch(line)
            assert match, f"not a sample, {where}"
            name, labels_text, value = match.groups()
            assert current is not None and any(
                name == current + suffix for suffix in SUFFIXES[types[current]]
            ), f"sample outside its family, {where}"
            assert FLOAT.fullmatch(value), where
            labels = tuple((k, _unescape(v)) for k, v in LABEL_RE.findall(labels_text or ""))
            assert len({k for k, _ in labels}) == len(labels), f"label repeated, {where}"
            key = (name, labels)
            assert key not in series, f"series repeated, {where}"
            series[key] = float(value.replace("Inf", "inf"))
    return types, series


# --- rendering -----------------------------------------------------------------


def test_render_matches_golden_text() -> None:
    assert render_metrics(FULL) == GOLDEN


def test_rendered_text_passes_the_strict_parser() -> None:
    types, series = strict_parse(render_metrics(FULL))
    assert types["slaprobe_scheduler_lateness_seconds"] == "summary"
    assert types["slaprobe_probe_checks_total"] == "counter"
    up = (("probe", "acme-web"), ("client", "acme"), ("kind", "http"))
    assert series[("slaprobe_probe_up", up)] == 1.0
    assert series[("slaprobe_build_info", (("version", "0.1.0"),))] == 1.0


def test_every_family_has_help_and_type_even_without_samples() -> None:
    types, series = strict_parse(render_metrics(snapshot()))
    assert "slaprobe_tls_cert_expiry_seconds" in types
    assert not any(name.startswith("slaprobe_probe_") for name, _ in series)


def test_unknown_values_are_left_out() -> None:
    text = render_metrics(FULL)
    assert 'probe="lo-ping",client' not in text  # up is None: no sample, not 0
    assert 'slaprobe_probe_latency_seconds{probe="lo-ping"}' not in text
    assert 'slaprobe_tls_cert_expiry_seconds{probe="lo-ping"}' not in text
    assert "None" not in text


def test_probe_without_client_gets_an_empty_client_label() -> None:
    text = render_metrics(snapshot(ProbeMetrics(id="p", kind="tcp", up=0)))
    assert 'slaprobe_probe_up{probe="p",client="",kind="tcp"} 0\n' in text


def test_checks_total_lists_up_and_down_and_any_other_result() -> None:
    probe = ProbeMetrics(id="p", kind="http", checks_total={"down": 2, "excluded": 5})
    _, series = strict_parse(render_metrics(snapshot(probe)))
    counts = {
        dict(labels)["result"]: value
        for (name, labels), value in series.items()
        if name == "slaprobe_probe_checks_total"
    }
    assert counts == {"up": 0, "down": 2, "excluded": 5}


@pytest.mark.parametrize("probe_id", HOSTILE_IDS)
def test_hostile_probe_ids_round_trip_through_the_strict_parser(probe_id: str) -> None:
    probe = ProbeMetrics(id=probe_id, kind="http", client=probe_id, up=1, latency_seconds=0.1)
    text = render_metrics(snapshot(probe))
    _, series = strict_parse(text)
    up = (("probe", probe_id), ("client", probe_id), ("kind", "http"))
    assert series[("slaprobe_probe_up", up)] == 1.0
    assert series[("slaprobe_probe_latency_seconds", (("probe", probe_id),))] == 0.1


def test_escapes_are_the_three_the_format_defines() -> None:
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert escape_label_value("tab\there") == "tab\there"


def test_prometheus_client_parser_agrees() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    probes = [ProbeMetrics(id=i, kind="http", client="c", up=1) for i in HOSTILE_IDS]
    text = render_metrics(snapshot(*probes, lateness_quantiles=((0.5, 0.1),)))
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert families["slaprobe_probe_checks"].type == "counter"
    assert families["slaprobe_scheduler_lateness_seconds"].type == "summary"
    ids = [s.labels["probe"] for s in families["slaprobe_probe_up"].samples]
    assert ids == HOSTILE_IDS


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (True, "1"),
        (0, "0"),
        (2**60, "1152921504606846976"),
        (0.25, "0.25"),
        (1e-06, "1e-06"),
        (-3.5, "-3.5"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text
    assert FLOAT.fullmatch(text)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], ()),
        ([3.0], ((0.5, 3.0), (0.99, 3.0))),
        ([4.0, 1.0, 3.0, 2.0], ((0.5, 2.0), (0.99, 4.0))),
        ([float(i) for i in range(1, 101)], ((0.5, 50.0), (0.99, 99.0))),
    ],
)
def test_quantiles_nearest_rank(
    values: list[float], expected: tuple[tuple[float, float], ...]
) -> None:
    assert quantiles(values, (0.5, 0.99)) == expected


# --- listen address --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        (":9464", ("127.0.0.1", 9464)),
        ("9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),
        ("[::]:9100", ("::", 9100)),
        ("localhost:9464", ("localhost", 9464)),
        (" 127.0.0.1:1 ", ("127.0.0.1", 1)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("127.0.0.1", "HOST:PORT"),
        ("::1:9464", "[ADDRESS]:PORT"),
        ("[::1]9464", "[ADDRESS]:PORT"),
        ("[]:9464", "empty address"),
        ("127.0.0.1:0", "1 to 65535"),
        ("127.0.0.1:65536", "1 to 65535"),
        ("127.0.0.1:http", "1 to 65535"),
        ("", "HOST:PORT"),
    ],
)
def test_parse_listen_rejects_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_listen(text)


# --- the server, over real loopback sockets -------------------------------------


def serve(
    client: Callable[[int], T],
    snapshot_fn: Callable[[], MetricsSnapshot] = lambda: FULL,
    host: str = "127.0.0.1",
    **options: Any,
) -> T:
    """Start a MetricsServer on an ephemeral port, run `client(port)` in a thread."""

    async def main() -> T:
        server = MetricsServer(host, 0, snapshot_fn, **options)
        await server.start()
        try:
            return await asyncio.to_thread(client, server.port)
        finally:
            await server.close()

    return asyncio.run(main())


def http(
    port: int, path: str, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def raw(port: int, data: bytes, pause: float = 0.0) -> bytes:
    """Send bytes as they are, then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        time.sleep(pause)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_get_metrics_returns_the_exposition() -> None:
    status, headers, body = serve(lambda port: http(port, "/metrics"))
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    assert body.decode("utf-8") == GOLDEN


def test_query_string_is_ignored() -> None:
    status, _, body = serve(lambda port: http(port, "/metrics?name[]=x"))
    assert status == 200 and body.startswith(b"# HELP")


def test_each_scrape_takes_a_fresh_snapshot() -> None:
    calls: list[int] = []

    def snapshot_fn() -> MetricsSnapshot:
        calls.append(1)
        return snapshot(checks_total=len(calls))

    def scrape_twice(port: int) -> list[bytes]:
        return [http(port, "/metrics")[2] for _ in range(2)]

    first, second = serve(scrape_twice, snapshot_fn)
    assert b"slaprobe_agent_checks_total 1\n" in first
    assert b"slaprobe_agent_checks_total 2\n" in second


def test_head_sends_the_headers_of_get_without_a_body() -> None:
    status, headers, body = serve(lambda port: http(port, "/metrics", "HEAD"))
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert int(headers["Content-Length"]) == len(GOLDEN.encode())
    assert body == b""


def test_root_points_at_metrics() -> None:
    status, headers, body = serve(lambda port: http(port, "/"))
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert b"/metrics" in body and b"<" not in body


@pytest.mark.parametrize("path", ["/metric", "/metrics/", "/favicon.ico", "/../etc/passwd"])
def test_other_paths_are_404(path: str) -> None:
    status, _, body = serve(lambda port: http(port, path))
    assert status == 404
    assert b"slaprobe_" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405(method: str) -> None:
    data = b"x=1" if method in ("POST", "PUT") else None
    status, headers, _ = serve(lambda port: http(port, "/metrics", method, data))
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_garbage_request_line_is_400() -> None:
    answer = serve(lambda port: raw(port, b"HELLO\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_oversized_request_line_is_431() -> None:
    request = b"GET /metrics?" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"
    assert serve(lambda port: raw(port, request)).startswith(b"HTTP/1.1 431 ")


def test_too_many_headers_are_431() -> None:
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 100) for i in range(100))
    request = b"GET /metrics HTTP/1.1\r\n" + headers + b"\r\n"
    assert serve(lambda port: raw(port, request)).startswith(b"HTTP/1.1 431 ")


def test_slow_client_is_timed_out() -> None:
    started = time.monotonic()
    answer = serve(lambda port: raw(port, b"GET /metrics HTTP/1.1\r\n"), timeout=0.2)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3


def test_connections_beyond_the_cap_get_503() -> None:
    def client(port: int) -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            time.sleep(0.2)  # the silent first client holds the only slot
            return http(port, "/metrics")[0]

    assert serve(client, max_connections=1) == 503


def test_bad_clients_do_not_stop_the_server() -> None:
    def client(port: int) -> int:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /met")  # then hang up mid-request
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"\xff\xfe\x00garbage\r\n\r\n")
            sock.recv(1024)
        return http(port, "/metrics")[0]

    assert serve(client) == 200


def test_a_failing_snapshot_is_500_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def snapshot_fn() -> MetricsSnapshot:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store went away")
        return FULL

    def scrape_twice(port: int) -> list[int]:
        return [http(port, "/metrics")[0] for _ in range(2)]

    assert serve(scrape_twice, snapshot_fn) == [500, 200]
    assert "store went away" in caplog.text


def test_default_listen_binds_loopback_only() -> None:
    host, port = parse_listen(":9464")
    assert (host, port) == ("127.0.0.1", 9464)

    async def main() -> list[tuple[str, int]]:
        server = MetricsServer(host, 0, lambda: FULL)  # port 0: 9464 may be taken here
        await server.start()
        try:
            return server.sockets
        finally:
            await server.close()

    bound = asyncio.run(main())
    assert [address for address, _ in bound] == ["127.0.0.1"]


def test_ipv6_loopback_when_available() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this machine")
    host, _ = parse_listen("[::1]:9464")

    def client(port: int) -> int:
        with urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=5) as response:
            return int(response.status)

    assert serve(client, host=host) == 200


def test_close_is_prompt_with_a_silent_client_connected() -> None:
    async def main() -> float:
        server = MetricsServer("127.0.0.1", 0, lambda: FULL)
        await server.start()
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await server.close()
        elapsed = time.monotonic() - started
        writer.close()
        return elapsed

    assert asyncio.run(main()) < 1.0
