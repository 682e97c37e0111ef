"""HTTP(S) checks against real loopback servers (tests/servers.py)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest
from servers import (
    EndlessBodyServer,
    HangServer,
    HttpServer,
    RawServer,
    TlsHttpServer,
    closed_port,
    make_cert,
)

from slaprobe.checks import ERROR_KINDS
from slaprobe.config import Probe
from slaprobe.probes import Outcome, ProbeContext, run_check
from slaprobe.probes.http import BODY_CAP, body_contains, expected_text, status_ok


def http_probe(url: str, **fields: object) -> Probe:
    return replace(Probe(id="web", kind="http", url=url, timeout=2.0), **fields)


def check(probe: Probe) -> Outcome:
    async def go() -> Outcome:
        async with ProbeContext() as ctx:
            return await run_check(probe, ctx)
    return asyncio.run(go())


def timed_check(probe: Probe) -> tuple[Outcome, float]:
    started = time.perf_counter()
    outcome = check(probe)
    return outcome, time.perf_counter() - started


def kind(outcome: Outcome) -> str | None:
    return None if outcome.error is None else outcome.error.split(":", 1)[0]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as s:
        yield s


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsHttpServer]:
    with TlsHttpServer() as s:
        yield s


@pytest.fixture(scope="module")
def hang() -> Iterator[HangServer]:
    with HangServer() as s:
        yield s


# --- status, body, latency ---------------------------------------------------


def test_200_is_up_with_latency(server: HttpServer) -> None:
    outcome = check(http_probe(server.url))
    assert outcome.ok, outcome
    assert outcome.error is None
    assert outcome.latency_ms is not None and 0 < outcome.latency_ms < 2000
    assert outcome.cert_days is None


def test_503_fails_with_status_kind(server: HttpServer) -> None:
    outcome = check(http_probe(server.base_url + "/status/503"))
    assert not outcome.ok
    assert outcome.error == "status: got 503, expected 2xx/3xx"
    assert outcome.latency_ms is not None


def test_expect_status_accepts_only_the_listed_codes(server: HttpServer) -> None:
    assert check(http_probe(server.base_url + "/status/204", expect_status=(204,))).ok
    outcome = check(http_probe(server.url, expect_status=(204, 205)))
    assert outcome.error == "status: got 200, expected 204/205"


@pytest.mark.parametrize(
    ("status", "expected", "ok"),
    [(200, (), True), (301, (), True), (399, (), True), (199, (), False), (404, (), False),
     (503, (), False), (503, (503,), True), (200, (204,), False)],
)
def test_status_ok_defaults_to_2xx_and_3xx(status: int, expected: tuple[int, ...],
                                           ok: bool) -> None:
    assert status_ok(status, expected) is ok


def test_expected_text() -> None:
    assert expected_text(()) == "2xx/3xx"
    assert expected_text((200, 204)) == "200/204"


def test_body_contains_present_is_up(server: HttpServer) -> None:
    probe = http_probe(server.base_url + "/text/all%20systems%20go", body_contains="systems")
    assert check(probe).ok


def test_body_contains_missing_fails_with_body_kind(server: HttpServer) -> None:
    outcome = check(http_probe(server.base_url + "/text/degraded", body_contains="healthy"))
    assert not outcome.ok
    assert kind(outcome) == "body"
    assert "healthy" not in (outcome.error or "")  # the message stays short and generic


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "needle", "found"),
    [
        ([b"hello ", b"world"], b"lo wo", True),  # across a chunk border
        ([b"h", b"e", b"l", b"l", b"o"], b"hello", True),
        ([b"abc"], b"abcd", False),
        ([], b"", True),
        ([b"x" * BODY_CAP, b"needle"], b"needle", False),  # beyond the read limit
    ],
)
def test_body_search_spans_chunks_and_stops_at_the_cap(parts: list[bytes], needle: bytes,
                                                       found: bool) -> None:
    async def go() -> tuple[bool, int]:
        response = httpx.Response(200, content=_chunks(parts))
        try:
            return await body_contains(response, needle)
        finally:
            await response.aclose()
    assert asyncio.run(go())[0] is found


def test_slower_than_max_latency_fails_with_slow_kind(server: HttpServer) -> None:
    outcome = check(http_probe(server.base_url + "/sleep/300", max_latency=0.1))
    assert not outcome.ok
    assert kind(outcome) == "slow"
    assert outcome.latency_ms is not None and outcome.latency_ms >= 300


def test_method_and_headers_reach_the_server_and_values_never_reach_errors() -> None:
    with HttpServer() as server:
        probe = http_probe(server.base_url + "/status/500", method="POST",
                           headers=(("Authorization", "Bearer s3cret"), ("X-Probe", "yes")))
        outcome = check(probe)
        seen = server.seen[-1]
    assert (seen.method, seen.headers["authorization"], seen.headers["x-probe"]) == (
        "POST", "Bearer s3cret", "yes")
    assert seen.headers["user-agent"].startswith("slaprobe/")
    assert "s3cret" not in (outcome.error or "")


def test_url_credentials_never_reach_errors() -> None:
    outcome = check(http_probe(f"http://admin:hunter2@127.0.0.1:{closed_port()}/"))
    assert kind(outcome) == "refused"
    assert "hunter2" not in (outcome.error or "")


# --- bounded time and memory -------------------------------------------------


def test_server_that_never_answers_times_out_on_time(hang: HangServer) -> None:
    outcome, elapsed = timed_check(http_probe(hang.url, timeout=0.3))
    assert outcome.error == "timeout: no response within 300ms"
    assert elapsed < 0.3 + 0.5


def test_tls_handshake_that_never_finishes_names_the_phase(hang: HangServer) -> None:
    outcome, elapsed = timed_check(http_probe(f"https://127.0.0.1:{hang.port}/", timeout=0.3))
    assert outcome.error == "timeout: TLS handshake not done within 300ms"
    assert elapsed < 0.3 + 0.5


def test_endless_body_is_searched_only_up_to_the_cap() -> None:
    with EndlessBodyServer() as server:
        outcome, elapsed = timed_check(http_probe(server.url, body_contains="never", timeout=5))
    assert kind(outcome) == "body"
    assert "read limit" in (outcome.error or "")
    assert elapsed < 2  # far below the 5 s timeout: it stopped reading


def test_endless_body_is_not_read_without_body_contains() -> None:
    with EndlessBodyServer() as server:
        outcome, elapsed = timed_check(http_probe(server.url, timeout=5))
    assert outcome.ok, outcome
    assert elapsed < 2


def test_slowloris_body_cannot_stretch_the_timeout() -> None:
    with HttpServer() as server:  # a byte every 20 ms: no read ever waits long
        outcome, elapsed = timed_check(
            http_probe(server.base_url + "/trickle/20", body_contains="never", timeout=0.3))
    assert outcome.error == "timeout: body not read within 300ms"
    assert elapsed < 0.3 + 0.5


def test_a_hanging_target_does_not_delay_a_healthy_one(server: HttpServer,
                                                         hang: HangServer) -> None:
    async def go() -> tuple[float, Outcome]:
        async with ProbeContext() as ctx:
            slow = asyncio.create_task(run_check(http_probe(hang.url, timeout=0.6), ctx))
            started = time.perf_counter()
            healthy = await run_check(http_probe(server.url), ctx)
            took = time.perf_counter() - started
            await slow
            return took, healthy
    took, healthy = asyncio.run(go())
    assert healthy.ok
    assert took < 0.5


# --- content encodings ------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip, deflate", "identity"])
def test_encoded_body_is_decoded_before_the_search(server: HttpServer, coding: str) -> None:
    probe = http_probe(f"{server.base_url}/encoded/{coding}/all%20is%20well",
                       body_contains="is well")
    assert check(probe).ok


def test_compression_bomb_is_inflated_only_up_to_the_cap(server: HttpServer) -> None:
    outcome, elapsed = timed_check(
        http_probe(server.base_url + "/bomb/64", body_contains="never", timeout=5))
    assert kind(outcome) == "body"
    assert "read limit" in (outcome.error or "")
    assert elapsed < 2


def test_unknown_content_encoding_is_protocol_when_the_body_is_read(server: HttpServer) -> None:
    outcome = check(http_probe(server.base_url + "/encoded/br/plain", body_contains="plain"))
    assert outcome.error == "protocol: unsupported Content-Encoding 'br'"


def test_corrupt_gzip_is_protocol() -> None:
    with RawServer(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n"
                   b"Connection: close\r\n\r\nnot gzip!") as raw:
        outcome = check(http_probe(raw.url, body_contains="x"))
    assert outcome.error == "protocol: body is not valid gzip data"


def test_undeclared_encoding_is_not_read_without_body_contains(server: HttpServer) -> None:
    assert check(http_probe(server.base_url + "/encoded/br/plain")).ok


# --- connection failures -----------------------------------------------------


def test_closed_port_is_refused() -> None:
    outcome = check(http_probe(f"http://127.0.0.1:{closed_port()}/"))
    assert outcome.error == "refused: connection refused"


def test_unresolvable_name_is_dns() -> None:
    outcome = check(http_probe("http://nonexistent.invalid/"))
    assert kind(outcome) == "dns"


def test_server_closing_without_response_is_protocol() -> None:
    with RawServer(b"") as server:
        outcome = check(http_probe(server.url))
    assert outcome.error == "protocol: server closed the connection without a response"


def test_garbage_response_is_protocol() -> None:
    with RawServer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as server:
        outcome = check(http_probe(server.url))
    assert outcome.error == "protocol: malformed HTTP response"


def test_reset_connection_is_reset() -> None:
    with RawServer(reset=True) as server:
        outcome = check(http_probe(server.url))
    assert kind(outcome) == "reset"


# --- TLS -----------------------------------------------------------------------


def test_self_signed_certificate_fails_verification(tls_server: TlsHttpServer) -> None:
    outcome = check(http_probe(tls_server.url))
    assert not outcome.ok
    assert outcome.error == "tls: certificate verify failed: self-signed certificate"


def test_unverified_tls_is_up_and_records_certificate_days(tls_server: TlsHttpServer) -> None:
    outcome = check(http_probe(tls_server.url, verify_tls=False))
    assert outcome.ok, outcome
    assert outcome.cert_days == pytest.approx(tls_server.cert.days_left, abs=0.01)
    assert outcome.cert_days == pytest.approx(30, abs=0.01)


def test_trusted_certificate_is_up_with_certificate_days(tls_server: TlsHttpServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(make_cert().cert_path))
    outcome = check(http_probe(f"https://localhost:{tls_server.port}/"))
    assert outcome.ok, outcome
    assert outcome.cert_days == pytest.approx(30, abs=0.01)


def test_expired_certificate_reports_negative_days_when_unverified() -> None:
    with TlsHttpServer(make_cert(days=-2)) as server:
        verified = check(http_probe(server.url))
        unverified = check(http_probe(server.url, verify_tls=False))
    assert kind(verified) == "tls"
    assert unverified.ok and unverified.cert_days == pytest.approx(-2, abs=0.01)


def test_https_to_a_plain_http_port_is_tls(server: HttpServer) -> None:
    outcome = check(http_probe(f"https://127.0.0.1:{server.port}/"))
    assert kind(outcome) == "tls"


# --- redirects and retries ---------------------------------------------------


def test_unfollowed_redirect_is_up_by_default(server: HttpServer) -> None:
    assert check(http_probe(server.base_url + "/redirect/2")).ok


def test_unfollowed_redirect_fails_an_explicit_expect_status(server: HttpServer) -> None:
    outcome = check(http_probe(server.base_url + "/redirect/2", expect_status=(200,)))
    assert outcome.error == "status: got 302, expected 200"


def test_followed_redirects_reach_the_final_page(server: HttpServer) -> None:
    probe = http_probe(server.base_url + "/redirect/3", follow_redirects=True,
                       expect_status=(200,), body_contains="redirected")
    assert check(probe).ok


def test_redirect_loop_fails_with_protocol(server: HttpServer) -> None:
    outcome = check(http_probe(server.base_url + "/loop", follow_redirects=True))
    assert outcome.error == "protocol: more than 10 redirects"


def test_retry_turns_one_failure_into_success() -> None:
    with HttpServer() as server:
        assert check(http_probe(server.base_url + "/flaky/1", retries=1)).ok
        assert server.requests == 2


def test_without_retries_the_first_failure_is_the_result() -> None:
    with HttpServer() as server:
        outcome = check(http_probe(server.base_url + "/flaky/1", retries=0))
        assert server.requests == 1
    assert outcome.error == "status: got 503, expected 2xx/3xx"


def test_all_attempts_failing_returns_the_last_failure() -> None:
    with HttpServer() as server:
        outcome = check(http_probe(server.base_url + "/flaky/5", retries=2))
        assert server.requests == 3
    assert kind(outcome) == "status"


# --- never raises, shares its machinery -----------------------------------------


@pytest.mark.parametrize(
    "probe",
    [
        Probe(id="p", kind="http"),  # no url
        Probe(id="p", kind="http", url="http://[::1"),  # malformed
        Probe(id="p", kind="http", url="ftp://127.0.0.1/"),  # unsupported scheme
        Probe(id="p", kind="smtp"),
    ],
)
def test_bad_input_fails_the_check_instead_of_raising(probe: Probe) -> None:
    outcome = check(probe)
    assert not outcome.ok
    assert kind(outcome) in ERROR_KINDS


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET", (("Bad\nName", "v"),)), ("GET", (("X", "v\r\nInjected: 1"),)), ("GE T", ())],
)
def test_invalid_method_or_header_is_an_error_not_an_injection(
        server: HttpServer, method: str, headers: tuple[tuple[str, str], ...]) -> None:
    requests = server.requests
    outcome = check(http_probe(server.url, method=method, headers=headers))
    assert outcome.error == "error: invalid request (check method and headers)"
    assert server.requests == requests


def test_cancellation_propagates(hang: HangServer) -> None:
    async def go() -> None:
        async with ProbeContext() as ctx:
            task = asyncio.create_task(run_check(http_probe(hang.url, timeout=5), ctx))
            await asyncio.sleep(0.05)
            task.cancel()
            await task
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())


def test_one_client_and_one_ssl_context_per_tls_flavour() -> None:
    async def go() -> None:
        async with ProbeContext() as ctx:
            assert ctx.http.client(True) is ctx.http.client(True)
            assert ctx.http.client(False) is ctx.http.client(False)
            assert ctx.http.client(True) is not ctx.http.client(False)
    asyncio.run(go())


def test_many_concurrent_checks_all_succeed(server: HttpServer) -> None:
    async def go() -> list[Outcome]:
        async with ProbeContext() as ctx:
            return await asyncio.gather(*(run_check(http_probe(server.url), ctx)
                                          for _ in range(50)))
    assert all(o.ok for o in asyncio.run(go()))


def test_one_ssl_context_per_tls_flavour_shared_by_both_paths() -> None:
    async def go() -> None:
        async with ProbeContext() as ctx:
            verified, unverified = ctx.http.ssl_context(True), ctx.http.ssl_context(False)
            assert ctx.http.ssl_context(True) is verified
            assert verified is not unverified
            assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
            assert unverified.verify_mode == ssl.CERT_NONE
            # the httpx client (redirects) hands the same context to its connections
            assert ctx.http.client(True)._transport._ssl_context is verified  # type: ignore[attr-defined]
    asyncio.run(go())
