"""Targets that misbehave, and thousands of targets down at once, against the real daemon.

Each rude target must give a failed check of the right kind within its
timeout (plus a margin), cost the agent bounded memory, and leave a healthy
probe in the same daemon on its schedule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest
from faultkit import (
    HOST,
    Agent,
    Sampler,
    ScriptServer,
    by_probe,
    config_text,
    db_checks,
    endless_headers,
    garbage,
    gzip_bomb,
    hang,
    http_probe,
    make_cert,
    many_down,
    raw_reply,
    reset_mid_response,
    slowloris,
    tcp_probe,
)
from servers import EndlessBodyServer, HttpServer, TlsCert, closed_port
from servers import make_cert as self_signed_cert

RSS_LIMIT_MB = 200


def _tls_server(cert) -> HttpServer:
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    return HttpServer(tls=TlsCert(cert.cert_pem, b"", cert.cert_path, cert.key_path, far))


# What each rude target must produce: (error kind, text the message must hold).
EXPECTED = {
    "hang": ("timeout", "no response within 1s"),
    "slowloris": ("timeout", "within 1s"),
    "endless": ("body", "read limit"),
    "gzip-bomb": ("body", "read limit"),
    "garbage": ("protocol", ""),
    "reset": ("reset", ""),
    "endless-headers": ("protocol", ""),
    "tls-expired": ("tls", "expired"),
    "tls-self-signed": ("tls", "self-signed"),
    "tls-wrong-host": ("tls", "mismatch"),
    "dns": ("dns", ""),
    "tcp-dns": ("dns", ""),
    "redirect-loop": ("protocol", "redirects"),
    "refused": ("refused", ""),
}


@pytest.mark.slow
def test_rude_targets_fail_with_their_kind_in_time_and_a_healthy_probe_keeps_its_schedule(
        tmp_path):
    certs = tmp_path / "certs"
    expired = make_cert(certs, "expired", days_before=30, days_after=-1)
    wrong_host = make_cert(certs, "wrong-host", names=("other.example",), ips=())
    bundle = certs / "trusted.pem"  # expired and wrong-host are trusted: only their flaw fails
    bundle.write_bytes(expired.cert_pem + wrong_host.cert_pem)
    servers = {
        "ok": HttpServer(), "endless": EndlessBodyServer(),
        "hang": ScriptServer(hang), "slowloris": ScriptServer(slowloris),
        "garbage": ScriptServer(garbage), "reset": ScriptServer(reset_mid_response),
        "headers": ScriptServer(endless_headers),
        "bomb": ScriptServer(raw_reply(gzip_bomb(layers=2, megabytes=300))),
        "expired": _tls_server(expired), "wrong-host": _tls_server(wrong_host),
        "self-signed": HttpServer(tls=self_signed_cert()),
    }
    rude = dict(interval="1500ms", timeout="1s")
    probes = [
        http_probe("healthy", servers["ok"].url, interval="500ms"),
        http_probe("hang", servers["hang"].url, **rude),
        http_probe("slowloris", servers["slowloris"].url, **rude),
        http_probe("endless", servers["endless"].url, body_contains="needle", **rude),
        http_probe("gzip-bomb", servers["bomb"].url, body_contains="needle", **rude),
        http_probe("garbage", servers["garbage"].url, **rude),
        http_probe("reset", servers["reset"].url, **rude),
        http_probe("endless-headers", servers["headers"].url, **rude),
        http_probe("tls-expired", servers["expired"].base_url + "/", **rude),
        http_probe("tls-wrong-host", servers["wrong-host"].base_url + "/", **rude),
        http_probe("tls-self-signed", servers["self-signed"].base_url + "/", **rude),
        http_probe("dns", "http://no-such-host.invalid/", **rude),
        tcp_probe("tcp-dns", "no-such-host.invalid", 80, **rude),
        http_probe("redirect-loop", servers["ok"].base_url + "/loop", follow_redirects=True,
                   **rude),
        tcp_probe("refused", HOST, closed_port(), **rude),
    ]
    try:
        with Agent(tmp_path, config_text(probes), env={"SSL_CERT_FILE": str(bundle)}) as agent:
            agent.wait_checks(len(probes))
            t0 = time.time()
            with Sampler(agent.pid, every=0.1) as sampler:
                time.sleep(7.5)
            t1 = time.time()
            assert agent.stop() == 0
    finally:
        for server in servers.values():
            server.close()
    log = agent.log()
    assert "Traceback" not in log, log
    checks = by_probe(db_checks(agent.db))
    window = {pid: [c for c in cs if t0 <= c.ts < t1] for pid, cs in checks.items()}

    for pid, (kind, text) in EXPECTED.items():
        got = window[pid]
        # A check that outlasted timeout + 0.5 s would push the next past its tick
        # (ticks are skipped, never run late), so fewer checks would be stored.
        assert len(got) >= int((t1 - t0) / 1.5) - 1, (pid, len(got))
        for c in got:
            assert not c.ok and c.error is not None, (pid, c)
            assert c.error.startswith(kind + ":") and text in c.error, (pid, c.error)

    # Seen from the rude servers: the agent hung up within timeout + margin.
    for name in ("hang", "slowloris"):
        done = [c.closed_after for c in servers[name].conns if c.closed_after is not None]
        assert done and max(done) <= 1.0 + 0.5, (name, done)

    healthy = window["healthy"]
    assert all(c.ok for c in healthy)
    assert len(healthy) >= int((t1 - t0) / 0.5) - 1
    gaps = [b.ts - a.ts for a, b in zip(healthy, healthy[1:])]
    assert max(gaps) <= 0.5 + 0.3, gaps
    assert sampler.max_rss_mb < RSS_LIMIT_MB, sampler.max_rss_mb


# --- one check at a time, in process: exact timing and decoding ----------------------


def _run(probe_kwargs: dict, env_cafile: Path | None = None):
    from slaprobe.config import Probe
    from slaprobe.probes import ProbeContext, run_check

    async def go():
        async with ProbeContext() as ctx:
            started = time.monotonic()
            outcome = await run_check(Probe(id="p", kind="http", timeout=0.5, **probe_kwargs),
                                      ctx)
            return outcome, time.monotonic() - started

    return asyncio.run(go())


@pytest.mark.parametrize("script, kind", [
    (hang, "timeout"), (slowloris, "timeout"), (garbage, "protocol"),
    (reset_mid_response, "reset"), (endless_headers, "protocol"),
], ids=["hang", "slowloris", "garbage", "reset mid-response", "endless headers"])
def test_a_rude_target_costs_one_timeout_at_most(script, kind):
    with ScriptServer(script) as server:
        outcome, took = _run({"url": server.url, "body_contains": "ok"})
    assert outcome.error is not None and outcome.error.startswith(kind + ":"), outcome
    assert took <= 0.5 + 0.5


@pytest.mark.parametrize("layers", [1, 2], ids=["1 layer", "2 layers"])
def test_a_gzip_bomb_is_inflated_only_up_to_the_body_cap(layers):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with ScriptServer(raw_reply(gzip_bomb(layers=layers, megabytes=120))) as server:
        outcome, took = _run({"url": server.url, "body_contains": "needle"})
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert outcome.error == "body: expected text not in the 65536 bytes read (read limit)"
    assert took < 0.5 and grown_mb < 20


def _encoded(body: bytes, coding: str) -> bytes:
    import gzip
    import zlib

    if coding == "gzip":
        data = gzip.compress(body)
    elif coding == "deflate":
        data = zlib.compress(body)
    else:  # raw deflate, as some servers send for "deflate"
        c = zlib.compressobj(wbits=-15)
        data = c.compress(body) + c.flush()
        coding = "deflate"
    return (f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {len(data)}\r\n"
            "\r\n").encode() + data


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_bodies_are_still_searched(coding):
    body = b"x" * 30000 + b"all systems go" + b"y" * 100
    with ScriptServer(raw_reply(_encoded(body, coding))) as server:
        outcome, _ = _run({"url": server.url, "body_contains": "systems go"})
    assert outcome.ok, outcome


@pytest.mark.parametrize("reply, message", [
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!",
     "protocol: body is not valid gzip data"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc",
     "protocol: unsupported Content-Encoding 'br'"),
], ids=["corrupt gzip", "unknown coding"])
def test_a_body_that_cannot_be_decoded_is_a_protocol_failure(reply, message):
    with ScriptServer(raw_reply(reply)) as server:
        outcome, _ = _run({"url": server.url, "body_contains": "ok"})
    assert outcome.error == message


def test_the_agent_asks_only_for_codings_it_can_bound():
    with ScriptServer(raw_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) as server:
        _run({"url": server.url})
        head = server.conns[0].request.decode().lower()
    assert "accept-encoding: gzip, deflate\r\n" in head


# --- thousands of probes down at once ------------------------------------------------


@pytest.mark.slow
def test_two_thousand_probes_down_at_once_keep_their_schedule(tmp_path):
    result = many_down(tmp_path, n=2000, seconds=8.0, interval=2.0)
    assert result.lateness["0.5"] < 0.1 and result.lateness["0.99"] < 1.0, result.lateness
    expected = int(result.seconds / result.interval)  # no pile-up, no starved probe
    assert set(result.per_probe) <= {expected - 1, expected, expected + 1}, result.per_probe
    assert result.errors == {"refused: connection refused"}
    assert result.max_rss_mb < RSS_LIMIT_MB
