"""The fast HTTP path (probes/http_wire.py) against real loopback servers.

Every check that does not follow redirects goes over `http_wire` instead of
httpx. These tests pin down its HTTP/1.1 handling (framing, segmentation,
1xx, encodings, the body cap) and, on a table of server responses, that it
reaches the same verdict as the httpx path it replaced (forced here by making
`wire_plan` return None).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Self

import pytest
from servers import HttpServer, TlsHttpServer

from slaprobe.config import Probe
from slaprobe.probes import Outcome, ProbeContext, run_check
from slaprobe.probes import http as http_mod
from slaprobe.probes.http import BODY_CAP

HOST = "127.0.0.1"
HOLD = "hold"  # keep the connection open (until the client leaves, at most 3 s)
RESET = "reset"  # close with a TCP reset


class ScriptServer:
    """Answers each connection, once the request head is in, by running `script`:
    bytes are sent as one TCP segment each (TCP_NODELAY and a short pause between
    them), a float sleeps that long, HOLD keeps the connection open, RESET resets
    it; otherwise the connection is closed (FIN) at the end. `.requests` holds the
    request heads received."""

    def __init__(self, script: list[bytes | float | str], pause: float = 0.003) -> None:
        self.script = script
        self.pause = pause
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, 0), backlog=64)
        self._listener.settimeout(0.02)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}/"
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(3)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data)
                for step in self.script:
                    if isinstance(step, float):
                        time.sleep(step)
                    elif step == HOLD:
                        try:
                            conn.recv(1)
                        except OSError:
                            pass
                        return
                    elif step == RESET:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                        return
                    else:
                        assert isinstance(step, bytes)
                        conn.sendall(step)
                        time.sleep(self.pause)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._accepter.join()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pieces(data: bytes, size: int) -> list[bytes | float | str]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def http_probe(url: str, **fields: object) -> Probe:
    return replace(Probe(id="web", kind="http", url=url, timeout=2.0), **fields)


def check(probe: Probe) -> Outcome:
    async def go() -> Outcome:
        async with ProbeContext() as ctx:
            return await run_check(probe, ctx)
    return asyncio.run(go())


def check_via_httpx(probe: Probe, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    with monkeypatch.context() as m:
        m.setattr(http_mod, "wire_plan", lambda probe, client: None)
        return check(probe)


def served(script: list[bytes | float | str], **fields: object) -> Outcome:
    with ScriptServer(script) as server:
        return check(http_probe(server.url, **fields))


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n" + trailer + b"\r\n"


OK_HEAD = b"HTTP/1.1 200 OK\r\n"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as s:
        yield s


# --- the fast path is the one taken ----------------------------------------------


def test_a_plain_check_goes_over_the_wire_path_not_httpx(server: HttpServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_httpx(*args: object, **kwargs: object) -> None:
        raise AssertionError("httpx path taken")
    monkeypatch.setattr(http_mod, "_attempt", no_httpx)
    assert check(http_probe(server.url)).ok
    assert check(http_probe(server.base_url + "/text/hello", body_contains="hell")).ok


def test_the_request_is_built_once_per_probe(server: HttpServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Probe] = []
    real = http_mod.wire_plan

    def spy(probe: Probe, client: object) -> object:
        built.append(probe)
        return real(probe, client)  # type: ignore[arg-type]
    monkeypatch.setattr(http_mod, "wire_plan", spy)
    probe = http_probe(server.url)

    async def go() -> list[Outcome]:
        async with ProbeContext() as ctx:
            return [await run_check(probe, ctx) for _ in range(5)]
    assert all(o.ok for o in asyncio.run(go()))
    assert built == [probe]


def test_a_dropped_probe_takes_its_cached_plan_with_it(server: HttpServer) -> None:
    async def go() -> tuple[int, int]:
        async with ProbeContext() as ctx:
            probes = [http_probe(server.url), http_probe(server.url, method="HEAD")]
            for probe in probes:
                assert (await run_check(probe, ctx)).ok
            cached = len(ctx.http._plans)
            del probes, probe  # a reloaded configuration drops its Probe objects
            return cached, len(ctx.http._plans)
    assert asyncio.run(go()) == (2, 0)


@pytest.mark.parametrize("fields", [
    {},
    {"method": "HEAD"},
    {"method": "post", "headers": (("Authorization", "Bearer t"), ("X-A", "1"))},
    {"headers": (("User-Agent", "custom/1"), ("Host", "example.test"))},
    {"body_contains": "ok", "headers": (("Accept-Encoding", "identity"),)},
], ids=["get", "head", "post with headers", "overridden defaults", "body search"])
def test_the_request_bytes_are_those_httpx_sends(fields: dict[str, object],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    reply = OK_HEAD + b"Content-Length: 2\r\n\r\nok"
    with ScriptServer([reply]) as server:
        probe = http_probe(server.url + "a/b?c=d&e", **fields)
        assert check(probe).ok
        assert check_via_httpx(probe, monkeypatch).ok
        wire, via_httpx = server.requests
    assert wire == via_httpx
    assert wire.startswith(f"{str(fields.get('method', 'GET')).upper()} /a/b?c=d&e HTTP/1.1\r\n"
                           .encode())


@pytest.mark.parametrize("fields", [
    {"follow_redirects": True},
    {"url": "http://user:pw@{host}/"},
    {"headers": (("X", "a\r\nInjected: 1"),)},
    {"url": "ftp://{host}/"},
])
def test_checks_needing_httpx_get_no_wire_plan(server: HttpServer,
                                               fields: dict[str, object]) -> None:
    fields = dict(fields)
    url = str(fields.pop("url", server.url)).format(host=f"{HOST}:{server.port}")
    probe = http_probe(url, **fields)

    async def go() -> object:
        async with ProbeContext() as ctx:
            return http_mod.wire_plan(probe, ctx.http.client(True))
    assert asyncio.run(go()) is None


# --- framing and segmentation ------------------------------------------------------


def test_chunked_body_is_searched_across_chunks() -> None:
    body = chunked(b"all sys", b"tems", b" go")
    head = OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert served([head, *pieces(body, 3)], body_contains="systems go").ok


def test_chunked_body_without_the_text_counts_the_bytes_read() -> None:
    body = chunked(b"abc", b"defg", trailer=b"X-Trailer: yes\r\n")
    outcome = served([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body],
                     body_contains="zzz")
    assert outcome.error == "body: expected text not in the 7 bytes read"


def test_body_split_across_many_segments_is_found() -> None:
    body = b"x" * 3000 + b"needle in the haystack" + b"y" * 100
    head = OK_HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
    assert served([head, *pieces(body, 7)[:450], *pieces(body, 7)[450:]],
                  body_contains="needle in the").ok


def test_headers_split_across_segments_are_parsed() -> None:
    reply = OK_HEAD + b"Content-Type: text/plain\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"
    assert served(pieces(reply, 3), body_contains="hello").ok
    # the blank line itself split between CR and LF
    cut = reply.index(b"\r\n\r\n") + 3
    assert served([reply[:cut], reply[cut:]], body_contains="hello").ok


def test_body_without_content_length_is_read_to_eof() -> None:
    assert served([OK_HEAD + b"\r\nsome ", b"text at the", b" end"], body_contains="the end").ok
    outcome = served([OK_HEAD + b"\r\nsome ", b"text"], body_contains="missing")
    assert outcome.error == "body: expected text not in the 9 bytes read"


def test_head_response_with_content_length_has_no_body_to_wait_for() -> None:
    started = time.perf_counter()
    outcome = served([OK_HEAD + b"Content-Length: 1000\r\n\r\n", HOLD],
                     method="HEAD", body_contains="x", timeout=1.0)
    assert outcome.error == "body: expected text not in the 0 bytes read"
    assert time.perf_counter() - started < 0.8


def test_head_response_without_a_body_search_is_up(server: HttpServer) -> None:
    with ScriptServer([OK_HEAD + b"Content-Length: 1000\r\n\r\n", HOLD]) as script:
        assert check(http_probe(script.url, method="HEAD")).ok


@pytest.mark.parametrize("informational", [
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n",
])
def test_informational_responses_are_skipped(informational: bytes) -> None:
    reply = OK_HEAD + b"Content-Length: 5\r\n\r\nhello"
    assert served([informational, reply], body_contains="hello").ok
    outcome = served([informational + b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"])
    assert outcome.error == "status: got 503, expected 2xx/3xx"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip, deflate"])
def test_encoded_chunked_body_is_decoded_before_the_search(coding: str) -> None:
    data = b"x" * 20000 + b"all is well" + b"y" * 50
    for one in coding.split(", "):
        data = gzip.compress(data) if one == "gzip" else zlib.compress(data)
    head = OK_HEAD + f"Content-Encoding: {coding}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    assert served([head, *pieces(chunked(*pieces(data, 100)), 500)],  # type: ignore[arg-type]
                  body_contains="all is well").ok


def test_body_over_the_cap_is_read_only_up_to_the_cap() -> None:
    body = b"x" * (BODY_CAP + 1000) + b"needle"
    outcome = served([OK_HEAD + b"Content-Length: %d\r\n\r\n" % len(body), body],
                     body_contains="needle")
    assert outcome.error == f"body: expected text not in the {BODY_CAP} bytes read (read limit)"
    # just under the cap is still searched
    body = b"x" * (BODY_CAP - 6) + b"needle"
    assert served([OK_HEAD + b"Content-Length: %d\r\n\r\n" % len(body), body],
                  body_contains="needle").ok


def test_a_failed_status_does_not_wait_for_the_body() -> None:
    started = time.perf_counter()
    outcome = served([b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n", HOLD],
                     body_contains="x", timeout=1.0)
    assert outcome.error == "status: got 500, expected 2xx/3xx"
    assert time.perf_counter() - started < 0.8


def test_a_body_that_stops_coming_times_out_in_the_body_phase() -> None:
    outcome = served([OK_HEAD + b"Content-Length: 100\r\n\r\nabc", HOLD],
                     body_contains="x", timeout=0.3)
    assert outcome.error == "timeout: body not read within 300ms"


def test_an_incomplete_head_times_out_in_the_response_phase() -> None:
    outcome = served([OK_HEAD + b"Content-Le", HOLD], timeout=0.3)
    assert outcome.error == "timeout: no response within 300ms"


def test_an_endless_head_is_malformed_not_a_memory_sink() -> None:
    outcome = served([OK_HEAD] + [b"X-Filler: " + b"a" * 1000 + b"\r\n"] * 150 + [HOLD],
                     timeout=2.0)
    assert outcome.error == "protocol: malformed HTTP response"


def test_latency_covers_the_body_when_it_is_searched() -> None:
    outcome = served([OK_HEAD + b"Content-Length: 6\r\n\r\nabc", 0.3, b"def"],
                     body_contains="def")
    assert outcome.ok and outcome.latency_ms is not None and outcome.latency_ms >= 300


def test_https_over_the_wire_path_records_certificate_days(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_httpx(*args: object, **kwargs: object) -> None:
        raise AssertionError("httpx path taken")
    monkeypatch.setattr(http_mod, "_attempt", no_httpx)
    with TlsHttpServer() as tls:
        outcome = check(http_probe(tls.base_url + "/text/secure", verify_tls=False,
                                   body_contains="secure"))
        assert outcome.ok, outcome
        assert outcome.cert_days == pytest.approx(tls.cert.days_left, abs=0.01)
        assert tls.seen[-1].headers["host"] == f"{HOST}:{tls.port}"


def test_cross_origin_redirect_drops_the_configured_headers() -> None:
    with HttpServer() as target, ScriptServer(
            [f"HTTP/1.1 302 Found\r\nLocation: {target.base_url}/text/landed\r\n"
             "Content-Length: 0\r\n\r\n".encode()]) as origin:
        outcome = check(http_probe(origin.url, follow_redirects=True, body_contains="landed",
                                   headers=(("X-Api-Key", "s3cret"),)))
        seen = target.seen[-1]
    assert outcome.ok, outcome
    assert b"x-api-key: s3cret" in origin.requests[0].lower()
    assert "x-api-key" not in seen.headers


# --- the same verdict as the httpx path ---------------------------------------------


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


PARITY: dict[str, tuple[list[bytes | float | str], dict[str, object]]] = {
    "200 content-length": ([OK_HEAD + b"Content-Length: 2\r\n\r\nok"], {}),
    "200 search found": ([OK_HEAD + b"Content-Length: 5\r\n\r\nhello"], {"body_contains": "ell"}),
    "200 search missing": ([OK_HEAD + b"Content-Length: 5\r\n\r\nhello"], {"body_contains": "z"}),
    "empty needle": ([OK_HEAD + b"Content-Length: 5\r\n\r\nhello"], {"body_contains": ""}),
    "no reason phrase": ([b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"], {}),
    "http/1.0 to eof": ([b"HTTP/1.0 200 OK\r\n\r\nabc"], {"body_contains": "abc"}),
    "bare LF lines": ([b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"], {"body_contains": "ok"}),
    "folded header": ([OK_HEAD + b"X-A: b\r\n  c\r\nContent-Length: 2\r\n\r\nok"], {}),
    "fold at start": ([OK_HEAD + b" X-A: b\r\nContent-Length: 2\r\n\r\nok"], {}),
    "204 with length": ([b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", HOLD],
                        {"body_contains": "x", "timeout": 0.5}),
    "304": ([b"HTTP/1.1 304 Not Modified\r\n\r\n", HOLD], {"expect_status": (304,)}),
    "404": ([b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"], {}),
    "302 unfollowed": ([b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"], {}),
    "101 unasked": ([b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n"], {}),
    "099": ([b"HTTP/1.1 099 Odd\r\n\r\n" + OK_HEAD + b"\r\n"], {}),
    "1xx then eof": ([b"HTTP/1.1 100 Continue\r\n\r\n"], {}),
    "garbage": ([b"\x00\xffSSH-2.0 garbage\r\n\r\n"], {}),
    "garbage then silence": ([b"\x00\xff not http", HOLD], {"timeout": 0.5}),
    "leading blank line": ([b"\r\n" + OK_HEAD + b"Content-Length: 0\r\n\r\n"], {}),
    "bad status line": ([b"HTTP/1.1 2000 OK\r\n\r\n"], {}),
    "lowercase http": ([b"http/1.1 200 OK\r\n\r\n"], {}),
    "space in name": ([OK_HEAD + b"Bad Name: x\r\nContent-Length: 0\r\n\r\n"], {}),
    "no colon": ([OK_HEAD + b"NoColon\r\nContent-Length: 0\r\n\r\n"], {}),
    "bad content-length": ([OK_HEAD + b"Content-Length: 1x\r\n\r\n"], {}),
    "conflicting lengths": ([OK_HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nok"], {}),
    "same length twice": ([OK_HEAD + b"Content-Length: 2, 2\r\n\r\nok"], {"body_contains": "ok"}),
    "gzip transfer-encoding": ([OK_HEAD + b"Transfer-Encoding: gzip\r\n\r\n"], {}),
    "two transfer-encodings": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], {}),
    "te beats cl": ([OK_HEAD + b"Content-Length: 100\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
                     + chunked(b"abc")], {"body_contains": "abc"}),
    "chunked missing": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"abc")],
                        {"body_contains": "zzz"}),
    "chunk ext": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n"],
                  {"body_contains": "zzz"}),
    "bad chunk size": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"],
                       {"body_contains": "zzz"}),
    "bad chunk footer": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n"],
                         {"body_contains": "zzz"}),
    "eof mid chunk": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n9\r\nabc"],
                      {"body_contains": "zzz"}),
    "eof mid chunk line": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1"],
                           {"body_contains": "zzz"}),
    "eof in trailer": ([OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n"],
                       {"body_contains": "zzz"}),
    "eof mid length": ([OK_HEAD + b"Content-Length: 10\r\n\r\nabc"], {"body_contains": "zzz"}),
    "eof mid head": ([OK_HEAD + b"Content-Le"], {}),
    "eof before anything": ([], {}),
    "reset mid head": ([OK_HEAD + b"Content-Le", 0.05, RESET], {}),
    "gzip found": ([OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                    % len(_gz(b"hello")) + _gz(b"hello")], {"body_contains": "hello"}),
    "corrupt gzip": ([OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"],
                     {"body_contains": "x"}),
    "unknown coding": ([OK_HEAD + b"Content-Encoding: br\r\nContent-Length: 3\r\n\r\nabc"],
                       {"body_contains": "x"}),
    "unknown coding unread": ([OK_HEAD + b"Content-Encoding: br\r\nContent-Length: 3\r\n\r\nabc"],
                              {}),
    "head request": ([OK_HEAD + b"Content-Length: 9\r\n\r\n"], {"method": "HEAD",
                                                               "body_contains": "x"}),
    "slow": ([0.15, OK_HEAD + b"Content-Length: 0\r\n\r\n"], {"max_latency": 0.05}),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_wire_path_and_httpx_path_reach_the_same_verdict(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    script, fields = PARITY[name]
    with ScriptServer(script) as server:
        probe = http_probe(server.url, **fields)
        wire = check(probe)
        via_httpx = check_via_httpx(probe, monkeypatch)
    assert (wire.ok, verdict(wire.error), wire.latency_ms is None, wire.cert_days) == (
        via_httpx.ok, verdict(via_httpx.error), via_httpx.latency_ms is None,
        via_httpx.cert_days), name


def verdict(error: str | None) -> str | None:
    """The error without the measured figures a "slow" message holds."""
    return "slow" if error is not None and error.startswith("slow:") else error
