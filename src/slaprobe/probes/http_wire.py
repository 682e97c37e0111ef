"""HTTP/1.1 straight on an asyncio.Protocol: the fast path of an HTTP(S) check.

`probes/http.py` builds a `WirePlan` once per probe (the request bytes, made
and validated by h11 exactly as httpx/httpcore would send them) and runs each
check as: connect a socket, `loop.create_connection(Exchange, sock=...)`
(with `ssl=` for https), write the request, let `Exchange` parse the response
as it arrives, and wait on ONE future. No httpx objects, no streams, no
per-check tasks.

The parser follows h11 (the parser httpcore uses) rule for rule, so a check
fails the same way on either path: the ABNF regexes below are h11's (`_abnf`),
1xx responses other than 101 are skipped, Content-Length and
Transfer-Encoding are validated as `h11._headers.normalize_and_validate` does,
an incomplete response head over 100 KiB is refused as httpcore's
`max_incomplete_event_size` refuses it, and EOF is judged as httpcore judges
it ("closed without a response" before and in the middle of a framed body,
"malformed" inside a chunk line, the end of the body for a body without
framing). The body is read only when the check searches it, and only up to
`plan.cap` bytes read and `plan.cap` bytes decoded, as `http._CappedBody`
reads it.

Redirects: a plan with `follow` set treats a 301/302/303/307/308 with a
Location as httpx does. The Location (decoded as `httpx.Headers` decodes it)
goes to `plan.follow`, which returns the next hop's plan or raises; then the
redirect body is read to its end (capped, decoded) and thrown away, as httpx's
`response.aread()` does, and `next` holds the next hop's plan. The phase stays
"response" throughout, as on the httpx path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, Protocol

MAX_HEAD = 100 * 1024  # httpcore's h11 max_incomplete_event_size

# h11/_abnf.py (RFC 7230 grammar as h11 applies it), as bytes regexes.
_OWS = r"[ \t]*"
_TOKEN = r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VCHAR_OR_OBS = r"[^\x00\s]"
_FIELD_CONTENT = rf"{_VCHAR_OR_OBS}+(?:[ \t]+{_VCHAR_OR_OBS}+)*"
_HEADER_FIELD = re.compile(
    rf"(?P<field_name>{_TOKEN}):{_OWS}(?P<field_value>({_FIELD_CONTENT})?){_OWS}".encode())
_STATUS_LINE = re.compile(
    rf"HTTP/(?P<http_version>[0-9]\.[0-9]) (?P<status_code>[0-9]{{3}})"
    rf"(?: (?P<reason>([ \t]|{_VCHAR_OR_OBS})*))?".encode())
_CHUNK_HEADER = re.compile(
    rf"(?P<chunk_size>([0-9A-Fa-f]){{1,20}})(?P<chunk_ext>;.*)?{_OWS}\r\n".encode())
_CONTENT_LENGTH = re.compile(rb"[0-9]+")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_FOLD = re.compile(rb"[ \t]+")

# Response states
_HEAD, _BODY, _DONE = 0, 1, 2
# Body framings
_LENGTH, _CHUNKED, _TO_EOF = 0, 1, 2


class WireProtocolError(Exception):
    """The response broke HTTP/1.1; str() is the "protocol" failure message."""


class WireError(Exception):
    """A failure already classified as the httpx path classifies it: (kind, message)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message


REDIRECTS = frozenset((301, 302, 303, 307, 308))  # httpx's Response.has_redirect_location


MALFORMED = "malformed HTTP response"
CLOSED = "server closed the connection without a response"


class Decoder(Protocol):
    @property
    def full(self) -> bool: ...

    def feed(self, data: bytes) -> bytes: ...


class WirePlan:
    """What every check of one probe sends and expects, built once per probe."""

    __slots__ = ("cap", "early_error", "expect", "follow", "host", "keep", "late_error",
                 "needle", "new_decoder", "no_body", "port", "request", "server_hostname",
                 "source", "tls")

    def __init__(self, host: str, port: int, tls: bool, request: bytes,
                 head_request: bool, needle: bytes | None, expect: tuple[int, ...], cap: int,
                 new_decoder: Callable[[list[str]], Decoder]) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.server_hostname = host if tls else None
        self.request = request
        self.no_body = head_request  # a HEAD response has no body, whatever it says
        self.needle = needle  # None: the body is never read
        self.keep = len(needle) - 1 if needle else 0
        self.expect = expect
        self.cap = cap
        self.new_decoder = new_decoder
        # Redirects (http.py): `follow(plan, status, location)` -> the next hop's plan
        # (raises WireError); None: a redirect is a final response like any other.
        self.follow: Callable[[WirePlan, int, str], WirePlan] | None = None
        self.source: Any = None  # what `follow` builds the next hop from
        # (kind, message) a check of this hop fails with before connecting / once connected
        self.early_error: tuple[str, str] | None = None
        self.late_error: tuple[str, str] | None = None


class Exchange(asyncio.Protocol):
    """Writes the plan's request, parses the response, resolves `done` (result None)
    once the check has all it needs; failures are set on `done` as exceptions.

    After `done`: `status`; and when the body was searched, `found` and `read`
    (decoded bytes searched); `next`, the plan of the hop to go to when the
    response was a redirect followed. `phase` is "response" until the final
    response head is in, then "body" while the body is read.
    """

    __slots__ = ("_buf", "_chunk_left", "_decoder", "_discard", "_drain", "_framing", "_left",
                 "_length", "_scan", "_state", "_tail", "_trailer", "done", "found", "next",
                 "phase", "plan", "read", "status")

    def __init__(self, plan: WirePlan, done: asyncio.Future[None]) -> None:
        self.plan = plan
        self.done = done
        self.phase = "response"
        self.status = 0
        self.found = False
        self.read = 0
        self.next: WirePlan | None = None
        self._drain = False
        self._state = _HEAD
        self._buf = b""
        self._scan = 0

    def itself(self) -> Exchange:
        """The protocol factory `loop.create_connection` wants."""
        return self

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.phase = "response"
        late = self.plan.late_error
        if late is not None:  # h11 refused this hop's request (httpcore: once connected)
            self._fail(WireError(*late))
            return
        transport.write(self.plan.request)

    def data_received(self, data: bytes) -> None:
        if self._state == _DONE or self.done.done():
            return
        try:
            if self._state == _HEAD:
                self._head(self._buf + data if self._buf else data)
            else:
                self._body(data)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting check
            self._fail(exc)

    def eof_received(self) -> None:
        self._eof(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof(exc)

    # -- outcome ---------------------------------------------------------------

    def _finish(self) -> None:
        self._state = _DONE
        self._buf = b""
        if not self.done.done():
            self.done.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._state = _DONE
        self._buf = b""
        if not self.done.done():
            self.done.set_exception(exc)

    def _eof(self, exc: Exception | None) -> None:
        if self._state == _DONE or self.done.done():
            return
        if exc is not None:
            self._fail(exc)
        elif self._state == _HEAD:
            self._fail(WireProtocolError(CLOSED))
        elif self._framing == _TO_EOF:
            self._end_of_body()
        elif self._framing == _CHUNKED and self._buf:
            self._fail(WireProtocolError(MALFORMED))  # h11: "peer unexpectedly closed"
        else:
            self._fail(WireProtocolError(CLOSED))  # h11: "... without sending complete body"

    # -- head ------------------------------------------------------------------

    def _head(self, buf: bytes) -> None:
        while True:
            if not buf:
                self._buf = b""
                return
            if buf[0] < 0x21:  # h11: a blank first line or an obviously invalid one
                raise WireProtocolError(MALFORMED)
            match = _BLANK_LINE.search(buf, self._scan)
            if match is None:
                if len(buf) > MAX_HEAD:
                    raise WireProtocolError(MALFORMED)
                self._buf = buf
                self._scan = max(0, len(buf) - 2)
                return
            end = match.end()
            head, buf = buf[:end], buf[end:]
            self._scan = 0
            status, framing = _parse_head(head)
            if status == 0:  # an informational (1xx) response: the real one follows
                continue
            self._buf = b""
            self.status = status
            plan = self.plan
            if plan.follow is not None and status in REDIRECTS:
                location = _location(head, framing[2])
                if location is not None:
                    # httpx: the next request is built (and may fail) before the body is read
                    self.next = plan.follow(plan, status, location)
                    self._drain = True
                    self._start_body(status, framing, buf)
                    return
            if plan.needle is None or not _status_ok(status, plan.expect):
                self._finish()
                return
            self._start_body(status, framing, buf)
            return

    def _start_body(self, status: int, framing: tuple[int, int, list[str]], buf: bytes) -> None:
        plan = self.plan
        if not self._drain:
            self.phase = "body"
        self._state = _BODY
        kind, length, codings = framing
        if plan.no_body or status in (204, 304):
            kind, length = _LENGTH, 0
        self._framing = kind
        self._length = length
        self._chunk_left = 0
        self._discard = b""
        self._trailer = False
        self._left = plan.cap
        self._tail = b""
        self._decoder = plan.new_decoder(codings) if codings else None
        if kind == _LENGTH and length == 0:
            self._end_of_body()
        elif buf:
            self._body(buf)

    # -- body ------------------------------------------------------------------

    def _body(self, data: bytes) -> None:
        kind = self._framing
        if kind == _LENGTH:
            take = data[:self._length] if len(data) > self._length else data
            self._length -= len(take)
            if self._search(take) and self._length == 0:
                self._end_of_body()
        elif kind == _TO_EOF:
            self._search(data)
        else:
            self._chunked(self._buf + data if self._buf else data)

    def _chunked(self, buf: bytes) -> None:
        """h11's ChunkedReader, over whatever has arrived."""
        while True:
            if self._trailer:
                if buf[:1] == b"\n" or buf[:2] == b"\r\n":
                    self._end_of_body()
                    return
                match = _BLANK_LINE.search(buf)
                if match is None:
                    return self._wait(buf)
                _decode_fields(buf[:match.end()].split(b"\n")[:-2])
                self._end_of_body()
                return
            if self._discard:
                part = buf[:len(self._discard)]
                if not part:
                    return self._wait(buf)
                if part != self._discard[:len(part)]:
                    raise WireProtocolError(MALFORMED)
                self._discard = self._discard[len(part):]
                buf = buf[len(part):]
                if self._discard:
                    return self._wait(buf)
            if self._chunk_left == 0:
                end = buf.find(b"\r\n")
                if end < 0:
                    return self._wait(buf)
                match = _CHUNK_HEADER.fullmatch(buf, 0, end + 2)
                if match is None:
                    raise WireProtocolError(MALFORMED)
                buf = buf[end + 2:]
                self._chunk_left = int(match["chunk_size"], 16)
                if self._chunk_left == 0:
                    self._trailer = True
                    continue
            if not buf:
                return self._wait(buf)
            take = buf[:self._chunk_left]
            buf = buf[len(take):]
            self._chunk_left -= len(take)
            if self._chunk_left == 0:
                self._discard = b"\r\n"
            if not self._search(take):
                return

    def _wait(self, buf: bytes) -> None:
        if len(buf) > MAX_HEAD:
            raise WireProtocolError(MALFORMED)  # httpcore: "Receive buffer too long"
        self._buf = buf

    def _search(self, raw: bytes) -> bool:
        """One piece of the body, as `http._CappedBody` then `http.body_contains` see it.
        Returns whether the body is still wanted (False: the check is decided)."""
        if not raw:
            return True
        chunk = raw[:self._left]
        self._left -= len(chunk)
        decoder = self._decoder
        out = decoder.feed(chunk) if decoder is not None else chunk
        if out and not self._drain:  # a redirect's body is read (capped, decoded), unsearched
            needle = self.plan.needle
            assert needle is not None
            window = self._tail + out
            if needle in window:
                self.found = True
                self.read += len(out)
                self._finish()
                return False
            self.read += len(out)
            if self.read >= self.plan.cap:
                self._finish()
                return False
            self._tail = window[-self.plan.keep:] if self.plan.keep else b""
        if self._left <= 0 or (decoder is not None and decoder.full):
            self._end_of_body()
            return False
        return True

    def _end_of_body(self) -> None:
        self.found = self.plan.needle == b"" and not self._drain
        self._finish()


def _status_ok(status: int, expected: tuple[int, ...]) -> bool:
    return status in expected if expected else 200 <= status < 400


def _parse_head(head: bytes) -> tuple[int, tuple[int, int, list[str]]]:
    """(status, (framing, content length, content codings)) of one complete response
    head ending in its blank line; status 0 for a 1xx to skip. Raises WireProtocolError."""
    lines = head.split(b"\n")
    del lines[-2:]  # the blank line
    status_line = lines[0]
    if status_line.endswith(b"\r"):
        status_line = status_line[:-1]
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise WireProtocolError(MALFORMED)
    status = int(match["status_code"])
    fields = _decode_fields(lines[1:])
    if status < 200:
        # h11: 1xx must be >= 100; a 101 without an Upgrade offer is an error.
        if status < 100 or status == 101:
            raise WireProtocolError(MALFORMED)
        return 0, (_TO_EOF, 0, [])
    kind, length = _TO_EOF, 0
    codings: list[str] = []
    for name, value in fields:
        if name == b"transfer-encoding":
            kind = _CHUNKED
        elif name == b"content-length":
            if kind != _CHUNKED:
                kind, length = _LENGTH, int(value)
        elif name == b"content-encoding":
            codings += [c.strip().lower() for c in value.decode("latin-1").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    return status, (kind, length, codings)


def _decode_fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Header lines (without their LF) -> [(lower-case name, value)] of the ones a check
    uses, validating every line as h11 does (obsolete line folding included)."""
    out: list[tuple[bytes, bytes]] = []
    content_length: bytes | None = None
    chunked = False
    for line in _unfold(lines):
        match = _HEADER_FIELD.fullmatch(line)
        if match is None:
            raise WireProtocolError(MALFORMED)
        name = match["field_name"].lower()
        value = match["field_value"]
        if name == b"content-length":
            lengths = {v.strip() for v in value.split(b",")}
            if len(lengths) != 1:
                raise WireProtocolError(MALFORMED)
            value = lengths.pop()
            if not _CONTENT_LENGTH.fullmatch(value) or len(value) > 20:
                raise WireProtocolError(MALFORMED)
            if content_length is None:
                content_length = value
                out.append((name, value))
            elif content_length != value:
                raise WireProtocolError(MALFORMED)
        elif name == b"transfer-encoding":
            if chunked or value.lower() != b"chunked":
                raise WireProtocolError(MALFORMED)
            chunked = True
            out.append((name, value))
        elif name == b"content-encoding":
            out.append((name, value))
    return out


def _unfold(lines: list[bytes]) -> list[bytes]:
    """Lines without a trailing CR, continuation lines joined to the one before."""
    out: list[bytes] = []
    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        fold = _FOLD.match(line)
        if fold is None:
            out.append(line)
        elif not out:
            raise WireProtocolError(MALFORMED)  # continuation line at start of headers
        else:
            out[-1] = out[-1] + b" " + line[fold.end():]
    return out


def _location(head: bytes, codings: list[str]) -> str | None:
    """The Location of a complete response head as httpx's `response.headers["Location"]`
    gives it (values joined by ", "), or None when there is none. The head has already
    been validated by `_parse_head`."""
    lines = _unfold(head.split(b"\n")[1:-2])
    values = []
    for line in lines:
        if line[:9].lower() == b"location:":
            match = _HEADER_FIELD.fullmatch(line)
            assert match is not None
            values.append(match["field_value"])
    if not values:
        return None
    joined = b", ".join(values)
    if joined.isascii():
        return joined.decode("ascii")
    return ", ".join(v.decode(_header_encoding(lines, codings)) for v in values)


def _header_encoding(lines: list[bytes], codings: list[str]) -> str:
    """httpx's `Headers.encoding` of the response `http._OneShotTransport` hands httpx
    (which leaves Content-Encoding out when it names a coding)."""
    values = []
    for line in lines:
        match = _HEADER_FIELD.fullmatch(line)
        assert match is not None
        if codings and match["field_name"].lower() == b"content-encoding":
            continue
        values.append(match["field_value"])
    for encoding in ("ascii", "utf-8"):
        try:
            for value in values:
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "iso-8859-1"
