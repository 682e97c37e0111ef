"""Real loopback servers for tests: 127.0.0.1, port 0, served from threads.

Threads (not the test's event loop) serve, so the servers work the same from
sync tests, from `asyncio.run`, and for a CLI run in a subprocess. Every
class starts serving when constructed and stops on `close()` or at the end of
a `with` block; each exposes `.port`, `.base_url` and `.url` (the base URL
plus the class's default path). Usage::

    with HttpServer() as server:
        probe = Probe(id="web", kind="http", url=server.url + "status/503")

What is here:

- `HttpServer`: HTTP/1.1 with httpbin-like routes (GET, HEAD, POST):
      /                200 "ok"
      /status/<code>   that status, body "status <code>"
      /text/<text>     200, body <text> (URL-decoded)
      /sleep/<ms>      200 "ok" after <ms> milliseconds
      /redirect/<n>    302 to /redirect/<n-1>; /redirect/0 is 200 "redirected"
      /loop            302 to itself, for ever
      /flaky/<n>       503 for the first <n> requests to this exact path, then 200
      /endless         200, then "x" bytes until the client goes away
      /trickle/<ms>    200, then one "x" every <ms> milliseconds (slowloris)
      /big/<bytes>     200 with a body of that many bytes
      /encoded/<coding>/<text>
                       200, <text> with Content-Encoding <coding>: gzip, deflate,
                       "gzip, deflate" (both, in that order), or anything else
                       sent as is (so "br" labels plain text wrongly)
      /bomb/<MiB>      200, gzip of <MiB> MiB of zeros (about 1 KB per MiB)
  `.requests` counts the requests served and `.seen` lists them as
  `Seen(method, path, headers)`. `tls=` a `TlsCert` makes it HTTPS.
- `TlsHttpServer`: an `HttpServer` over TLS with a self-signed certificate.
- `EndlessBodyServer`: an `HttpServer` whose `.url` is the endless body.
- `HangServer`: accepts TCP connections and never sends a byte.
- `RawServer`: answers every connection with fixed bytes (or a reset), then closes.
- `closed_port()`: a loopback port with nothing listening (connect is refused).
- `make_cert()`: a self-signed certificate (cryptography), cached per arguments.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import gzip
import ipaddress
import shutil
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import urllib.parse
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "EndlessBodyServer", "HangServer", "HttpServer", "RawServer", "Seen", "TlsCert",
    "TlsHttpServer", "closed_port", "make_cert",
]

HOST = "127.0.0.1"


def closed_port() -> int:
    """A loopback port nothing listens on: bound once, then released unused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _Server:
    """Start/stop plumbing shared by the servers below."""

    default_path = "/"
    scheme = "http"
    port: int

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.default_path

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- HTTP ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]


class HttpServer(_Server):
    """HTTP/1.1 on 127.0.0.1 with the routes in the module docstring."""

    def __init__(self, *, tls: TlsCert | None = None) -> None:
        self.scheme = "https" if tls else "http"
        self.cert = tls
        self.requests = 0
        self.seen: list[Seen] = []
        self._flaky: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = _ThreadingServer(self, tls.server_context() if tls else None)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"HttpServer:{self.port}", daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._server.closing.is_set():
            return
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join()

    def _record(self, seen: Seen) -> int:
        """Note a request; returns how many went to its path, this one included."""
        path = seen.path
        with self._lock:
            self.seen.append(seen)
            self.requests += 1
            self._flaky[path] = self._flaky.get(path, 0) + 1
            return self._flaky[path]


class TlsHttpServer(HttpServer):
    """HttpServer over TLS; `cert` defaults to a 30-day self-signed certificate."""

    cert: TlsCert

    def __init__(self, cert: TlsCert | None = None) -> None:
        super().__init__(tls=cert or make_cert())


class EndlessBodyServer(HttpServer):
    """HttpServer whose `.url` answers 200 and then streams bytes for ever."""

    default_path = "/endless"


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: HttpServer, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        self.closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for our fully qualified name; no need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake in the connection's own thread, so a slow client blocks no one."""
        conn = request
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls
        if self.ssl_context is not None:
            request.settimeout(5)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except OSError:  # the client rejected our certificate, or went away
                return
        with self._connections_lock:
            self._connections.add(conn)
        try:
            super().finish_request(conn, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(conn)
            if conn is not request:
                conn.close()

    def drop_connections(self) -> None:
        """Unblock handler threads still writing or reading."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early are the point of these tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _ThreadingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._drain_request_body()
        path = urllib.parse.urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = self.server.owner._record(Seen(self.command, path, headers))
        head, _, arg = path.strip("/").partition("/")
        try:
            route = _ROUTES[head]
        except KeyError:
            self._reply(404, b"no such route\n")
            return
        try:
            route(self, urllib.parse.unquote(arg), seen)
        except (OSError, ValueError):
            self.close_connection = True

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _drain_request_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _reply(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, total: int | None, pause: float = 0.0) -> None:
        """200 with `total` bytes of "x" (None: until the client leaves),
        in 64 KiB pieces, or in single bytes `pause` seconds apart."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if total is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk = b"x" if pause else b"x" * 65536
        left = total
        while not self.server.closing.is_set() and (left is None or left > 0):
            piece = chunk if left is None else chunk[:left]
            self.wfile.write(piece)
            if pause:
                self.server.closing.wait(pause)
            if left is not None:
                left -= len(piece)


def _root(h: _Handler, arg: str, seen: int) -> None:
    h._reply(200, b"ok\n")


def _status(h: _Handler, arg: str, seen: int) -> None:
    h._reply(int(arg), f"status {arg}\n".encode())


def _text(h: _Handler, arg: str, seen: int) -> None:
    h._reply(200, arg.encode())


def _sleep(h: _Handler, arg: str, seen: int) -> None:
    h.server.closing.wait(int(arg) / 1000)
    h._reply(200, b"ok\n")


def _redirect(h: _Handler, arg: str, seen: int) -> None:
    n = int(arg or 0)
    if n <= 0:
        h._reply(200, b"redirected\n")
    else:
        h._reply(302, b"", (("Location", f"/redirect/{n - 1}"),))


def _loop(h: _Handler, arg: str, seen: int) -> None:
    h._reply(302, b"", (("Location", "/loop"),))


def _flaky(h: _Handler, arg: str, seen: int) -> None:
    if seen <= int(arg or 1):
        h._reply(503, b"not yet\n")
    else:
        h._reply(200, b"ok\n")


def _endless(h: _Handler, arg: str, seen: int) -> None:
    h._stream(None)


def _trickle(h: _Handler, arg: str, seen: int) -> None:
    h._stream(None, int(arg) / 1000)


def _encoded(h: _Handler, arg: str, seen: int) -> None:
    coding, _, text = arg.partition("/")
    body = text.encode()
    for one in (c.strip() for c in coding.split(",")):
        if one == "gzip":
            body = gzip.compress(body)
        elif one == "deflate":
            body = zlib.compress(body)
    h._reply(200, body, (("Content-Encoding", coding),))


def _bomb(h: _Handler, arg: str, seen: int) -> None:
    h._reply(200, _gzipped_zeros(int(arg)), (("Content-Encoding", "gzip"),))


@functools.cache
def _gzipped_zeros(mib: int) -> bytes:
    return gzip.compress(bytes(mib << 20), compresslevel=9)


def _big(h: _Handler, arg: str, seen: int) -> None:
    h._stream(int(arg))


_ROUTES = {
    "": _root, "status": _status, "text": _text, "sleep": _sleep, "redirect": _redirect,
    "loop": _loop, "flaky": _flaky, "endless": _endless, "trickle": _trickle,
    "big": _big, "encoded": _encoded, "bomb": _bomb,
}


# --- a server that never answers --------------------------------------------


class AcceptLoop(_Server):
    """A raw loopback listener whose thread hands each connection to `_on_conn`.

    The base of the misbehaving servers (here and in faultkit.py): they differ
    only in what they do with a connection, never in how they listen or stop.
    """

    def __init__(self, *, backlog: int = 128, poll: float = 0.02) -> None:
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, 0), backlog=backlog)
        self._listener.settimeout(poll)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept,
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._on_conn(conn)

    def _on_conn(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._listener.close()


class HangServer(AcceptLoop):
    """Accepts TCP connections and never sends a byte: a hung application.

    `.accepted` counts connections; an https:// client hangs in its handshake.
    """

    def __init__(self) -> None:
        self.accepted = 0
        self._held: list[socket.socket] = []
        super().__init__()

    def _on_conn(self, conn: socket.socket) -> None:
        self._held.append(conn)
        self.accepted += 1

    def close(self) -> None:
        super().close()
        for conn in self._held:
            conn.close()


class RawServer(AcceptLoop):
    """Answers each connection with `reply` (after reading the request head)
    and closes it; with `reset=True` it closes with a TCP reset instead."""

    def __init__(self, reply: bytes = b"", *, reset: bool = False) -> None:
        self.reply = reply
        self.reset = reset
        super().__init__()

    def _on_conn(self, conn: socket.socket) -> None:
        with conn:
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            if self.reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            conn.sendall(self.reply)
        except OSError:
            return


# --- certificates -----------------------------------------------------------


@dataclass(frozen=True)
class TlsCert:
    """A certificate and its key, as PEM bytes and as files (for load_cert_chain)."""

    cert_pem: bytes
    key_pem: bytes
    cert_path: Path
    key_path: Path
    not_after: dt.datetime  # aware, UTC

    @property
    def days_left(self) -> float:
        return (self.not_after - dt.datetime.now(dt.UTC)).total_seconds() / 86400

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


_CERT_DIR: Path | None = None


def _cert_dir() -> Path:
    global _CERT_DIR
    if _CERT_DIR is None:
        _CERT_DIR = Path(tempfile.mkdtemp(prefix="slaprobe-test-certs-"))
        atexit.register(shutil.rmtree, _CERT_DIR, True)
    return _CERT_DIR


@functools.cache
def make_cert(days: float = 30, hostname: str = "localhost") -> TlsCert:
    """A self-signed certificate for `hostname`, 127.0.0.1 and ::1, valid `days` from now.

    It is its own CA (basicConstraints CA:TRUE), so a test can trust it with
    SSL_CERT_FILE=cert_path; by default no client trusts it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_after = now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, not_after) - dt.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(hostname),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    stem = f"{hostname}-{days:g}d"
    cert_path, key_path = _cert_dir() / f"{stem}.crt", _cert_dir() / f"{stem}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    return TlsCert(cert_pem, key_pem, cert_path, key_path, not_after)
