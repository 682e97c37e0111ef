"""HTTP(S) checks with httpx, one fresh connection per check.

Why this shape (PERFORMANCE.md, "HTTP with httpx"):

- One shared `httpx.AsyncClient` per TLS flavour (verify on / off), each with
  one SSL context made once, so a check never builds a context or a client.
- The client's transport opens one connection per request and closes it with
  the response. A check is then a real connect + TLS handshake (what an
  uptime probe should measure), and nothing is pooled, so httpcore's pool,
  which walks every pooled connection on each request, is not in the path.
- The network backend is plain asyncio instead of anyio: 15-20 % less CPU
  per check (measured), and it records the phase each check is in, so a timeout can say
  whether the name, the connect, the handshake or the response was missing.
- The response body is capped in the transport (`BODY_CAP`), so neither a
  body search nor a redirect (httpx reads redirect bodies) can download an
  endless or huge body. Content-Encoding is undone there too, with every
  stage's output capped the same way, so a compression bomb (a few KB that
  inflate to gigabytes) cannot exhaust memory or stall the event loop.

Most checks never touch httpx: they go over `http_wire` (the request bytes
made once per probe, by h11 as httpcore would make them; the response parsed
by an asyncio.Protocol following h11's rules), at about a third of the CPU.
Redirects are followed there too (`_Hops`): each hop's request is built the
first time it is seen by httpx's own `_build_redirect_request` plus the
transport's cross-origin header stripping below, serialised by h11, and kept
(a few per probe) under (previous hop, status, Location), so a steady chain
costs a dict look-up per hop. httpx itself stays for URL credentials and any
probe whose request h11 refuses, so those fail exactly as they always did.

Errors are translated once, in `_classify`, into "kind: message" strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import time
import weakref
import zlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import h11
import httpcore
import httpx

from slaprobe import __version__
from slaprobe.config import Probe

from ._base import Outcome, causes, connect, failed, fmt_seconds, os_error, resolve, too_slow
from .http_wire import Exchange, WireError, WirePlan, WireProtocolError

BODY_CAP = 64 * 1024  # bytes of a response body a check may read
MAX_REDIRECTS = 10
_PROGRESS = "slaprobe.progress"  # request extension carrying the _Progress
# Request extension: (origin, configured header names) when redirects are followed.
_PRIVATE = "slaprobe.private"
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_TIMEOUT_MESSAGES = {
    "resolve": "name not resolved within {}",
    "connect": "no TCP connection within {}",
    "tls": "TLS handshake not done within {}",
    "response": "no response within {}",
    "body": "body not read within {}",
}


class _Progress:
    """How far one attempt got; names the phase a timeout hit."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase = "resolve"


class HttpEngine:
    """The HTTP machinery all checks share. Usage: `await engine.check(probe)`."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._contexts: dict[bool, ssl.SSLContext] = {}
        # id(probe) -> (weak reference to the probe, its WirePlan or None for the httpx
        # path). An entry goes when its probe does (a reloaded configuration), and the
        # reference tells a probe from a later one that got the same id.
        self._plans: dict[int, tuple[weakref.ref[Probe], WirePlan | None]] = {}

    def ssl_context(self, verify_tls: bool) -> ssl.SSLContext:
        """The shared SSL context for one TLS flavour, made on first use."""
        context = self._contexts.get(verify_tls)
        if context is None:
            context = verified_ssl_context() if verify_tls else unverified_ssl_context()
            context.set_alpn_protocols(["http/1.1"])  # what httpcore offers, on both paths
            self._contexts[verify_tls] = context
        return context

    def client(self, verify_tls: bool) -> httpx.AsyncClient:
        """The shared client for one TLS flavour, made on first use."""
        client = self._clients.get(verify_tls)
        if client is None:
            context = self.ssl_context(verify_tls)
            client = self._clients[verify_tls] = _Client(
                transport=_OneShotTransport(context),
                # Only the codings _BoundedDecoder undoes, whatever httpx could.
                headers={"user-agent": f"slaprobe/{__version__}",
                         "accept-encoding": "gzip, deflate"},
                max_redirects=MAX_REDIRECTS,
                trust_env=False,  # probe the target itself, not via an env proxy
            )
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def check(self, probe: Probe) -> Outcome:
        """One attempt, bounded by `probe.timeout`; never raises but cancellation."""
        if not probe.url:
            return failed("error", "no url configured")
        cached = self._plans.get(id(probe))
        plan = cached[1] if cached is not None and cached[0]() is probe else self._plan(probe)
        if plan is not None:
            # a redirect may lead to https whatever the first hop is
            tls = plan.tls or plan.follow is not None
            context = self.ssl_context(probe.verify_tls) if tls else None
            return await _wire_check(plan, probe, context)
        client = self.client(probe.verify_tls)  # before the clock: the first builds an SSL context
        progress = _Progress()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(probe.timeout):
                return await _attempt(client, probe, progress, started)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Outcome
            kind, message = _classify(exc, progress.phase, probe.timeout)
            return failed(kind, message)

    def _plan(self, probe: Probe) -> WirePlan | None:
        """Build and cache the probe's plan (outside any check's clock)."""
        plan = wire_plan(probe, self.client(probe.verify_tls))
        if plan is not None and (plan.tls or plan.follow is not None):
            self.ssl_context(probe.verify_tls)  # made once; it costs milliseconds
        key, plans = id(probe), self._plans

        def forget(ref: weakref.ref[Probe]) -> None:
            if plans.get(key, (None,))[0] is ref:
                del plans[key]
        plans[key] = (weakref.ref(probe, forget), plan)
        return plan


def wire_plan(probe: Probe, client: httpx.AsyncClient) -> WirePlan | None:
    """The fast path's plan for `probe`, or None when the check needs httpx.

    The request is built by the same client as on the httpx path and
    serialised by h11 as httpcore serialises it, so the bytes on the wire are
    the same and a method or header h11 refuses (CR, LF, NUL, a space in a
    name, ...) sends the probe to the httpx path, which fails it as before.
    With `follow_redirects` the plan carries the httpx request and a `_Hops`
    that builds (and caches) each redirect's next hop from it.
    """
    try:
        url = parsed_url(probe.url or "")
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS or url.userinfo or not url.raw_host:
            return None  # credentials in the URL, odd URLs: httpx's business
        request = client.build_request(probe.method, url, headers=list(probe.headers),
                                       timeout=probe.timeout)
        h11_state = h11.Connection(h11.CLIENT)
        data = h11_state.send(h11.Request(method=request.method, target=url.raw_path,
                                          headers=request.headers.raw)) or b""
        for chunk in cast(Any, request.stream):
            data += h11_state.send(h11.Data(data=chunk)) or b""
        data += h11_state.send(h11.EndOfMessage()) or b""
        host = url.raw_host.decode("ascii")
    except Exception:  # noqa: BLE001 - the httpx path reports it, as it always did
        return None
    needle = None if probe.body_contains is None else probe.body_contains.encode()
    plan = WirePlan(host, url.port or _DEFAULT_PORTS[scheme], scheme == b"https", data,
                    request.method == "HEAD", needle, probe.expect_status, BODY_CAP,
                    _new_decoder)
    if probe.follow_redirects:
        private = None
        if probe.headers:  # as `_attempt` hands them to the transport
            private = (origin_of(url), frozenset(n.lower() for n, _ in probe.headers))
        plan.source = request
        plan.follow = _Hops(client, private, needle, probe.expect_status)
    return plan


class _RedirectResponse:
    """All of a response that httpx's `_build_redirect_request` reads."""

    __slots__ = ("headers", "status_code")

    def __init__(self, status: int, location: str) -> None:
        self.status_code = status
        self.headers = {"Location": location}


class _Hops:
    """Follows one probe's redirects on the fast path: `hops(plan, status, location)` is
    the plan of the hop a redirect response of `plan` leads to (WireError when httpx
    would fail building it).

    Each hop is built the first time it is seen exactly as the httpx path builds it
    (`httpx.AsyncClient._build_redirect_request`: method change, Location resolution,
    Authorization/Host/Cookie/Content-Length rules; then `_OneShotTransport`'s scheme
    check, configured-header stripping against the first URL's origin and
    httpcore.Request; then h11), and kept under (previous plan, status, Location).
    At most LIMIT entries per probe, none for a Location over LONGEST characters: a
    target that invents a new (or a huge) Location each time costs a build per hop
    (about what the httpx path costs), never memory.
    """

    __slots__ = ("_cache", "_client", "_expect", "_needle", "_private")
    LIMIT = 32
    LONGEST = 2048

    def __init__(self, client: httpx.AsyncClient,
                 private: tuple[tuple[bytes, bytes, int | None], frozenset[str]] | None,
                 needle: bytes | None, expect: tuple[int, ...]) -> None:
        self._client = client
        self._private = private
        self._needle = needle
        self._expect = expect
        self._cache: dict[tuple[WirePlan, int, str], WirePlan | tuple[str, str]] = {}

    def __call__(self, plan: WirePlan, status: int, location: str) -> WirePlan:
        key = (plan, status, location)
        hop = self._cache.get(key)
        if hop is None:
            hop = self._build(plan.source, status, location)
            if len(location) <= self.LONGEST:
                if len(self._cache) >= self.LIMIT:
                    self._cache.clear()
                self._cache[key] = hop
        if isinstance(hop, tuple):
            raise WireError(*hop)
        return hop

    def _build(self, previous: httpx.Request, status: int,
               location: str) -> WirePlan | tuple[str, str]:
        client = cast(Any, self._client)
        try:  # httpx.AsyncClient._send_handling_redirects, one step
            request = client._build_redirect_request(previous,
                                                     _RedirectResponse(status, location))
        except Exception as exc:  # noqa: BLE001 - classified as the httpx path would
            return _classify(exc, "response", 0)
        url: httpx.URL = request.url
        scheme = url.raw_scheme
        tls = scheme == b"https"
        plan = WirePlan("", url.port or _DEFAULT_PORTS.get(scheme, 0), tls, b"",
                        request.method == "HEAD", self._needle, self._expect, BODY_CAP,
                        _new_decoder)
        plan.source = request
        plan.follow = self
        try:  # _OneShotTransport.handle_async_request, up to the connection
            if scheme not in _DEFAULT_PORTS:
                raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
            plan.host = url.raw_host.decode("ascii")  # as httpcore's connection decodes it
            plan.server_hostname = plan.host if tls else None
            headers = request.headers.raw
            private = self._private
            if private is not None and origin_of(url) != private[0]:
                headers = [(k, v) for k, v in headers
                           if k.decode("latin-1").lower() not in private[1]]
            core = httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=scheme, host=url.raw_host, port=url.port,
                                 target=url.raw_path),
                headers=headers, content=request.stream)
        except Exception as exc:  # noqa: BLE001
            plan.early_error = _classify(exc, "response", 0)
            return plan
        try:  # httpcore's HTTP11Connection, once connected
            h11_state = h11.Connection(h11.CLIENT)
            data = h11_state.send(h11.Request(method=core.method, target=core.url.target,
                                              headers=core.headers)) or b""
            for chunk in cast(Any, request.stream):
                data += h11_state.send(h11.Data(data=chunk)) or b""
            data += h11_state.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:  # httpcore maps it to its own
            plan.late_error = _classify(httpcore.LocalProtocolError(str(exc)), "response", 0)
            return plan
        plan.request = data
        return plan


def _new_decoder(codings: list[str]) -> _BoundedDecoder:
    return _BoundedDecoder(codings, BODY_CAP)


async def _wire_check(plan: WirePlan, probe: Probe, context: ssl.SSLContext | None) -> Outcome:
    """One attempt over http_wire; the same phases, messages and latency as `_attempt`:
    the clock runs from before the first hop's resolve to the final response's head
    (and body when searched), redirects and their bodies included."""
    loop = asyncio.get_running_loop()
    phase = "resolve"
    transport: asyncio.Transport | None = None
    done: asyncio.Future[None] | None = None
    hops = 0
    started = time.perf_counter()
    try:
        try:
            async with asyncio.timeout(probe.timeout):
                while True:
                    done = loop.create_future()
                    exchange = Exchange(plan, done)
                    phase = "resolve"
                    addresses = await resolve(plan.host, plan.port, socket.SOCK_STREAM)
                    phase = "connect"
                    sock, _ = await connect(addresses)
                    tls = context if plan.tls else None
                    phase = "tls" if tls is not None else "response"
                    try:
                        transport, _ = await loop.create_connection(
                            exchange.itself, sock=sock, ssl=tls,
                            server_hostname=plan.server_hostname)
                    except BaseException:
                        sock.close()
                        raise
                    phase = "response"
                    await done
                    if exchange.next is None:
                        break
                    # A redirect, its body read: on to the next hop, as httpx goes.
                    transport.abort()
                    transport = None
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise WireProtocolError(f"more than {MAX_REDIRECTS} redirects")
                    plan = exchange.next
                    if plan.early_error is not None:
                        raise WireError(*plan.early_error)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Outcome
            if phase == "response":
                phase = exchange.phase
            kind, message = _classify(exc, phase, probe.timeout)
            return failed(kind, message)
        cert_days = None
        if plan.tls:
            assert transport is not None
            cert_days = _cert_days(transport.get_extra_info("ssl_object"))
        # Until the head (and the body when searched) is in, as on the httpx path:
        # closing the connection is not part of it.
        latency_ms = (time.perf_counter() - started) * 1000
    finally:
        if transport is not None:
            transport.abort()  # abort, not close: see _Stream.aclose
        if done is not None and not done.done():
            done.cancel()
    status = exchange.status
    if not status_ok(status, probe.expect_status):
        return failed("status", f"got {status}, expected {expected_text(probe.expect_status)}",
                      latency_ms, cert_days)
    if plan.needle is not None and not exchange.found:
        read = exchange.read
        limit = " (read limit)" if read >= BODY_CAP else ""
        return failed("body", f"expected text not in the {read} bytes read{limit}",
                      latency_ms, cert_days)
    slow = too_slow(latency_ms / 1000, probe.max_latency)
    if slow:
        return failed("slow", slow, latency_ms, cert_days)
    return Outcome(True, latency_ms, None, cert_days)


async def _attempt(client: httpx.AsyncClient, probe: Probe, progress: _Progress,
                   started: float) -> Outcome:
    url = parsed_url(probe.url or "")
    extensions: dict[str, Any] = {_PROGRESS: progress}
    if probe.headers and probe.follow_redirects:
        extensions[_PRIVATE] = (origin_of(url), frozenset(n.lower() for n, _ in probe.headers))
    request = client.build_request(
        probe.method, url, headers=list(probe.headers),
        timeout=probe.timeout, extensions=extensions,
    )
    response = await client.send(request, stream=True, follow_redirects=probe.follow_redirects)
    try:
        progress.phase = "body"
        cert_days = peer_cert_days(response)
        return await _judge(probe, response, started, cert_days)
    finally:
        await response.aclose()


@functools.lru_cache(maxsize=4096)
def origin_of(url: httpx.URL) -> tuple[bytes, bytes, int | None]:
    return url.raw_scheme, url.raw_host.lower(), url.port or _DEFAULT_PORTS.get(url.raw_scheme)


def parsed_url(url: str) -> httpx.URL:
    """httpx.URL is immutable, so each probe's URL is parsed once, not every check."""
    return httpx.URL(url)


async def _judge(probe: Probe, response: httpx.Response, started: float,
                 cert_days: float | None) -> Outcome:
    """Status, then body text, then latency: the first miss fails the check."""
    def ms() -> float:
        return (time.perf_counter() - started) * 1000

    status = response.status_code
    if not status_ok(status, probe.expect_status):
        return failed("status", f"got {status}, expected {expected_text(probe.expect_status)}",
                      ms(), cert_days)
    if probe.body_contains is not None:
        found, read = await body_contains(response, probe.body_contains.encode())
        if not found:
            limit = " (read limit)" if read >= BODY_CAP else ""
            return failed("body", f"expected text not in the {read} bytes read{limit}",
                          ms(), cert_days)
    latency_ms = ms()
    slow = too_slow(latency_ms / 1000, probe.max_latency)
    if slow:
        return failed("slow", slow, latency_ms, cert_days)
    return Outcome(True, latency_ms, None, cert_days)


def status_ok(status: int, expected: tuple[int, ...]) -> bool:
    """Empty `expected` means any 2xx or 3xx (an unfollowed redirect is up)."""
    return status in expected if expected else 200 <= status < 400


def expected_text(expected: tuple[int, ...]) -> str:
    return "/".join(map(str, expected)) if expected else "2xx/3xx"


async def body_contains(response: httpx.Response, needle: bytes) -> tuple[bool, int]:
    """Whether `needle` (UTF-8 bytes) is in the decoded body, reading at most BODY_CAP bytes.

    Returns (found, bytes read). A match across chunk borders is found by
    keeping the last len(needle) - 1 bytes of the previous chunk.
    """
    read, tail = 0, b""
    keep = len(needle) - 1
    body = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
    async with contextlib.aclosing(body) as chunks:
        async for chunk in chunks:
            window = tail + chunk
            if needle in window:
                return True, read + len(chunk)
            read += len(chunk)
            if read >= BODY_CAP:
                break
            tail = window[-keep:] if keep else b""
    return needle == b"", read


def peer_cert_days(response: httpx.Response) -> float | None:
    """Days until the peer certificate's notAfter (negative once expired), or None."""
    stream = response.extensions.get("network_stream")
    return _cert_days(stream.get_extra_info("ssl_object") if stream is not None else None)


_NOT_AFTER: dict[bytes, float | None] = {}  # DER -> notAfter: parsed once per certificate


def _cert_days(ssl_object: ssl.SSLObject | None) -> float | None:
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if der is None:
        return None
    try:
        not_after = _NOT_AFTER[der]
    except KeyError:
        if len(_NOT_AFTER) >= 1024:
            _NOT_AFTER.clear()
        not_after = _NOT_AFTER[der] = _not_after(ssl_object)
    return None if not_after is None else (not_after - time.time()) / 86400


def _not_after(ssl_object: ssl.SSLObject) -> float | None:
    """notAfter as epoch seconds. Unverified peers give an empty dict, so parse the DER."""
    cert = ssl_object.getpeercert()
    if cert and "notAfter" in cert:
        return float(ssl.cert_time_to_seconds(str(cert["notAfter"])))
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        from cryptography import x509
    except ImportError:  # optional: without it unverified peers have no expiry
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None


def _classify(exc: BaseException, phase: str, timeout: float) -> tuple[str, str]:
    """Any exception from an attempt -> (kind, message). The one translation point."""
    if isinstance(exc, (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException)):
        return "timeout", _TIMEOUT_MESSAGES[phase].format(fmt_seconds(timeout))
    if isinstance(exc, WireError):
        return exc.kind, exc.message
    if isinstance(exc, WireProtocolError):
        return "protocol", str(exc)
    if isinstance(exc, httpx.TooManyRedirects):
        return "protocol", f"more than {MAX_REDIRECTS} redirects"
    for e in causes(exc):
        if isinstance(e, BodyEncodingError):
            return "protocol", str(e)
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, httpcore.UnsupportedProtocol)):
        return "error", "invalid or unsupported URL"
    known = os_error(exc)
    if known is not None:
        return known
    for e in causes(exc):
        if isinstance(e, (httpcore.RemoteProtocolError, httpx.RemoteProtocolError)):
            if "without sending" in str(e) or "disconnected" in str(e):
                return "protocol", "server closed the connection without a response"
            return "protocol", "malformed HTTP response"
        if isinstance(e, (httpcore.LocalProtocolError, httpx.LocalProtocolError)):
            return "error", "invalid request (check method and headers)"
        if isinstance(e, (httpcore.NetworkError, httpx.NetworkError, ConnectionError,
                          asyncio.IncompleteReadError)):
            return "reset", "connection closed unexpectedly"
    return "error", type(exc).__name__


def verified_ssl_context() -> ssl.SSLContext:
    """The system trust store (with SSL_CERT_FILE/DIR), else certifi's bundle."""
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        try:
            import certifi
        except ImportError:
            return context
        context.load_verify_locations(cafile=certifi.where())
    return context


def unverified_ssl_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _NoCookies(httpx.Cookies):
    """Checks are independent: a cookie set by one target must not reach the next."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass

    def set_cookie(self, cookie: Any) -> None:  # pragma: no cover - never called
        pass


class _Client(httpx.AsyncClient):
    """An AsyncClient that keeps no cookies (and skips parsing them)."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass


class _OneShotTransport(httpx.AsyncBaseTransport):
    """One new connection per request, closed when the response is closed."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.raw_scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
        progress = request.extensions.get(_PROGRESS) or _Progress()
        origin = httpcore.Origin(url.raw_scheme, url.raw_host,
                                 url.port or _DEFAULT_PORTS[url.raw_scheme])
        connection = httpcore.AsyncHTTPConnection(
            origin, ssl_context=self._ssl_context, network_backend=_Backend(progress)
        )
        headers = request.headers.raw
        private = request.extensions.get(_PRIVATE)
        if private is not None and origin_of(url) != private[0]:
            # A redirect to another origin: the probe's configured headers may be
            # credentials (httpx itself drops only Authorization), so none go along.
            headers = [(k, v) for k, v in headers if k.decode("latin-1").lower() not in private[1]]
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=headers,
            content=request.stream,
            extensions={k: v for k, v in request.extensions.items()
                        if k not in (_PROGRESS, _PRIVATE)},
        )
        try:
            response = await connection.handle_async_request(core_request)
        except BaseException:
            await connection.aclose()
            raise
        codings = content_codings(response.headers)
        headers = response.headers
        if codings:  # decoded (bounded) by _CappedBody, so httpx must not decode again
            headers = [(k, v) for k, v in headers if k.lower() != b"content-encoding"]
        return httpx.Response(
            response.status, headers=headers,
            stream=_CappedBody(response, connection, codings), extensions=response.extensions,
        )


class BodyEncodingError(Exception):
    """The body's Content-Encoding is unknown or its data corrupt (a "protocol" failure)."""


def content_codings(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The Content-Encoding codings in the order they were applied, "identity" left out."""
    codings = []
    for name, value in headers:
        if name.lower() == b"content-encoding":
            codings += [c.strip().lower() for c in value.decode("latin-1").split(",")]
    return [c for c in codings if c and c != "identity"]


class _Inflate:
    """One gzip or deflate stage; deflate is zlib-wrapped or, from some servers, raw."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._raw_fallback = coding == "deflate"
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS)
        self.made = 0

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._z.decompress(data, limit)
        except zlib.error:
            if not self._raw_fallback:
                raise BodyEncodingError(f"body is not valid {self.coding} data") from None
            self._raw_fallback = False
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(data, limit)
        self._raw_fallback = False
        self.made += len(out)
        return out


class _BoundedDecoder:
    """Content-Encoding undone, each stage's total output capped at `cap` bytes.

    zlib's `max_length` stops inflating at the cap, so a body of a few KB that
    would inflate to gigabytes costs at most `cap` bytes per stage. Once any
    stage is full the body is over as far as a check is concerned.
    """

    _KNOWN = ("gzip", "x-gzip", "deflate")

    def __init__(self, codings: list[str], cap: int) -> None:
        unknown = [c for c in codings if c not in self._KNOWN]
        if unknown:
            raise BodyEncodingError(f"unsupported Content-Encoding {unknown[0][:40]!r}")
        self._stages = [_Inflate(c) for c in reversed(codings)]  # undo the last applied first
        self._cap = cap

    @property
    def full(self) -> bool:
        return any(stage.made >= self._cap for stage in self._stages)

    def feed(self, data: bytes) -> bytes:
        for stage in self._stages:
            if not data or stage.made >= self._cap:
                return b""
            data = stage.feed(data, self._cap - stage.made)
        return data


class _CappedBody(httpx.AsyncByteStream):
    """The response body, decoded, cut after BODY_CAP bytes read and BODY_CAP bytes made;
    closing it closes the connection."""

    def __init__(self, response: httpcore.Response, connection: httpcore.AsyncHTTPConnection,
                 codings: list[str] | None = None):
        self._response = response
        self._connection = connection
        self._codings = codings or []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        decoder = _BoundedDecoder(self._codings, BODY_CAP) if self._codings else None
        left = BODY_CAP
        stream: Any = self._response.stream
        async with contextlib.aclosing(stream.__aiter__()) as chunks:
            async for chunk in chunks:
                chunk = chunk[:left]
                left -= len(chunk)
                out = decoder.feed(chunk) if decoder is not None else chunk
                if out:
                    yield out
                if left <= 0 or (decoder is not None and decoder.full):
                    return

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            await self._connection.aclose()


class _Backend(httpcore.AsyncNetworkBackend):
    """asyncio sockets for httpcore, recording each attempt's phase in `progress`."""

    def __init__(self, progress: _Progress) -> None:
        self._progress = progress

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            self._progress.phase = "resolve"
            addresses = await resolve(host, port, socket.SOCK_STREAM)
            self._progress.phase = "connect"
            sock, _ = await connect(addresses)
        self._progress.phase = "response"
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        return _Stream(reader, writer, self._progress)

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore retries only
        await asyncio.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 progress: _Progress) -> None:
        self._reader = reader
        self._writer = writer
        self._progress = progress

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        async with asyncio.timeout(timeout):
            return await self._reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()

    async def aclose(self) -> None:
        # abort, not close: a TLS close waits up to 30 s for the peer's close_notify.
        self._writer.transport.abort()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        self._progress.phase = "tls"
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except BaseException:
            self._writer.transport.abort()
            raise
        self._progress.phase = "response"
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        return None  # "is_readable" is only asked of pooled connections
