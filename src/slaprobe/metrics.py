"""Prometheus text exposition (format 0.0.4) of the agent's state, by hand.

One pure serializer, `render_metrics(snapshot) -> str`, and one tiny asyncio
HTTP server, `MetricsServer`, that calls a snapshot function per scrape and
serves the text on `GET /metrics`. The format is small and stable, so
prometheus-client (a registry, global state, threads) would buy nothing.

Usage:

    host, port = parse_listen(config.agent.metrics)   # "127.0.0.1:9464"
    server = MetricsServer(host, port, build_snapshot)
    await server.start()
    ...
    await server.close()

The server is hardened for a port someone may expose by mistake: loopback by
default, 8 KiB of request headers at most, 5 s per request, a cap on
concurrent connections, one request per connection, and no client can raise
out of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_HOST = "127.0.0.1"
MAX_HEADER_BYTES = 8192
REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True)
class ProbeMetrics:
    """One probe's figures at scrape time; None means unknown (not exported)."""

    id: str
    kind: str
    client: str | None = None
    up: int | None = None  # 1 up, 0 down, None no check yet
    latency_seconds: float | None = None  # of the last check
    checks_total: Mapping[str, int] = field(default_factory=dict)  # result -> count
    availability_ratio: float | None = None  # 0..1 over the current SLA period
    error_budget_remaining_seconds: float | None = None
    tls_cert_expiry_seconds: float | None = None  # seconds left; negative: expired
    location: str | None = None  # [cluster] location of the agent, if any


@dataclass(frozen=True)
class AgentMetrics:
    """The agent's own health, so a stuck scheduler or writer shows up."""

    version: str
    start_time_seconds: float  # Unix time the daemon started
    probes: int  # configured
    checks_total: int = 0
    checks_per_second: float = 0.0
    write_queue_depth: int = 0
    db_write_errors_total: int = 0
    # Scheduler lateness (how long after its due time a check started):
    # quantiles over a recent window, sum and count since start.
    lateness_quantiles: tuple[tuple[float, float], ...] = ()
    lateness_sum_seconds: float = 0.0
    lateness_count: int = 0
    # [central] only: checks in the outbox not yet in PostgreSQL, and the oldest one's age.
    central_backlog_checks: int | None = None
    central_backlog_age_seconds: float | None = None


@dataclass(frozen=True)
class MetricsSnapshot:
    agent: AgentMetrics
    probes: tuple[ProbeMetrics, ...] = ()


def quantiles(
    values: Iterable[float], qs: Iterable[float] = (0.5, 0.9, 0.99)
) -> tuple[tuple[float, float], ...]:
    """Nearest-rank quantiles of recent samples, for `lateness_quantiles`.

    An empty window yields no quantiles (rather than zeros that look healthy).
    """
    ordered = sorted(values)
    if not ordered:
        return ()
    out = []
    for q in qs:
        rank = max(1, math.ceil(q * len(ordered)))
        out.append((q, ordered[min(rank, len(ordered)) - 1]))
    return tuple(out)


# --- text exposition -------------------------------------------------------


def escape_label_value(value: str) -> str:
    """Backslash, double quote and newline escaped, as the format requires."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus reads it: integers exact, +Inf/-Inf/NaN."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@lru_cache(maxsize=256)
def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    """Label text, cached: the same probes' labels are rendered on every scrape."""
    body = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)
    return "{" + body + "}" if body else ""


Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float | None]  # name suffix ("", "_sum"), labels, value


@dataclass(frozen=True)
class _Family:
    name: str
    type: str  # gauge | counter | summary
    help: str
    samples: list[Sample]

    def lines(self) -> Iterator[str]:
        """HELP and TYPE, then every sample; None values are left out."""
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.type}"
        for suffix, labels, value in self.samples:
            if value is not None:
                yield f"{self.name}{suffix}{_labels(labels)} {format_value(value)}"


def _agent_families(a: AgentMetrics) -> list[_Family]:
    def single(name: str, type_: str, help_: str, value: float) -> _Family:
        return _Family(name, type_, help_, [("", (), value)])

    lateness: list[Sample] = [
        ("", (("quantile", format_value(float(q))),), v) for q, v in a.lateness_quantiles
    ]
    lateness += [("_sum", (), a.lateness_sum_seconds), ("_count", (), a.lateness_count)]
    central = [] if a.central_backlog_checks is None else [
        single("slaprobe_central_backlog_checks", "gauge",
               "Checks stored locally and not yet shipped to the central PostgreSQL.",
               a.central_backlog_checks),
        _Family("slaprobe_central_backlog_age_seconds", "gauge",
                "Age of the oldest check not yet shipped to the central PostgreSQL.",
                [("", (), a.central_backlog_age_seconds)]),
    ]
    return [
        _Family(
            "slaprobe_build_info",
            "gauge",
            "slaprobe version; always 1.",
            [("", (("version", a.version),), 1)],
        ),
        single(
            "slaprobe_start_time_seconds",
            "gauge",
            "Unix time the agent started.",
            a.start_time_seconds,
        ),
        single("slaprobe_probes", "gauge", "Probes in the running configuration.", a.probes),
        single(
            "slaprobe_agent_checks_total",
            "counter",
            "Checks run since the agent started (all probes).",
            a.checks_total,
        ),
        single(
            "slaprobe_checks_per_second",
            "gauge",
            "Checks per second, recent average.",
            a.checks_per_second,
        ),
        single(
            "slaprobe_write_queue_depth",
            "gauge",
            "Checks waiting to be written to the database.",
            a.write_queue_depth,
        ),
        single(
            "slaprobe_db_write_errors_total",
            "counter",
            "Failed database writes since the agent started.",
            a.db_write_errors_total,
        ),
        _Family(
            "slaprobe_scheduler_lateness_seconds",
            "summary",
            "Seconds a check started after it was due; quantiles over recent checks.",
            lateness,
        ),
        *central,
    ]


_PROBE_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("slaprobe_probe_up", "gauge", "1 if the probe's last check passed, 0 if it failed."),
    ("slaprobe_probe_latency_seconds", "gauge", "Latency of the probe's last check."),
    ("slaprobe_probe_checks_total", "counter",
     "Checks of the probe since the agent started, by result."),
    ("slaprobe_checks_total", "counter",
     "Checks of the probe by this agent's location, by result (for recording rules)."),
    ("slaprobe_availability_ratio", "gauge",
     "Availability (0..1) of the probe in the current SLA period so far."),
    ("slaprobe_error_budget_remaining_seconds", "gauge",
     "Downtime the probe may still have this period without missing its objective."),
    ("slaprobe_tls_cert_expiry_seconds", "gauge",
     "Seconds until the probe's TLS certificate expires; negative once expired."),
)


def _esc(value: str) -> str:
    """escape_label_value, with a fast path for the usual value that needs none."""
    if "\\" in value or '"' in value or "\n" in value:
        return escape_label_value(value)
    return value


def _fv(value: float) -> str:
    """format_value, with a fast path for plain ints and finite floats."""
    t = type(value)
    if t is int:
        return str(value)
    if t is float and value - value == 0.0:  # finite
        return repr(value)
    return format_value(value)


def _family_up(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_probe_up{{probe="{_esc(p.id)}",client="{_esc(p.client or "")}",'
        f'kind="{_esc(p.kind)}"}} {_fv(p.up)}\n' for p in probes if p.up is not None])


def _family_latency(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_probe_latency_seconds{{probe="{_esc(p.id)}"}} {_fv(p.latency_seconds)}\n'
        for p in probes if p.latency_seconds is not None])


def _family_probe_checks(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_probe_checks_total{{probe="{_esc(p.id)}",result="{_esc(result)}"}} {_fv(n)}\n'
        for p in probes for result, n in _results(p.checks_total) if n is not None])


def _family_checks(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_checks_total{{probe="{_esc(p.id)}",location="{_esc(p.location or "")}",'
        f'result="{_esc(result)}"}} {_fv(n)}\n'
        for p in probes for result, n in _results(p.checks_total) if n is not None])


def _family_availability(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_availability_ratio{{probe="{_esc(p.id)}",window="period"}} '
        f'{_fv(p.availability_ratio)}\n' for p in probes if p.availability_ratio is not None])


def _family_budget(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_error_budget_remaining_seconds{{probe="{_esc(p.id)}"}} '
        f'{_fv(p.error_budget_remaining_seconds)}\n'
        for p in probes if p.error_budget_remaining_seconds is not None])


def _family_tls(probes: Sequence[ProbeMetrics]) -> str:
    return "".join([
        f'slaprobe_tls_cert_expiry_seconds{{probe="{_esc(p.id)}"}} '
        f'{_fv(p.tls_cert_expiry_seconds)}\n'
        for p in probes if p.tls_cert_expiry_seconds is not None])


# One function per entry of _PROBE_FAMILIES: the sample lines of that family for some probes.
_PROBE_SAMPLES: tuple[Callable[[Sequence[ProbeMetrics]], str], ...] = (
    _family_up, _family_latency, _family_probe_checks, _family_checks, _family_availability,
    _family_budget, _family_tls,
)


def _head(name: str, type_: str, help_: str) -> str:
    return f"# HELP {name} {_escape_help(help_)}\n# TYPE {name} {type_}\n"


def _results(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    # "up" and "down" always exist, so rate() works from the first scrape.
    if counts.keys() == {"up", "down"}:  # the daemon's usual case, in the usual order
        return [("up", counts["up"]), ("down", counts["down"])]
    merged = {"up": 0, "down": 0, **counts}
    return list(merged.items())


def _agent_text(agent: AgentMetrics) -> str:
    return "".join(line + "\n" for family in _agent_families(agent) for line in family.lines())


def render_metrics(snapshot: MetricsSnapshot) -> str:
    """The whole exposition text; pure, so it is tested as golden text."""
    parts = [_agent_text(snapshot.agent)]
    for (name, type_, help_), samples in zip(_PROBE_FAMILIES, _PROBE_SAMPLES, strict=True):
        parts.append(_head(name, type_, help_))
        parts.append(samples(snapshot.probes))
    return "".join(parts)


RENDER_SLICE = 250  # probes per uninterrupted stretch of rendering (well under 2 ms)


async def render_metrics_async(snapshot: MetricsSnapshot, slice_size: int = RENDER_SLICE) -> str:
    """`render_metrics`, the same text, built on the event loop in slices of probes with a
    yield to the loop between them, so a scrape of 10,000 probes never holds the loop for
    more than a millisecond or two (in a thread it would, through the GIL)."""
    parts = [_agent_text(snapshot.agent)]
    probes = snapshot.probes
    for (name, type_, help_), samples in zip(_PROBE_FAMILIES, _PROBE_SAMPLES, strict=True):
        parts.append(_head(name, type_, help_))
        if len(probes) <= slice_size:
            parts.append(samples(probes))
            continue
        for k in range(0, len(probes), slice_size):
            parts.append(samples(probes[k:k + slice_size]))
            await asyncio.sleep(0)
    return "".join(parts)


# --- listen address --------------------------------------------------------


def parse_listen(text: str) -> tuple[str, int]:
    """`[agent] metrics` -> (host, port); raises ValueError saying what is wrong.

    "127.0.0.1:9464", "[::1]:9464", "host:9464"; ":9464" or "9464" alone
    mean loopback: listening on every interface must be written out
    ("0.0.0.0:9464", "[::]:9464").
    """
    raw = text.strip()
    if raw.isdigit():
        host, port_text = "", raw
    elif raw.startswith("["):
        end = raw.find("]")
        if end == -1 or raw[end + 1 : end + 2] != ":":
            raise ValueError(f"{text!r}: write an IPv6 address as [ADDRESS]:PORT")
        host, port_text = raw[1:end], raw[end + 2 :]
        if not host:
            raise ValueError(f"{text!r}: empty address between [ ]")
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
        if ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 address as [ADDRESS]:PORT")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be a number from 1 to 65535")
    return host or DEFAULT_HOST, int(port_text)


# --- HTTP server -------------------------------------------------------------


class MetricsServer:
    """Serves `GET /metrics`; every other path is 404, other methods 405."""

    def __init__(
        self,
        host: str,
        port: int,
        snapshot_fn: Callable[[], MetricsSnapshot | Awaitable[MetricsSnapshot]],
        *,
        timeout: float = REQUEST_TIMEOUT,
        max_connections: int = 64,
    ) -> None:
        self.host = host
        self.port = port
        self._snapshot_fn = snapshot_fn
        self._timeout = timeout
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen; OSError (port taken, bad address) reaches the caller."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s/metrics", self.address)

    @property
    def address(self) -> str:
        """host:port as an operator writes it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def sockets(self) -> list[tuple[str, int]]:
        """(address, port) of every listening socket; empty before start()."""
        if self._server is None:
            return []
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    async def close(self) -> None:
        """Stop listening and drop requests still in flight."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if len(self._handlers) > self._max_connections:
                writer.write(_response(503, b"too many connections\n"))
                return
            try:
                async with asyncio.timeout(self._timeout):
                    request = await _read_request(reader)
            except TimeoutError:
                writer.write(_response(408, b"request timeout\n"))
                return
            # A client that stops reading the answer is dropped (TimeoutError
            # is an OSError) rather than holding a connection open.
            async with asyncio.timeout(self._timeout):
                await self._answer(reader, writer, request)
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.debug("metrics client %s: %r", _peer(writer), exc)
        except Exception:  # a bad client or a bug must never stop the agent
            log.exception("metrics request from %s failed", _peer(writer))
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: _Request | int,
    ) -> None:
        if isinstance(request, int):
            writer.write(_response(request, f"{_REASONS[request]}\n".encode()))
            await writer.drain()
            return
        method, path, body_length = request
        head = method == "HEAD"
        if body_length:
            # Unread bytes make close() send a reset that can destroy the
            # answer before the client reads it; a small body is swallowed.
            with contextlib.suppress(asyncio.IncompleteReadError):
                await reader.readexactly(min(body_length, MAX_HEADER_BYTES))
        if path not in ("/metrics", "/"):
            data = _response(404, b"not found; try /metrics\n", head=head)
        elif method not in ("GET", "HEAD"):
            data = _response(405, b"method not allowed\n", extra="Allow: GET, HEAD\r\n")
        elif path == "/":
            data = _response(200, b"slaprobe: metrics are at /metrics\n", head=head)
        else:
            try:
                # Thousands of series: built on the loop in slices with yields between
                # them (render_metrics_async). A thread would not help: the GIL would
                # still hold the loop for the whole render (bench/FINDINGS.md, 3a).
                snap = self._snapshot_fn()
                if inspect.isawaitable(snap):
                    snap = await snap
                body = (await render_metrics_async(snap)).encode("utf-8")
            except Exception:
                log.exception("building the metrics snapshot failed")
                data = _response(500, b"internal error; see the agent log\n", head=head)
            else:
                data = _response(200, body, head=head, content_type=CONTENT_TYPE)
        writer.write(data)
        await writer.drain()


def _response(
    status: int,
    body: bytes,
    *,
    head: bool = False,
    content_type: str = "text/plain; charset=utf-8",
    extra: str = "",
) -> bytes:
    """A complete HTTP/1.1 response; HEAD gets the headers a GET would."""
    header = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return header if head else header + body


_Request = tuple[str, str, int]  # method, path without the query, Content-Length

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


async def _read_request(reader: asyncio.StreamReader) -> _Request | int:
    """Request line and headers -> (method, path, body length), or an error status.

    Headers are read up to the blank line and at most MAX_HEADER_BYTES; only
    Content-Length is looked at. The connection closes after the answer.
    """
    total = 0
    lines: list[bytes] = []
    while True:
        try:
            line = await reader.readline()
        except (asyncio.LimitOverrunError, ValueError):
            return 431
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        total += len(line)
        if total > MAX_HEADER_BYTES:
            return 431
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line)
    if not lines:
        return 400
    parts = lines[0].decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return 400
    body_length = 0
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                return 400
            body_length = int(value)
    return parts[0], urlsplit(parts[1]).path, body_length


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer) if peer else "?"
