"""The fast HTTP path (probes/http_wire.py) against real loopback servers.

Checks go over `http_wire` instead of httpx, redirects followed included.
These tests pin down its HTTP/1.1 handling (framing, segmentation, 1xx,
encodings, the body cap), its redirects (method changes, Location forms,
cross-origin header stripping, the redirect cap, redirect bodies) and, on
tables of server behaviours, that it reaches the same verdict and sends the
same bytes as the httpx path it replaced (forced here by making `wire_plan`
return None).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from servers import AcceptLoop, HttpServer, TlsCert, TlsHttpServer, closed_port, make_cert

from slaprobe.config import Probe
from slaprobe.probes import Outcome, ProbeContext, run_check
from slaprobe.probes import http as http_mod
from slaprobe.probes.http import BODY_CAP

HOST = "127.0.0.1"
HOLD = "hold"  # keep the connection open (until the client leaves, at most 3 s)
RESET = "reset"  # close with a TCP reset


Step = bytes | float | str
Script = list[Step]
Routes = dict[str, Script | Callable[[str], Script]]


class ScriptServer(AcceptLoop):
    """Answers each connection, once the request head is in, by running `script`:
    bytes are sent as one TCP segment each (TCP_NODELAY and a short pause between
    them), a float sleeps that long, HOLD keeps the connection open, RESET resets
    it; otherwise the connection is closed (FIN) at the end. `.requests` holds the
    request heads received.

    `script` may instead be routes: {request target: script, or a function of the
    target returning one}; a target not there gets a 404. `tls` serves HTTPS."""

    def __init__(self, script: Script | Routes, pause: float = 0.003,
                 tls: TlsCert | None = None) -> None:
        self.script = script
        self.pause = pause
        self.requests: list[bytes] = []
        self._tls = tls.server_context() if tls is not None else None
        self.scheme = "https" if tls else "http"
        self._threads: list[threading.Thread] = []
        super().__init__(backlog=64)

    def _on_conn(self, conn: socket.socket) -> None:
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(3)
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            self._run(conn)
        except OSError:
            return
        finally:
            conn.close()

    def _run(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        self.requests.append(data)
        script = self.script
        if isinstance(script, dict):
            target = data.split(b" ", 2)[1].decode("latin-1")
            route = script.get(target, [NOT_FOUND])
            script = route(target) if callable(route) else route
        for step in script:
            if isinstance(step, float):
                time.sleep(step)
            elif step == HOLD:
                try:
                    conn.recv(1)
                except OSError:
                    pass
                return
            elif step == RESET:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            else:
                assert isinstance(step, bytes)
                conn.sendall(step)
                time.sleep(self.pause)

    def close(self) -> None:
        super().close()
        for thread in self._threads:
            thread.join(5)


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def pieces(data: bytes, size: int) -> list[bytes | float | str]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def http_probe(url: str, **fields: object) -> Probe:
    return replace(Probe(id="web", kind="http", url=url, timeout=2.0),
                   **fields)  # type: ignore[arg-type]


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
    filler: Script = [b"X-Filler: " + b"a" * 1000 + b"\r\n"] * 150
    outcome = served([OK_HEAD, *filler, HOLD],
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


# --- redirects on the wire path --------------------------------------------------------

LANDED = OK_HEAD + b"Content-Length: 6\r\n\r\nlanded"


def moved(status: int, location: bytes | None, extra: bytes = b"",
          body: bytes = b"") -> bytes:
    """A redirect response; `extra` header lines (each ending CRLF) go before the body."""
    head = b"HTTP/1.1 %d Moved\r\n" % status
    if location is not None:
        head += b"Location: " + location + b"\r\n"
    if b"content-length" not in extra.lower() and b"transfer-encoding" not in extra.lower():
        extra += b"Content-Length: %d\r\n" % len(body)
    return head + extra + b"\r\n" + body


def no_httpx(*args: object, **kwargs: object) -> None:
    raise AssertionError("httpx path taken")


def test_followed_redirects_go_over_the_wire_path_not_httpx(
        server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "_attempt", no_httpx)
    probe = http_probe(server.base_url + "/redirect/3", follow_redirects=True,
                       expect_status=(200,), body_contains="redirected")
    assert check(probe).ok
    assert check(http_probe(server.url, follow_redirects=True)).ok  # no redirect at all


def test_a_probe_following_redirects_gets_a_wire_plan(server: HttpServer) -> None:
    async def go() -> object:
        async with ProbeContext() as ctx:
            return http_mod.wire_plan(http_probe(server.url, follow_redirects=True),
                                      ctx.http.client(True))
    plan = asyncio.run(go())
    assert plan is not None and plan.follow is not None  # type: ignore[attr-defined]


def test_each_hop_is_built_once_per_probe(server: HttpServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[int, str]] = []
    real = http_mod._Hops._build

    def spy(self: object, previous: object, status: int, location: str) -> object:
        built.append((status, location))
        return real(self, previous, status, location)  # type: ignore[arg-type]
    monkeypatch.setattr(http_mod._Hops, "_build", spy)
    probe = http_probe(server.base_url + "/redirect/3", follow_redirects=True,
                       body_contains="redirected")

    async def go() -> list[Outcome]:
        async with ProbeContext() as ctx:
            return [await run_check(probe, ctx) for _ in range(4)]
    assert all(o.ok for o in asyncio.run(go()))
    assert built == [(302, "/redirect/2"), (302, "/redirect/1"), (302, "/redirect/0")]


def test_a_new_location_every_time_keeps_the_hop_cache_bounded() -> None:
    count = iter(range(10**6))
    routes: Routes = {"/start": lambda target: [moved(302, b"/end?n=%d" % next(count))]}
    routes.update({f"/end?n={n}": [LANDED] for n in range(60)})
    with ScriptServer(routes) as origin:
        probe = http_probe(origin.base_url + "/start", follow_redirects=True,
                           body_contains="landed")

        async def go() -> tuple[list[Outcome], int]:
            async with ProbeContext() as ctx:
                outcomes = [await run_check(probe, ctx) for _ in range(50)]
                plan = ctx.http._plans[id(probe)][1]
                assert plan is not None and plan.follow is not None
                return outcomes, len(plan.follow._cache)  # type: ignore[attr-defined]
        outcomes, cached = asyncio.run(go())
    assert all(o.ok for o in outcomes)
    assert 0 < cached <= http_mod._Hops.LIMIT


def test_a_huge_location_is_followed_but_not_cached() -> None:
    target = "/end?" + "q" * 3000
    with ScriptServer({"/start": [moved(302, target.encode())], target: [LANDED]}) as origin:
        probe = http_probe(origin.base_url + "/start", follow_redirects=True,
                           body_contains="landed")

        async def go() -> tuple[list[Outcome], int]:
            async with ProbeContext() as ctx:
                outcomes = [await run_check(probe, ctx) for _ in range(2)]
                plan = ctx.http._plans[id(probe)][1]
                assert plan is not None and plan.follow is not None
                return outcomes, len(plan.follow._cache)  # type: ignore[attr-defined]
        outcomes, cached = asyncio.run(go())
    assert all(o.ok for o in outcomes), outcomes
    assert cached == 0


def test_303_turns_a_post_into_a_get_without_its_body_headers() -> None:
    with ScriptServer({"/start": [moved(303, b"/end")], "/end": [LANDED]}) as origin:
        outcome = check(http_probe(origin.base_url + "/start", method="POST",
                                   follow_redirects=True, body_contains="landed"))
        first, second = origin.requests
    assert outcome.ok, outcome
    assert first.startswith(b"POST /start HTTP/1.1\r\n") and b"Content-Length: 0" in first
    assert second.startswith(b"GET /end HTTP/1.1\r\n")
    assert b"content-length" not in second.lower()


@pytest.mark.parametrize(("location", "landing"), [
    (b"/end", "/end"),  # absolute path
    (b"end", "/dir/end"),  # relative path
    (b"../up", "/up"),  # dot segments
    (b"?q=1", "/dir/start?q=1"),  # query only
    (b"{A}/end", "/end"),  # absolute URL
    (b"//{a}/end", "/end"),  # scheme-relative
])
def test_relative_and_absolute_locations_are_resolved_against_the_current_url(
        location: bytes, landing: str) -> None:
    with ScriptServer({}) as origin:
        location = location.replace(b"{A}", origin.base_url.encode()).replace(
            b"{a}", f"{HOST}:{origin.port}".encode())
        origin.script = {"/dir/start": [moved(302, location)], landing: [LANDED]}
        outcome = check(http_probe(origin.base_url + "/dir/start", follow_redirects=True,
                                   body_contains="landed"))
    assert outcome.ok, outcome


def test_cross_origin_redirect_and_back_drops_configured_headers_only_away() -> None:
    headers = (("X-Api-Key", "s3cret"), ("Authorization", "Bearer t"))
    with ScriptServer({}) as a, ScriptServer({}) as b:
        a.script = {"/start": [moved(302, f"{b.base_url}/hop".encode())], "/end": [LANDED]}
        b.script = {"/hop": [moved(307, f"{a.base_url}/end".encode())]}
        outcome = check(http_probe(a.base_url + "/start", follow_redirects=True,
                                   body_contains="landed", headers=headers))
        (start, end), (hop,) = [r.lower() for r in a.requests], [r.lower() for r in b.requests]
    assert outcome.ok, outcome
    assert b"x-api-key: s3cret" in start and b"authorization: bearer t" in start
    assert b"x-api-key" not in hop and b"authorization" not in hop
    assert f"host: {HOST}:{b.port}".encode() in hop
    # back on the first origin: the configured headers again, but httpx dropped
    # Authorization for good when it left the origin
    assert b"x-api-key: s3cret" in end and b"authorization" not in end


def test_ten_redirects_are_followed_and_the_eleventh_fails(
        server: HttpServer) -> None:
    before = server.requests
    assert check(http_probe(server.base_url + "/redirect/10", follow_redirects=True,
                            body_contains="redirected")).ok
    assert server.requests - before == 11
    before = server.requests
    outcome = check(http_probe(server.base_url + "/redirect/11", follow_redirects=True))
    assert outcome.error == "protocol: more than 10 redirects"
    assert server.requests - before == 11


def test_latency_spans_the_whole_redirect_chain() -> None:
    routes: Routes = {"/start": [0.2, moved(302, b"/end")], "/end": [0.1, LANDED]}
    with ScriptServer(routes) as origin:
        outcome = check(http_probe(origin.base_url + "/start", follow_redirects=True,
                                   body_contains="landed"))
    assert outcome.ok and outcome.latency_ms is not None and outcome.latency_ms >= 300


def test_a_redirect_body_that_stops_coming_is_a_response_timeout() -> None:
    routes: Routes = {"/start": [moved(302, b"/end", b"Content-Length: 100\r\n", b"abc"),
                                 HOLD]}
    with ScriptServer(routes) as origin:
        outcome = check(http_probe(origin.base_url + "/start", follow_redirects=True,
                                   timeout=0.3))
    assert outcome.error == "timeout: no response within 300ms"


# Redirect scenarios run through both paths: the same verdict, and every server sees
# the same request bytes. Two origins, A and B; in the bytes {A}/{B} are their base
# URLs, {b} B's host:port, {closed} a port nothing listens on. "tls" serves A or B
# over HTTPS.
def _scenarios() -> dict[str, tuple[Routes, Routes, str, dict[str, object]]]:
    def r(status: int, location: bytes | None, extra: bytes = b"", body: bytes = b"",
          then: Script = ()) -> Script:  # type: ignore[assignment]
        return [moved(status, location, extra, body), *then]
    end: Routes = {"/end": [LANDED]}
    find: dict[str, object] = {"body_contains": "landed"}
    post: dict[str, object] = {"method": "POST", **find}
    secret: dict[str, object] = {"headers": (("X-Api-Key", "s3cret"), ("Authorization", "Bearer t"),
                          ("Accept", "text/plain")), **find}
    huge = b"x" * (BODY_CAP + 100)
    return {
        "302 relative": ({"/start": r(302, b"/end"), **end}, {}, "/start", find),
        "301 absolute": ({"/start": r(301, b"{A}/end"), **end}, {}, "/start", find),
        "303 post": ({"/start": r(303, b"/end"), **end}, {}, "/start", post),
        "302 post": ({"/start": r(302, b"/end"), **end}, {}, "/start", post),
        "301 post": ({"/start": r(301, b"/end"), **end}, {}, "/start", post),
        "307 post": ({"/start": r(307, b"/end"), **end}, {}, "/start", post),
        "308 post": ({"/start": r(308, b"/end"), **end}, {}, "/start", post),
        "301 put": ({"/start": r(301, b"/end"), **end}, {}, "/start", {"method": "PUT"}),
        "302 put": ({"/start": r(302, b"/end"), **end}, {}, "/start", {"method": "PUT"}),
        "303 delete": ({"/start": r(303, b"/end"), **end}, {}, "/start", {"method": "DELETE"}),
        "303 head": ({"/start": r(303, b"/end"), **end}, {}, "/start", {"method": "HEAD"}),
        "302 head with length": ({"/start": r(302, b"/end", b"Content-Length: 50\r\n"), **end},
                                 {}, "/start", {"method": "HEAD"}),
        "cross origin": ({"/start": r(302, b"{B}/end")}, end, "/start", secret),
        "cross origin and back": ({"/start": r(302, b"{B}/hop"), **end},
                                  {"/hop": r(308, b"{A}/end")}, "/start", secret),
        "cross origin configured host": ({"/start": r(302, b"{B}/end")}, end, "/start",
                                         {"headers": (("Host", "example.test"),)}),
        "same origin configured host": ({"/start": r(302, b"/end"), **end}, {}, "/start",
                                        {"headers": (("Host", "example.test"),)}),
        "same origin cookie": ({"/start": r(302, b"/end"), **end}, {}, "/start",
                               {"headers": (("Cookie", "a=b"), ("X-A", "1"))}),
        "userinfo in location": ({"/start": r(302, b"http://u:p@{b}/end")}, end, "/start",
                                 find),
        "fragment kept": ({"/start?x=1": r(302, b"/end"), **end}, {}, "/start?x=1#frag",
                          find),
        "query in location": ({"/start": r(302, b"/end?y=2"), "/end?y=2": [LANDED]}, {},
                              "/start", find),
        "no location": ({"/start": r(302, None)}, {}, "/start", {}),
        "no location expect 200": ({"/start": r(302, None)}, {}, "/start",
                                   {"expect_status": (200,)}),
        "expect 302 but followed": ({"/start": r(302, b"/end"), **end}, {}, "/start",
                                    {"expect_status": (302,)}),
        "300 not followed": ({"/start": r(300, b"/end"), **end}, {}, "/start", {}),
        "empty location loops": ({"/start": r(302, b"")}, {}, "/start", {}),
        "self loop": ({"/start": r(302, b"/start")}, {}, "/start", {}),
        "control character": ({"/start": r(302, b"/a\x01b")}, {}, "/start", {}),
        "invalid url": ({"/start": r(302, b"http://[::1/x")}, {}, "/start", {}),
        "bad port": ({"/start": r(302, b"http://127.0.0.1:99999/")}, {}, "/start", {}),
        "space in location": ({"/start": r(302, b"/a b"), "/a%20b": [LANDED]}, {}, "/start",
                              find),
        "utf-8 location": ({"/start": r(302, b"/caf\xc3\xa9"), "/caf%C3%A9": [LANDED]}, {},
                           "/start", find),
        "latin-1 location": ({"/start": r(302, b"/caf\xe9"), "/caf%C3%A9": [LANDED]}, {},
                             "/start", find),
        "utf-8 location, latin-1 elsewhere": (
            {"/start": r(302, b"/caf\xc3\xa9", b"X-Other: \xff\r\n")}, {}, "/start", {}),
        "two locations": ({"/start": [(b"HTTP/1.1 302 Found\r\nLocation: /end\r\n"
                                       b"Location: /other\r\nContent-Length: 0\r\n\r\n")]},
                          {}, "/start", {}),
        "ftp location": ({"/start": r(302, b"ftp://{b}/end")}, {}, "/start", {}),
        "mailto location": ({"/start": r(302, b"mailto:someone@example.test")}, {}, "/start",
                            {}),
        "closed port": ({"/start": r(302, b"http://127.0.0.1:{closed}/")}, {}, "/start", {}),
        "then 404": ({"/start": r(302, b"/missing")}, {}, "/start", {}),
        "then body missing": ({"/start": r(302, b"/end"), **end}, {}, "/start",
                              {"body_contains": "nope"}),
        "1xx before redirect": ({"/start": [b"HTTP/1.1 100 Continue\r\n\r\n",
                                            *r(302, b"/end")], **end}, {}, "/start", find),
        "malformed redirect": ({"/start": [(b"HTTP/1.1 302 Found\r\nLocation: /end\r\n"
                                            b"Bad Name: x\r\n\r\n")], **end}, {}, "/start", {}),
        "redirect body": ({"/start": r(302, b"/end", body=b"see /end"), **end}, {}, "/start",
                          find),
        "chunked redirect body": ({"/start": r(302, b"/end", b"Transfer-Encoding: chunked\r\n",
                                               chunked(b"see", b" /end")), **end},
                                  {}, "/start", find),
        "redirect body to eof": ({"/start": [(b"HTTP/1.1 302 Found\r\nLocation: /end\r\n\r\n"
                                              b"see /end")], **end}, {}, "/start", find),
        "gzip redirect body": ({"/start": r(302, b"/end", b"Content-Encoding: gzip\r\n",
                                            _gz(b"see /end")), **end}, {}, "/start", find),
        "corrupt gzip redirect body": ({"/start": r(302, b"/end", b"Content-Encoding: gzip\r\n",
                                                    b"not gzip!"), **end}, {}, "/start", find),
        "br redirect body": ({"/start": r(302, b"/end", b"Content-Encoding: br\r\n", b"abc"),
                              **end}, {}, "/start", find),
        "br empty redirect body": ({"/start": r(302, b"/end", b"Content-Encoding: br\r\n"),
                                    **end}, {}, "/start", find),
        "truncated redirect body": ({"/start": r(302, b"/end", b"Content-Length: 10\r\n",
                                                 b"abc"), **end}, {}, "/start", find),
        "bad chunked redirect body": ({"/start": r(302, b"/end",
                                                   b"Transfer-Encoding: chunked\r\n", b"zz\r\n")},
                                      {}, "/start", {}),
        "huge redirect body": ({"/start": [b"HTTP/1.1 302 Found\r\nLocation: /end\r\n\r\n",
                                           huge, HOLD], **end}, {}, "/start", find),
        "huge framed redirect body": ({"/start": r(302, b"/end", b"Content-Length: %d\r\n"
                                                   % (len(huge) + 10), huge, [HOLD]), **end},
                                      {}, "/start", find),
        "redirect body hangs": ({"/start": r(302, b"/end", b"Content-Length: 10\r\n", b"abc",
                                             [HOLD])}, {}, "/start", {"timeout": 0.5}),
        "slow redirect": ({"/start": [0.15, *r(302, b"/end")], **end}, {}, "/start",
                          {"max_latency": 0.05}),
        "https to http": ({"/start": r(302, b"{B}/end")}, end, "/start",
                          {"tls": "a", **secret}),
        "http to https": ({"/start": r(301, b"{B}/end")}, end, "/start",
                          {"tls": "b", **secret}),
        "https same origin": ({"/start": r(302, b"/end"), **end}, {}, "/start",
                              {"tls": "a", **find}),
    }


REDIRECTS = _scenarios()


@pytest.mark.parametrize("name", list(REDIRECTS))
def test_redirects_on_both_paths_reach_the_same_verdict_with_the_same_requests(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    routes_a, routes_b, start, fields = REDIRECTS[name]
    fields = dict(fields)
    tls = fields.pop("tls", None)
    cert = make_cert()
    with ScriptServer({}, tls=cert if tls == "a" else None) as a, \
            ScriptServer({}, tls=cert if tls == "b" else None) as b:
        closed = closed_port()

        def fill(step: Step) -> Step:
            if not isinstance(step, bytes):
                return step
            return (step.replace(b"{A}", a.base_url.encode())
                    .replace(b"{B}", b.base_url.encode())
                    .replace(b"{b}", f"{HOST}:{b.port}".encode())
                    .replace(b"{closed}", str(closed).encode()))
        a.script = {k: [fill(s) for s in v] for k, v in routes_a.items()}  # type: ignore[union-attr]
        b.script = {k: [fill(s) for s in v] for k, v in routes_b.items()}  # type: ignore[union-attr]
        probe = http_probe(a.base_url + start, follow_redirects=True, verify_tls=False,
                           **fields)
        wire = check(probe)
        seen = len(a.requests), len(b.requests)
        via_httpx = check_via_httpx(probe, monkeypatch)
    assert (wire.ok, verdict(wire.error), wire.latency_ms is None) == (
        via_httpx.ok, verdict(via_httpx.error), via_httpx.latency_ms is None), name
    assert (wire.cert_days is None) == (via_httpx.cert_days is None), name
    if wire.cert_days is not None:
        assert wire.cert_days == pytest.approx(via_httpx.cert_days, abs=0.01)
    assert a.requests[:seen[0]] == a.requests[seen[0]:], name
    assert b.requests[:seen[1]] == b.requests[seen[1]:], name
