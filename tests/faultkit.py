"""Helpers for the fault, load and hostile-input tests (and scripts/reliability.py).

The daemon always runs as a real `slaprobe run` subprocess whose stderr goes to
a file: a pipe nobody reads fills at 64 KiB and would stall the daemon, which
is not the fault under test. What a test observes comes from outside, as an
operator would see it: the SQLite file, `/metrics`, `/proc/PID`, the log.

    with Agent(tmp_path, config_text(probes=[...], metrics=port)) as agent:
        agent.wait_checks(10)
        ...
    checks = db_checks(agent.db)

Misbehaving targets live here too (slowloris, reset mid-response, gzip bombs,
a scriptable raw server, certificates that are expired or for another host);
the well-behaved ones are in `servers.py`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import AcceptLoop

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

# Characters that must never reach an operator's terminal raw.
ESC, BEL = "\x1b", "\x07"
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
C1 = "".join(chr(c) for c in range(0x80, 0xA0))


def dangerous_chars(text: str) -> set[str]:
    """The escape, bell, C1 and bidi control characters present in `text`."""
    return {c for c in text if c in ESC + BEL + BIDI + C1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


# --- probes.toml ------------------------------------------------------------


def toml_str(text: str) -> str:
    """A TOML basic string; controls (C0, DEL, C1) as \\u escapes, the rest raw."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_str(key)


def config_text(probes: Iterable[dict[str, Any]] = (), *, name: str = "t1",
                database: str = "t.db", metrics: int | None = None,
                clients: dict[str, dict[str, Any]] | None = None,
                slas: dict[str, dict[str, Any]] | None = None) -> str:
    """A probes.toml with an [agent], optional SLAs and clients, and the probes."""
    lines = ["[agent]", f"name = {toml_str(name)}", f"database = {toml_str(database)}",
             'timezone = "UTC"']
    if metrics is not None:
        lines.append(f'metrics = "{HOST}:{metrics}"')
    for sid, body in (slas or {}).items():
        lines.append(f"\n[sla.{toml_key(sid)}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
    for cid, body in (clients or {}).items():
        lines.append(f"\n[clients.{toml_key(cid)}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
    for probe in probes:
        lines.append("\n[[probes]]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in probe.items()]
    return "\n".join(lines) + "\n"


def http_probe(pid: str, url: str, interval: str = "1s", timeout: str = "1s",
               **extra: Any) -> dict[str, Any]:
    return {"id": pid, "kind": "http", "url": url, "interval": interval, "timeout": timeout,
            **extra}


def tcp_probe(pid: str, host: str, port: int, interval: str = "1s", timeout: str = "1s",
              **extra: Any) -> dict[str, Any]:
    return {"id": pid, "kind": "tcp", "host": host, "port": port, "interval": interval,
            "timeout": timeout, **extra}


# --- the daemon as a process --------------------------------------------------


def slaprobe(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`python -m slaprobe ARGS`, output as bytes (tests decode and inspect them)."""
    return subprocess.run([sys.executable, "-m", "slaprobe", *args], capture_output=True,
                          env={**os.environ, "COLUMNS": "160", **(env or {})}, input=input,
                          timeout=timeout)


class Agent:
    """`slaprobe run` in the background on `config` (text or a path) in `workdir`."""

    def __init__(self, workdir: Path, config: str | Path, *, args: Iterable[str] = (),
                 env: dict[str, str] | None = None, db: Path | None = None,
                 preexec_fn: Callable[[], None] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, Path):
            self.config = config
        else:
            self.config = self.workdir / "probes.toml"
            self.config.write_text(config)
            self.config.chmod(0o600)
        self.db = db or self.workdir / "t.db"
        self.args = list(args)
        self.env = env or {}
        self.preexec_fn = preexec_fn
        self.log_path = self.workdir / f"agent-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Agent:
        cmd = [sys.executable, "-m", "slaprobe", "run", "--config", str(self.config)]
        if self.db is not None:
            cmd += ["--db", str(self.db)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd + self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={**os.environ, **self.env}, cwd=self.workdir, preexec_fn=self.preexec_fn,
            )
        self.started_at = time.time()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> float:
        """SIGKILL; returns the wall time just before the signal."""
        assert self.proc is not None
        at = time.time()
        self.proc.kill()
        self.proc.wait()
        return at

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_checks(self, n: int = 1, timeout: float = 30.0) -> None:
        """Until the database holds at least n checks (or fail with the log)."""
        ok = wait_for(lambda: db_count(self.db) >= n or not self.alive(), timeout)
        assert ok and self.alive(), f"no {n} checks stored; log:\n{self.log()[-3000:]}"

    def rss_mb(self) -> float:
        return proc_status(self.pid).get("VmRSS", 0) / 1024

    def __enter__(self) -> Agent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def proc_status(pid: int) -> dict[str, int]:
    """Numeric fields of /proc/PID/status (kB for sizes)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        first = value.split()
        if first and first[0].isdigit():
            out[key] = int(first[0])
    return out


def proc_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Sample:
    t: float  # seconds since the sampling started
    rss_mb: float
    fds: int
    threads: int


class Sampler:
    """Samples a process's RSS, open fds and threads every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid = pid
        self.every = every
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            st = proc_status(self.pid)
            if st:
                self.samples.append(Sample(time.monotonic() - t0, st.get("VmRSS", 0) / 1024,
                                           proc_fds(self.pid), st.get("Threads", 0)))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def max_rss_mb(self) -> float:
        return max((s.rss_mb for s in self.samples), default=0.0)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return 0.0 if sxx == 0 else sum((x - mx) * (y - my) for x, y in points) / sxx


# --- what the daemon stored and exposes --------------------------------------


@dataclass(frozen=True)
class Stored:
    probe: str
    ts: float
    ok: bool
    error: str | None


def db_checks(db: Path) -> list[Stored]:
    """Every stored check (read-only connection), ordered by probe then time."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(
            "SELECT p.name, c.ts_ms, c.ok, c.error FROM checks c JOIN probes p"
            " ON p.id = c.probe_id ORDER BY p.name, c.ts_ms").fetchall()
    return [Stored(r[0], r[1] / 1000, bool(r[2]), r[3]) for r in rows]


def by_probe(checks: Iterable[Stored]) -> dict[str, list[Stored]]:
    out: dict[str, list[Stored]] = {}
    for c in checks:
        out.setdefault(c.probe, []).append(c)
    return out


def db_count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM checks").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def db_last_ts(db: Path) -> float | None:
    """The newest stored check's time; None when there is none (or no schema yet)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT max(ts_ms) FROM checks").fetchone()
    except sqlite3.OperationalError:  # killed before the first migration committed
        return None
    finally:
        conn.close()
    return None if row[0] is None else row[0] / 1000


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def dump(db: Path) -> str:
    """The whole database as SQL text, to compare before and after."""
    if not db.exists():
        return ""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def scrape(port: int, path: str = "/metrics", timeout: float = 10) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:PORT/PATH, by hand (no proxies, no retries)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body.decode("utf-8", "replace")


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample `name{labels...}` in exposition `text`."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


# --- misbehaving targets --------------------------------------------------------


@dataclass
class Conn:
    """One connection a ScriptServer handled."""

    accepted: float  # wall time
    request: bytes  # the request head
    closed_after: float | None = None  # seconds until the client went away (if watched)


class ScriptServer(AcceptLoop):
    """A loopback TCP server that runs `script(conn, head)` per connection, in a thread.

    The script gets the socket after the request head has been read (or at once
    with `read_head=False`) and does whatever rude thing it likes.
    """

    def __init__(self, script: Callable[[socket.socket, bytes, Conn], None], *,
                 read_head: bool = True):
        self.script = script
        self.read_head = read_head
        self.conns: list[Conn] = []
        super().__init__(backlog=256, poll=0.05)

    def _on_conn(self, conn: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        record = Conn(time.time(), b"")
        self.conns.append(record)
        try:
            conn.settimeout(5)
            if self.read_head:
                while b"\r\n\r\n" not in record.request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    record.request += chunk
            self.script(conn, record.request, record)
        except OSError:
            pass
        finally:
            conn.close()


def client_gone(conn: socket.socket, wait: float) -> bool:
    """Wait up to `wait` s; True if the peer closed (or reset) meanwhile."""
    readable, _, _ = select.select([conn], [], [], wait)
    if not readable:
        return False
    try:
        return conn.recv(4096, socket.MSG_PEEK) == b""
    except OSError:
        return True


def slowloris(conn: socket.socket, head: bytes, record: Conn) -> None:
    """One byte of a valid response per second; notes when the client gives up."""
    started = time.monotonic()
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
        conn.sendall(bytes([byte]))
        if client_gone(conn, 1.0):
            break
    record.closed_after = time.monotonic() - started


def hang(conn: socket.socket, head: bytes, record: Conn) -> None:
    """Read the request, never answer; note when the client gives up (max 30 s)."""
    started = time.monotonic()
    deadline = started + 30
    while time.monotonic() < deadline and not client_gone(conn, 0.05):
        pass
    record.closed_after = time.monotonic() - started


def reset_mid_response(conn: socket.socket, head: bytes, record: Conn) -> None:
    """Half a status line and header, then a TCP reset (SO_LINGER 0)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
    time.sleep(0.05)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def garbage(conn: socket.socket, head: bytes, record: Conn) -> None:
    conn.sendall(b"\x00\xffSSH-2.0-not-http \x1b[31mgarbage\r\n\r\n" + os.urandom(512))


def endless_headers(conn: socket.socket, head: bytes, record: Conn) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conn.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")


def raw_reply(data: bytes) -> Callable[[socket.socket, bytes, Conn], None]:
    def script(conn: socket.socket, head: bytes, record: Conn) -> None:
        conn.sendall(data)
        time.sleep(0.05)
    return script


def _gzip(chunks: Iterable[bytes]) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(c.compress(ch) for ch in chunks), c.flush()])


def gzip_bomb(layers: int = 2, megabytes: int = 200) -> bytes:
    """A response whose body is `megabytes` of zeros gzipped `layers` times."""
    body = _gzip(b"\0" * (1 << 20) for _ in range(megabytes))
    for _ in range(layers - 1):
        body = _gzip([body])
    encoding = ", ".join(["gzip"] * layers)
    return (f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


# --- certificates ----------------------------------------------------------------


@dataclass(frozen=True)
class Cert:
    cert_path: Path
    key_path: Path
    cert_pem: bytes


def make_cert(directory: Path, stem: str, *, days_before: float = 1, days_after: float = 30,
              names: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = (HOST,)) -> Cert:
    """A self-signed CA:TRUE certificate valid from now-days_before to now+days_after
    (negative days_after: already expired) for the DNS `names` and `ips`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else stem)])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=days_before))
        .not_valid_after(now + dt.timedelta(days=days_after))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Cert(cert_path, key_path, cert_pem)


# --- scenarios shared by the tests and scripts/reliability.py -------------------------


@dataclass
class KillCycle:
    n: int
    fresh: bool  # started on a new, empty database
    after: float  # seconds from spawn to SIGKILL
    integrity: str
    lost_seconds: float | None  # kill time - newest stored check (None: not measured)
    stored: int  # checks in the database after the kill


def kill_cycles(workdir: Path, url: str, cycles: int, *, seed: int = 0) -> list[KillCycle]:
    """SIGKILL the daemon at random moments, `cycles` times, on one database.

    Every fifth cycle starts on a fresh database and is killed at a random moment
    of its first second (start-up, schema creation, first writes); the others
    run until they have stored a check and are killed 0-0.6 s later, when the
    loss is measured: kill time minus the newest stored check.
    """
    import random

    rng = random.Random(seed)
    db = workdir / "k.db"
    cfg = config_text([http_probe("web", url, interval="100ms")], database="k.db")
    out = []
    for n in range(cycles):
        fresh = n % 5 == 0
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        before = db_count(db)
        agent = Agent(workdir / f"cycle-{n}", cfg, db=db).start()
        spawned = time.monotonic()
        try:
            if fresh:
                time.sleep(rng.uniform(0.05, 1.0))
            else:
                agent.wait_checks(before + 1)
                time.sleep(rng.uniform(0.0, 0.6))
            killed_at = agent.kill()
        finally:
            if agent.alive():
                agent.kill()
        after = time.monotonic() - spawned
        check = integrity(db) if db.exists() else "ok"
        last = db_last_ts(db) if not fresh and check == "ok" else None
        lost = None if last is None else killed_at - last
        out.append(KillCycle(n, fresh, after, check, lost, db_count(db)))
    return out


@dataclass
class SoakResult:
    seconds: float
    probes: int
    samples: list[Sample]
    checks: int

    def half_slope(self, field: str) -> float:
        """Growth per minute of `field` over the second half of the run."""
        half = self.samples[len(self.samples) // 2:]
        return slope([(s.t / 60, getattr(s, field)) for s in half])


def soak(workdir: Path, seconds: float, *, probes: int = 200, every: float = 1.0) -> SoakResult:
    """`probes` probes (half HTTP to a loopback server, a quarter TCP up, a quarter TCP
    refused) at 1-2 s for `seconds`, sampling the daemon's RSS, fds and threads."""
    from servers import HttpServer, closed_port

    closed = closed_port()
    with HttpServer() as server:
        specs = []
        for i in range(probes):
            if i % 4 in (0, 1):
                specs.append(http_probe(f"h{i:04d}", server.url, interval="2s",
                                        body_contains="ok"))
            elif i % 4 == 2:
                specs.append(tcp_probe(f"t{i:04d}", HOST, server.port, interval="1s"))
            else:
                specs.append(tcp_probe(f"r{i:04d}", HOST, closed, interval="1s"))
        with Agent(workdir, config_text(specs, metrics=free_port())) as agent:
            agent.wait_checks(probes // 2)
            with Sampler(agent.pid, every=every) as sampler:
                time.sleep(seconds)
            assert agent.stop() == 0, agent.log()[-2000:]
    return SoakResult(seconds, probes, sampler.samples, db_count(agent.db))


@dataclass
class ManyDown:
    probes: int
    seconds: float  # the measured window
    interval: float
    per_probe: dict[int, int]  # checks in the window -> how many probes had that many
    lateness: dict[str, float]  # quantile -> seconds, from /metrics
    errors: set[str | None]
    max_rss_mb: float


def many_down(workdir: Path, n: int = 2000, seconds: float = 10.0,
              interval: float = 2.0) -> ManyDown:
    """`n` TCP probes of a closed loopback port, all down at once, for `seconds`."""
    from collections import Counter

    from servers import closed_port

    port, closed = free_port(), closed_port()
    probes = [tcp_probe(f"p{i:05d}", HOST, closed, interval=f"{interval:g}s", timeout="1s")
              for i in range(n)]
    with Agent(workdir, config_text(probes, metrics=port)) as agent:
        agent.wait_checks(n, timeout=60)
        t0 = time.time()
        with Sampler(agent.pid) as sampler:
            time.sleep(seconds)
        status, text = scrape(port)
        t1 = time.time()
        assert agent.stop() == 0 and status == 200
    lateness = {q: metric(text, "slaprobe_scheduler_lateness_seconds", quantile=q)
                for q in ("0.5", "0.9", "0.99")}
    checks = by_probe(db_checks(agent.db))
    per_probe = Counter(sum(1 for c in cs if t0 <= c.ts < t1) for cs in checks.values())
    if n > len(checks):
        per_probe[0] += n - len(checks)  # probes never checked
    return ManyDown(n, t1 - t0, interval, dict(per_probe),
                    {q: v for q, v in lateness.items() if v is not None},
                    {c.error for cs in checks.values() for c in cs}, sampler.max_rss_mb)
