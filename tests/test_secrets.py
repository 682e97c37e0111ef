"""Secrets in HTTP headers ({env = "VAR"}, {file = "PATH"}, or literal) never show up
anywhere slaprobe writes: the daemon's log (even with -v), the database file,
exports, status, reports, `run --once`, or configuration error messages; not even
when the target echoes them back, nor are they sent to another origin on a redirect.
And a world-readable probes.toml holding a literal secret draws a warning.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from pathlib import Path

import pytest
from faultkit import (
    Agent,
    Conn,
    ScriptServer,
    config_text,
    http_probe,
    slaprobe,
    wait_for,
)

ENV_SECRET = "Bearer env-" + secrets.token_hex(12)
FILE_SECRET = "file-" + secrets.token_hex(12)
URL_SECRET = "pw" + secrets.token_hex(8)
ALL = (ENV_SECRET, FILE_SECRET, URL_SECRET, ENV_SECRET.split()[1])


def _echo_everything(conn: socket.socket, head: bytes, record: Conn) -> None:
    """401 whose reason phrase, headers and body repeat the request, credentials included."""
    echoed = b" ".join(line for line in head.split(b"\r\n") if b":" in line)[:2000]
    conn.sendall(b"HTTP/1.1 401 " + echoed + b"\r\nWWW-Authenticate: " + echoed +
                 b"\r\nContent-Length: " + str(len(head)).encode() + b"\r\n\r\n" + head)


def _echo_as_garbage(conn: socket.socket, head: bytes, record: Conn) -> None:
    conn.sendall(b"NOT HTTP " + head)


def _redirect_to(url: str):
    def script(conn: socket.socket, head: bytes, record: Conn) -> None:
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {url}\r\nContent-Length: 0\r\n\r\n"
                     .encode())
    return script


def _ok(conn: socket.socket, head: bytes, record: Conn) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _headers() -> dict:
    return {"Authorization": {"env": "SLAPROBE_TEST_TOKEN"}, "X-Api-Key": {"file": "token"}}


def _leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    return [s for s in ALL if s.encode() in data]


@pytest.mark.slow
def test_secrets_never_leave_the_request(tmp_path):
    (tmp_path / "token").write_text(FILE_SECRET + "\n")
    (tmp_path / "token").chmod(0o600)
    env = {"SLAPROBE_TEST_TOKEN": ENV_SECRET}
    echo, garbage, other = ScriptServer(_echo_everything), ScriptServer(_echo_as_garbage), \
        ScriptServer(_ok)
    redirect = ScriptServer(_redirect_to(other.url))  # another origin: another port
    try:
        probes = [
            http_probe("echo", echo.url, interval="300ms", headers=_headers(), client="acme"),
            http_probe("garbage", garbage.url, interval="300ms", headers=_headers()),
            http_probe("redirect", redirect.url, interval="300ms", headers=_headers(),
                       follow_redirects=True),
            http_probe("userinfo", f"http://probe:{URL_SECRET}@127.0.0.1:9/",
                       interval="300ms"),
        ]
        text = config_text(probes, clients={"acme": {"name": "ACME", "sla": "gold"}},
                           slas={"gold": {"objective": 99.9}})
        outputs: list[tuple[str, bytes]] = []
        with Agent(tmp_path, text, env=env, args=["-v"]) as agent:
            agent.wait_checks(8)
            agent.config.write_text(text + "\n[[probes]]\nid = 'bad'\nkind = 'http'\n"
                                    "url = 'x'\nheaders = { Authorization = 'Bearer "
                                    + URL_SECRET + "\\n' }\n")
            agent.signal(signal.SIGHUP)  # a refused reload logs the problems
            assert wait_for(lambda: "reload refused" in agent.log(), 10)
            agent.config.write_text(text)
            time.sleep(0.5)
            assert agent.stop() == 0
        outputs.append(("daemon log", agent.log().encode()))
        seen_by_echo = b"".join(c.request for c in echo.conns)
        assert ENV_SECRET.encode() in seen_by_echo and FILE_SECRET.encode() in seen_by_echo
        assert other.conns, "the redirect was followed"
        assert not any(_leaks(c.request) for c in other.conns), "sent to another origin"
        cfg = ["--config", str(agent.config)]
        for args in (["export"], ["status"], ["status", "--json"], ["incidents", "--format",
                                                                    "json"],
                     *(["report", "--format", f] for f in ("table", "json", "csv", "md",
                                                             "html")),
                     ["run", "--once", "-v"]):
            out = slaprobe(*args, *cfg, env=env)
            outputs += [(" ".join(args), out.stdout), (" ".join(args) + " stderr", out.stderr)]
        for suffix in ("", "-wal"):
            f = Path(f"{agent.db}{suffix}")
            if f.exists():
                outputs.append((f.name, f.read_bytes()))
    finally:
        for s in (echo, garbage, other, redirect):
            s.close()
    leaked = [(where, _leaks(data)) for where, data in outputs if _leaks(data)]
    assert not leaked, leaked
    export = dict(outputs)["export"].decode()
    assert "status: got 401" in export and "protocol:" in export  # the checks did run


def _check(path: Path, env: dict[str, str] | None = None):
    return slaprobe("check", "--config", str(path), env=env)


@pytest.mark.parametrize("header", ["Authorization", "Cookie", "X-Api-Key", "Private-Token"])
def test_a_world_readable_file_with_a_literal_secret_draws_a_warning(tmp_path, header):
    path = tmp_path / "probes.toml"
    path.write_text(config_text([http_probe("web", "http://127.0.0.1:9/",
                                            headers={header: ENV_SECRET})]))
    path.chmod(0o644)
    out = _check(path)
    err = out.stderr.decode()
    assert out.returncode == 0
    assert "readable by other users" in err and "chmod 600" in err
    assert not _leaks(out.stdout + out.stderr)
    path.chmod(0o600)
    assert b"readable by other users" not in _check(path).stderr


def test_a_password_in_a_url_counts_as_a_literal_secret(tmp_path):
    path = tmp_path / "probes.toml"
    path.write_text(config_text([http_probe("web", f"http://u:{URL_SECRET}@127.0.0.1:9/")]))
    path.chmod(0o644)
    out = _check(path)
    assert b"readable by other users" in out.stderr and not _leaks(out.stdout + out.stderr)


def test_secrets_read_from_env_or_file_need_no_warning(tmp_path):
    (tmp_path / "token").write_text(FILE_SECRET)
    path = tmp_path / "probes.toml"
    path.write_text(config_text([http_probe("web", "http://127.0.0.1:9/", headers=_headers())]))
    path.chmod(0o644)
    out = _check(path, env={"SLAPROBE_TEST_TOKEN": ENV_SECRET})
    assert out.returncode == 0 and b"readable by other users" not in out.stderr


@pytest.mark.parametrize("value", [
    ENV_SECRET + "\n", ENV_SECRET + "\r\nX-Injected: 1", ENV_SECRET + "\x00",
])
def test_a_bad_secret_value_is_refused_without_showing_it(tmp_path, value):
    path = tmp_path / "probes.toml"
    (tmp_path / "token").write_text(value + "more")
    sources = [{"Authorization": value}, {"Authorization": {"file": "token"}}]
    if "\x00" not in value:  # an environment cannot hold a NUL
        sources.append({"Authorization": {"env": "SLAPROBE_TEST_TOKEN"}})
    for headers in sources:
        path.write_text(config_text([http_probe("web", "http://127.0.0.1:9/",
                                                headers=headers)]))
        path.chmod(0o600)
        out = _check(path, env={"SLAPROBE_TEST_TOKEN": value.replace("\x00", "")})
        assert out.returncode == 2, out.stderr
        assert b"Traceback" not in out.stderr and not _leaks(out.stdout + out.stderr)


def test_other_problems_in_a_file_with_secrets_do_not_show_them(tmp_path):
    path = tmp_path / "probes.toml"
    path.write_text(config_text([http_probe("web", "http://127.0.0.1:9/", timeout="soon",
                                            headers={"Authorization": ENV_SECRET,
                                                     "Bad Header": ENV_SECRET,
                                                     "X-Num": 5})]))
    path.chmod(0o600)
    out = _check(path)
    assert out.returncode == 2 and not _leaks(out.stdout + out.stderr)
    assert os.environ.get("SLAPROBE_TEST_TOKEN") is None


def _redirect_once(conn: socket.socket, head: bytes, record: Conn) -> None:
    if head.startswith(b"GET /next"):
        _ok(conn, head, record)
    else:
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")


def _probe_once(url: str, headers: tuple[tuple[str, str], ...]):
    import asyncio

    from slaprobe.config import Probe
    from slaprobe.probes import ProbeContext, run_check

    async def go():
        async with ProbeContext() as ctx:
            return await run_check(Probe(id="p", kind="http", url=url, headers=headers,
                                         follow_redirects=True, timeout=2), ctx)
    return asyncio.run(go())


def test_configured_headers_follow_a_redirect_to_the_same_origin_only():
    headers = (("Authorization", ENV_SECRET), ("X-Api-Key", FILE_SECRET), ("X-Plain", "p"))
    with ScriptServer(_redirect_once) as same:
        assert _probe_once(same.url, headers).ok
        assert all(FILE_SECRET.encode() in c.request and ENV_SECRET.encode() in c.request
                   for c in same.conns) and len(same.conns) == 2
    with ScriptServer(_ok) as other, ScriptServer(_redirect_to(other.url + "x")) as first:
        assert _probe_once(first.url, headers).ok
        [sent] = other.conns
        assert not _leaks(sent.request) and b"x-plain" not in sent.request.lower()
        assert b"user-agent: slaprobe/" in sent.request.lower()


# --- the metrics endpoint ------------------------------------------------------------------


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on, from /proc."""
    import ipaddress

    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, width in (("tcp", 4), ("tcp6", 16)):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:
                continue
            hex_addr, hex_port = local.split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
            out.append((str(ipaddress.ip_address(raw)), int(hex_port, 16)))
    return out


def test_the_metrics_endpoint_listens_on_loopback_and_serves_only_metrics(tmp_path):
    from faultkit import free_port, scrape

    port = free_port()
    (tmp_path / "token").write_text(FILE_SECRET)
    with ScriptServer(_ok) as target, Agent(
            tmp_path, config_text([http_probe("web", target.url, interval="200ms",
                                              headers=_headers())], metrics=port),
            env={"SLAPROBE_TEST_TOKEN": ENV_SECRET}) as agent:
        agent.wait_checks(2)
        assert _listening(agent.pid) == [("127.0.0.1", port)]
        status, body = scrape(port, "/metrics")
        assert status == 200 and "slaprobe_probe_up{" in body and not _leaks(body)
        assert scrape(port, "/metrics?format=x")[0] == 200
        for path in ("/favicon.ico", "/metrics/", "//metrics", "/METRICS", "/../etc/passwd",
                     "/debug/pprof", "/api/v1/query", "/status", "/%2e%2e/metrics", "/metrics.txt",
                     "/probes.toml", "/slaprobe.db", "*"):
            status, body = scrape(port, path)
            assert status in (400, 404) and "slaprobe_" not in body, (path, status)
        status, body = scrape(port, "/")
        assert status in (200, 404) and "slaprobe_" not in body  # at most a pointer to /metrics
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
            assert s.recv(100).startswith(b"HTTP/1.1 405")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 431")
        assert agent.alive()
        agent.stop()


def test_the_shipped_configuration_serves_metrics_on_loopback_only():
    from slaprobe.config import load_config
    from slaprobe.metrics import parse_listen

    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "probes.toml")
    assert config.agent.metrics is not None
    host, _ = parse_listen(config.agent.metrics)
    assert host in ("127.0.0.1", "::1", "localhost")
    for shorthand in ("9464", ":9464"):
        assert parse_listen(shorthand) == ("127.0.0.1", 9464)
