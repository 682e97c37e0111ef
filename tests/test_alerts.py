"""Alerts: [[alerts]] routes validated, events found, burn rates, and real deliveries.

The end-to-end tests run `slaprobe run` as a subprocess against a switchable
loopback target, with a real webhook endpoint, a real SMTP sink and a real
command, and count what each of them received.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alert_receivers import (
    HookReceiver,
    SmtpSink,
    command_events,
    command_receiver,
    free_port,
)
from e2e import SwitchableHTTP, daemon, slaprobe, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_config import VALUE, assert_well_reported, to_toml

from slaprobe._config_alerts import ALERT_KEYS, ALERT_KIND_KEYS, AlertRoute
from slaprobe.alert_events import DownTracker, event_payload
from slaprobe.alert_send import (
    DeliveryError,
    Sender,
    email_message,
    slack_body,
    teams_body,
    webhook_body,
)
from slaprobe.alerts import AlertManager
from slaprobe.burn import PAGE, TICKET, burn_rate, burning, window_rates
from slaprobe.checks import Check
from slaprobe.config import Probe, load_config, parse_config
from slaprobe.errors import ConfigError
from slaprobe.store import Store

HEAD = """\
[agent]
name = "t1"
database = "t.db"
timezone = "UTC"

[sla.gold]
objective = 99.9

[clients.acme]
name = "ACME Corp"
sla = "gold"

[[probes]]
id = "web"
client = "acme"
kind = "http"
url = "{url}"
interval = "{interval}"
timeout = "1s"
confirm = 2
"""


def _config(folder: Path, url: str = "http://127.0.0.1:9/", body: str = "",
            interval: str = "200ms") -> Path:
    path = folder / "probes.toml"
    path.write_text(HEAD.format(url=url, interval=interval) + textwrap.dedent(body))
    path.chmod(0o600)
    return path


def _hook(url: str, **extra: str) -> str:
    more = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return f'\n[[alerts]]\nid = "hook"\nkind = "webhook"\nurl = "{url}"\n{more}'


def _rows(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []


def _failed_checks(db: Path) -> int:
    rows = _rows(db, "SELECT count(*) FROM checks WHERE ok = 0")
    return rows[0][0] if rows else 0


def _checks(db: Path) -> int:
    rows = _rows(db, "SELECT count(*) FROM checks")
    return rows[0][0] if rows else 0


def _kinds(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]


# ---------------------------------------------------------------------------
# Configuration


def test_three_kinds_of_routes_are_read_with_their_secrets(tmp_path):
    cmd, _ = command_receiver(tmp_path)
    path = _config(tmp_path, interval="30s", body=f"""
        [[alerts]]
        id = "slack"
        kind = "webhook"
        url = {{ env = "SLACK_URL" }}
        format = "slack"
        headers = {{ "X-Token" = {{ env = "HOOK_TOKEN" }} }}
        events = ["down", "recovered"]
        clients = ["acme"]

        [[alerts]]
        kind = "command"
        command = {json.dumps(cmd)}
        probes = ["web"]
        timeout = "3s"

        [[alerts]]
        id = "mail"
        kind = "email"
        smtp_host = "127.0.0.1"
        smtp_port = 2525
        from = "slaprobe <alerts@example.com>"
        to = ["ops@example.com", "oncall@example.com"]
        starttls = true
        username = "alerts"
        password = {{ env = "SMTP_PASSWORD" }}
        """)
    env = {"SLACK_URL": "https://hooks.slack.example/T0/B0/xyz", "HOOK_TOKEN": "t0k",
           "SMTP_PASSWORD": "pw"}
    config = load_config(path, environ=env)
    slack, command, mail = config.alerts
    assert (slack.id, slack.kind, slack.format) == ("slack", "webhook", "slack")
    assert slack.url == env["SLACK_URL"] and slack.headers == (("X-Token", "t0k"),)
    assert slack.events == ("down", "recovered") and slack.clients == ("acme",)
    assert (command.id, command.command, command.probes, command.timeout) == (
        "command-2", tuple(cmd), ("web",), 3.0)
    assert (mail.smtp_host, mail.smtp_port, mail.sender, mail.to, mail.starttls) == (
        "127.0.0.1", 2525, "slaprobe <alerts@example.com>",
        ("ops@example.com", "oncall@example.com"), True)
    assert (mail.username, mail.password) == ("alerts", "pw")
    assert "xyz" not in repr(slack) and "pw" not in repr(mail)  # secrets stay out of logs
    assert config.warnings == ()
    assert config.extra["alerts"][0]["id"] == "slack"  # the raw tables stay available


BAD_ROUTES = [
    ('kind = "pager"', "field 'kind': 'pager' is not one of webhook, command, email"),
    ('kind = "webhook"', "missing required key 'url'"),
    ('kind = "webhook"\nurl = "ftp://x/"', "field 'url': must start with http:// or https://"),
    ('kind = "webhook"\nurl = "http://x/"\nformat = "discord"',
     "field 'format': 'discord' is not one of json, slack, teams"),
    ('kind = "webhook"\nurl = { env = "NOPE" }', "field 'url': environment variable NOPE is not set"),
    ('kind = "webhook"\nurl = "http://x/"\nevents = ["dwon"]', "(did you mean 'down'?)"),
    ('kind = "webhook"\nurl = "http://x/"\nclients = ["acne"]', "no client 'acne'"),
    ('kind = "webhook"\nurl = "http://x/"\nprobes = ["www"]', "no probe 'www'"),
    ('kind = "webhook"\nurl = "http://x/"\nsmtp_host = "x"',
     "key 'smtp_host' is for email routes, not webhook"),
    ('kind = "command"\ncommand = "/bin/true"', "field 'command': expected a non-empty array"),
    ('kind = "command"\ncommand = ["/nonexistent/page-me"]',
     "'/nonexistent/page-me' is not an executable file"),
    ('kind = "command"\ncommand = ["~nosuchuser/page"]', "is not an executable file"),
    ('kind = "email"\nsmtp_host = "127.0.0.1"\nfrom = "a@b.c"\nto = []',
     "field 'to': expected a non-empty array of addresses"),
    ('kind = "email"\nsmtp_host = "127.0.0.1"\nfrom = "nobody"\nto = ["a@b.c"]',
     "field 'from': 'nobody' is not an e-mail address"),
    ('kind = "email"\nsmtp_host = "127.0.0.1"\nfrom = "a@b.c"\nto = ["a@b.c"]\n'
     'password = { env = "PW" }', "field 'password': a password needs a username"),
    ('kind = "webhook"\nurl = "http://x/"\nid = "Hook 1"', "field 'id': 'Hook 1' may use only"),
]


@pytest.mark.parametrize(("table", "message"), BAD_ROUTES)
def test_a_bad_route_is_reported_at_its_line(tmp_path, table, message):
    text = HEAD.format(url="http://127.0.0.1:9/", interval="30s") + "\n[[alerts]]\n" + table
    first = text.count("\n", 0, text.index("[[alerts]]")) + 1
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("probes.toml"), environ={"PW": "x"})
    problems = caught.value.problems
    assert len(problems) == 1, problems
    line = int(problems[0].split(":")[1])
    assert first <= line <= first + table.count("\n") + 1
    assert message in problems[0]


def test_two_routes_with_one_id_are_refused(tmp_path):
    text = (HEAD.format(url="http://127.0.0.1:9/", interval="30s")
            + _hook("http://127.0.0.1:9/a") + _hook("http://127.0.0.1:9/b"))
    with pytest.raises(ConfigError, match="'hook' is already used by the route at line 22"):
        parse_config(text, Path("probes.toml"))


def test_a_literal_slack_url_in_a_file_others_can_read_is_warned_about(tmp_path):
    path = _config(tmp_path, body=_hook("https://hooks.slack.example/T/B/x", format='"slack"'))
    path.chmod(0o644)
    assert any("readable by other users" in w for w in load_config(path, environ={}).warnings)


def test_slaprobe_check_reports_route_problems_with_exit_2(tmp_path):
    path = _config(tmp_path, body='\n[[alerts]]\nkind = "webhook"\n')
    out = slaprobe("check", "--config", str(path))
    assert out.returncode == 2 and "probes.toml:22:" in out.stderr and "url" in out.stderr


def test_the_shipped_file_shows_every_kind_of_route_and_public():
    text = (Path(__file__).resolve().parent.parent / "probes.toml").read_text()
    for key in ('kind    = "webhook"', 'kind    = "command"', 'kind      = "email"', "format",
                "starttls", "password", "events", "public"):
        assert key in text, key


ROUTE_KEYS = (*ALERT_KEYS, *(k for keys in ALERT_KIND_KEYS.values() for k in keys))
ROUTE_VALUES = {
    "kind": st.sampled_from(["webhook", "command", "email", "pager"]),
    "url": st.sampled_from(["http://127.0.0.1:9/h", "ftp://x", "http://", "http://[::1"])
    | st.fixed_dictionaries({"env": st.sampled_from(["TOKEN", "EMPTY", "NOPE", ""])}),
    "command": st.lists(st.sampled_from([sys.executable, "", "~nosuchuser/x", "a\x00b",
                                         "/dev/null", "true", "-c"]), max_size=3),
    "to": st.lists(st.sampled_from(["a@b.c", "x", "", "a@b.c\r\nBcc: x@y.z"]), max_size=2),
    "from": st.sampled_from(["a@b.c", "A <a@b.c>", "nobody", "a@b.c\nX: y"]),
    "password": st.fixed_dictionaries({"file": st.sampled_from(["/nonexistent", "/", ""])}),
    "events": st.lists(st.sampled_from(["down", "recovered", "burn_page", "dwon"]), max_size=2),
}


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(
    st.fixed_dictionaries({}, optional={k: ROUTE_VALUES.get(k, VALUE) for k in ROUTE_KEYS}),
    VALUE), max_size=3))
def test_any_alert_tables_are_routes_or_well_reported_problems(tables):
    doc = {"clients": {"acme": {"name": "ACME"}},
           "probes": [{"id": "web", "kind": "tcp", "host": "127.0.0.1", "port": 80}],
           "alerts": tables}
    assert_well_reported(to_toml(doc))


# ---------------------------------------------------------------------------
# Events from checks (pure)

WEB = Probe("web", "http", client="acme", confirm=2, cert_expiry_warn_days=14)


def _run(tracker: DownTracker, results: str, *, maint: str = "", start: float = 1000.0,
         cert: float | None = None) -> list[tuple[str, str]]:
    """Feed one check per character (".": ok, "x": failed; "m" in `maint`: in a window)."""
    out = []
    for i, r in enumerate(results):
        check = Check("web", start + i, r == ".", error=None if r == "." else "status: 503",
                      cert_days=cert)
        in_maint = i < len(maint) and maint[i] == "m"
        out += [(e.event, e.key) for e in tracker.observe(WEB, check, in_maint, "2026-11-03")]
    return out


@pytest.mark.parametrize(("checks", "maint", "expected"), [
    ("..x..", "", []),  # one failed check: not confirmed
    ("..xx..", "", [("down", "down:web:1002000"), ("recovered", "recovered:web:1002000")]),
    ("xxxx", "", [("down", "down:web:1000000")]),  # one down per stretch, however long
    ("xx.xx.", "", [("down", "down:web:1000000"), ("recovered", "recovered:web:1000000"),
                    ("down", "down:web:1003000"), ("recovered", "recovered:web:1003000")]),
    ("xx..", "mmmm", []),  # down and up inside a window: silent
    ("xxxx..", "mmm", [("down", "down:web:1000000"),  # overrun: sent after the window,
                       ("recovered", "recovered:web:1000000")]),  # the same stretch's key
    ("xx..", "..mm", [("down", "down:web:1000000"),  # down before the window: its recovery
                      ("recovered", "recovered:web:1000000")]),  # is sent even inside
])
def test_down_and_recovered_follow_confirm_and_maintenance(checks, maint, expected):
    assert _run(DownTracker(), checks, maint=maint) == expected


def test_a_stretch_taken_up_after_a_restart_is_not_announced_again():
    tracker = DownTracker()
    tracker.seed("web", fails=5, first_fail=900.0, alerted=True)
    assert _run(tracker, "x.") == [("recovered", "recovered:web:900000")]


def test_an_expiring_certificate_is_announced_once_a_day():
    tracker = DownTracker()
    assert _run(tracker, "...", cert=9.5) == [("cert_expiring", "cert_expiring:web:2026-11-03")]
    assert _run(tracker, "...", cert=30.0) == []
    check = Check("web", 90_000.0, True, cert_days=9.0)
    events = tracker.observe(WEB, check, False, "2026-11-04")
    assert [e.key for e in events] == ["cert_expiring:web:2026-11-04"]


# ---------------------------------------------------------------------------
# Burn rates


@pytest.mark.parametrize(("up", "down", "objective", "rate"), [
    (3600.0, 0.0, 99.9, 0.0),
    (3420.0, 180.0, 99.9, 50.0),  # 5 % down against a 0.1 % budget
    (3600 - 14.4 * 3.6, 14.4 * 3.6, 99.9, 14.4),  # the page threshold exactly
    (0.0, 0.0, 99.9, None),  # nothing measured
    (100.0, 1.0, 100.0, float("inf")),  # no budget at all
])
def test_burn_rate_is_down_fraction_over_budget_fraction(up, down, objective, rate):
    got = burn_rate(up, down, objective)
    assert got == rate if rate is None or rate in (0.0, float("inf")) else \
        got == pytest.approx(rate)


def _history(db: Path, now: float, down_from: float | None, down_to: float | None,
             hours: float = 7.0) -> None:
    with Store(db) as store:
        ts = now - hours * 3600
        checks = []
        while ts < now:
            down = down_from is not None and down_from <= ts < (down_to or now)
            checks.append(Check("web", ts, not down, 10.0, "status: 503" if down else None,
                                60.0, "t1"))
            ts += 60.0
        store.insert_checks(checks)


@pytest.mark.parametrize(("ago", "lasting", "page", "ticket"), [
    (600, None, True, True),  # down for the last 10 minutes: both
    (2 * 3600, 600, False, False),  # 10 minutes two hours ago, over: neither burns now
    (40 * 60, 25 * 60, False, True),  # 25 minutes ending a quarter hour ago: a ticket only
    (None, None, False, False),
])
def test_page_and_ticket_need_both_of_their_windows(tmp_path, ago, lasting, page, ticket):
    config = load_config(_config(tmp_path, interval="60s"), environ={})
    now = 1_800_000_000.0
    _history(tmp_path / "t.db", now, now - ago if ago else None,
             now - ago + lasting if ago and lasting else None)
    with Store(tmp_path / "t.db", readonly=True) as store:
        rates = window_rates(config, store, now)["web"]
    assert (burning(rates, PAGE), burning(rates, TICKET)) == (page, ticket)


def test_a_window_mostly_unmeasured_is_not_judged(tmp_path):
    config = load_config(_config(tmp_path, interval="60s"), environ={})
    now = 1_800_000_000.0
    _history(tmp_path / "t.db", now, now - 240, None, hours=0.2)  # 12 minutes of history
    with Store(tmp_path / "t.db", readonly=True) as store:
        rates = window_rates(config, store, now)["web"]
    assert rates[300.0] is not None and rates[3600.0] is None and not burning(rates, PAGE)


# ---------------------------------------------------------------------------
# Payload formats

ROUTE = AlertRoute("r", "email", sender="slaprobe <alerts@example.com>",
                   to=("ops@example.com",))


def _down_payload(tmp_path, error: str = "status: got 503") -> dict:
    config = load_config(_config(tmp_path), environ={})
    tracker = DownTracker()
    tracker.observe(WEB, Check("web", 1000.0, False, error=error), False, "d")
    (down,) = tracker.observe(WEB, Check("web", 1001.0, False, error=error), False, "d")
    return event_payload(down, config, "t1")


def test_the_json_payload_names_the_event_probe_client_and_times(tmp_path):
    p = _down_payload(tmp_path)
    assert p["event"] == "down" and p["key"] == "down:web:1000000"
    assert (p["probe"], p["client"], p["client_name"], p["agent"]) == ("web", "acme",
                                                                      "ACME Corp", "t1")
    assert p["since"] == "1970-01-01T00:16:40.000Z" and p["error"] == "status: got 503"
    assert p["summary"] == ("web (ACME Corp) is DOWN since 1970-01-01 00:16:40 UTC: "
                            "status: got 503")
    json.loads(webhook_body(AlertRoute("j", "webhook"), p))


def test_slack_text_cannot_mention_the_channel(tmp_path):
    body = slack_body(_down_payload(tmp_path, error="status: <!channel> & <http://x|y>"))
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt; &amp;" in body["text"]


def test_teams_gets_an_adaptive_card(tmp_path):
    body = teams_body(_down_payload(tmp_path))
    card = body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [b.get("text") for b in card["content"]["body"]]
    assert texts[0] == "DOWN" and texts[1].startswith("web (ACME Corp) is DOWN")


def test_a_mail_subject_cannot_carry_extra_headers(tmp_path):
    p = _down_payload(tmp_path)
    p["client_name"] = "ACME\r\nBcc: victim@example.com"
    msg = email_message(ROUTE, p)
    assert "\n" not in msg["Subject"] and msg["Bcc"] is None
    assert msg["To"] == "ops@example.com" and msg["Subject"].startswith("[slaprobe] DOWN: web")


def _send(route: AlertRoute, payload: dict) -> str | None:
    async def main() -> str | None:
        async with Sender() as sender:
            try:
                await sender.send(route, payload)
            except DeliveryError as e:
                return str(e)
        return None

    return asyncio.run(main())


def test_a_command_that_hangs_is_killed_and_one_that_fails_is_reported(tmp_path):
    payload = {"event": "down", "key": "down:web:1", "probe": "web"}
    started = time.monotonic()
    hang = AlertRoute("c", "command", timeout=0.5,
                      command=(sys.executable, "-c", "import time; time.sleep(30)"))
    assert "did not finish within 0.5 s" in _send(hang, payload)
    assert time.monotonic() - started < 5
    fail = AlertRoute("c", "command", command=(
        sys.executable, "-c", "import sys, json; json.load(sys.stdin); "
                              "sys.exit('pager: no such team')"))
    assert _send(fail, payload) == f"{sys.executable} exited with status 1: pager: no such team"


# ---------------------------------------------------------------------------
# The manager in-process: queue, retry, no repeat across restarts


def _manager_run(config, db: Path, checks: list[Check], until, timeout: float = 15.0) -> None:
    async def main() -> None:
        manager = AlertManager(lambda: config, db, "t1", retry_base=0.2)
        await manager.start()
        for c in checks:
            manager.on_check(config.probes[c.probe], c)
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await manager.close()

    asyncio.run(main())


def test_queued_alerts_survive_a_restart_and_are_never_sent_twice(tmp_path):
    port = free_port()
    config = load_config(_config(tmp_path, body=_hook(f"http://127.0.0.1:{port}/hook")),
                         environ={})
    db = tmp_path / "t.db"
    Store(db).close()
    now = time.time()
    down = [Check("web", now + i, False, error="status: 503", agent="t1") for i in range(3)]
    # 1. Nobody listens: the alert is queued, tried, and kept.
    _manager_run(config, db, down, lambda: bool(_rows(db, "SELECT 1 FROM alert_queue"
                                                          " WHERE attempts > 0")))
    assert _rows(db, "SELECT event_key, sent_ms FROM alert_queue") == [
        (f"down:web:{round(now * 1000)}", None)]
    # 2. The next agent sends it, and the same checks seen again add nothing.
    with HookReceiver(port=port) as hook:
        _manager_run(config, db, down, lambda: bool(hook.posts))
        time.sleep(0.3)
    assert _kinds(hook.events()) == ["down"]
    ((attempts, sent, error),) = _rows(db, "SELECT attempts, sent_ms, last_error FROM alert_queue")
    assert attempts >= 2 and sent is not None and "connect" in error


def test_a_receiver_answering_400_is_given_up_not_hammered(tmp_path):
    with HookReceiver(status=400) as hook:
        config = load_config(_config(tmp_path, body=_hook(hook.url)), environ={})
        db = tmp_path / "t.db"
        down = [Check("web", 1000.0 + i, False, error="status: 503") for i in range(2)]
        _manager_run(config, db, down, lambda: bool(_rows(
            db, "SELECT 1 FROM alert_queue WHERE attempts > 0")))
        time.sleep(0.5)
    ((attempts, next_try, error),) = _rows(db, "SELECT attempts, next_try_ms, last_error"
                                               " FROM alert_queue")
    assert (attempts, next_try, error) == (1, None, "HTTP 400")
    assert hook.attempts == 1


# ---------------------------------------------------------------------------
# End to end: the daemon, a target that goes down, and three real receivers


def test_each_receiver_gets_exactly_one_down_and_one_recovered(tmp_path):
    cmd, out = command_receiver(tmp_path)
    with SwitchableHTTP() as target, HookReceiver() as hook, SmtpSink() as smtp:
        cfg = _config(tmp_path, target.url, _hook(hook.url) + f"""
            [[alerts]]
            id = "script"
            kind = "command"
            command = {json.dumps(cmd)}

            [[alerts]]
            id = "mail"
            kind = "email"
            smtp_host = "127.0.0.1"
            smtp_port = {smtp.port}
            from = "slaprobe <alerts@example.com>"
            to = ["ops@example.com"]
            username = "alerts"
            password = {{ env = "SMTP_PASSWORD" }}
            """)
        db = tmp_path / "t.db"

        def received(n: int) -> bool:
            return (len(hook.events()) >= n and len(command_events(out)) >= n
                    and len(smtp.messages) >= n)

        with daemon(cfg, env={"SMTP_PASSWORD": "s3cret"}) as proc:
            assert wait_for(lambda: _checks(db) >= 3), proc.stderr
            target.status = 503
            assert wait_for(lambda: received(1)), "no down alert"
            target.status = 200
            assert wait_for(lambda: received(2)), "no recovery alert"
            time.sleep(1.5)  # and nothing more comes
        err = proc.stderr.read()
    for events in (hook.events(), command_events(out), smtp.events()):
        assert _kinds(events) == ["down", "recovered"], err
        assert events[0]["key"].replace("down", "recovered") == events[1]["key"]
        assert events[0]["client_name"] == "ACME Corp" and events[0]["probe"] == "web"
    assert smtp.logins == [("alerts", "s3cret")] * 2  # one SMTP session per mail
    assert smtp.envelopes[0] == ("alerts@example.com", ["ops@example.com"])
    assert smtp.messages[0]["Subject"] == "[slaprobe] DOWN: web (ACME Corp)"
    assert "s3cret" not in err and "alert down:web:" in err


def test_no_alert_inside_a_maintenance_window_but_the_overrun_is_sent(tmp_path):
    with SwitchableHTTP() as target, HookReceiver() as hook:
        end = time.time() + 12.0
        window = f"""
            [[maintenance]]
            id = "patch"
            clients = ["acme"]
            start = {datetime.fromtimestamp(end - 3600, UTC).isoformat()}
            end = {datetime.fromtimestamp(end, UTC).isoformat()}
            """
        cfg = _config(tmp_path, target.url, _hook(hook.url) + window)
        db = tmp_path / "t.db"
        with daemon(cfg) as proc:
            assert wait_for(lambda: _checks(db) >= 2), proc.stderr
            # 1. Down and up again inside the window: nothing is sent.
            target.status = 503
            assert wait_for(lambda: _failed_checks(db) >= 4)
            target.status = 200
            assert wait_for(lambda: _checks(db) >= _failed_checks(db) + 4)
            # 2. Down inside the window and still down after it: the overrun is an outage.
            second = time.time()
            target.status = 503
            assert second < end - 2.0, "the machine is too slow for this test's window"
            assert wait_for(lambda: hook.events(), timeout=20), "the overrun was not announced"
            target.status = 200
            assert wait_for(lambda: len(hook.events()) >= 2), "no recovery after the overrun"
            time.sleep(1.0)
    events = hook.events()
    assert _kinds(events) == ["down", "recovered"]
    assert all(t >= end for t in hook.times)  # nothing arrived inside the window
    since = datetime.fromisoformat(events[0]["since"]).timestamp()
    assert second <= since < end  # the same stretch, begun inside the window


def test_an_alert_is_retried_until_the_receiver_is_back(tmp_path):
    port = free_port()
    with SwitchableHTTP() as target:
        cfg = _config(tmp_path, target.url, _hook(f"http://127.0.0.1:{port}/hook"))
        db = tmp_path / "t.db"
        with daemon(cfg) as proc:
            assert wait_for(lambda: _checks(db) >= 2), proc.stderr
            target.status = 503
            assert wait_for(lambda: _rows(db, "SELECT 1 FROM alert_queue WHERE attempts > 0"))
            # 1. The receiver comes up but fails; 2. then it answers.
            with HookReceiver(port=port, status=503) as hook:
                assert wait_for(lambda: hook.attempts >= 1, timeout=20)
                hook.status = 200
                assert wait_for(lambda: hook.events(), timeout=30)
                target.status = 200
                assert wait_for(lambda: len(hook.events()) >= 2)
                time.sleep(1.0)
    assert _kinds(hook.events()) == ["down", "recovered"]
    rows = _rows(db, "SELECT event_key, attempts, sent_ms, last_error FROM alert_queue"
                     " ORDER BY id")
    assert rows[0][0].startswith("down:web:") and rows[0][1] >= 3 and rows[0][2] is not None
    assert rows[0][3] == "HTTP 503"  # the last failure before it went through


def test_an_outage_spanning_a_restart_is_announced_once(tmp_path):
    with SwitchableHTTP() as target, HookReceiver() as hook:
        cfg = _config(tmp_path, target.url, _hook(hook.url))
        db = tmp_path / "t.db"
        target.status = 503
        with daemon(cfg) as proc:
            assert wait_for(lambda: hook.events()), proc.stderr
        before = _failed_checks(db)
        with daemon(cfg) as proc:
            assert wait_for(lambda: _failed_checks(db) >= before + 4), proc.stderr
            target.status = 200
            assert wait_for(lambda: len(hook.events()) >= 2)
            time.sleep(1.0)
    events = hook.events()
    assert _kinds(events) == ["down", "recovered"]
    assert events[1]["key"] == events[0]["key"].replace("down", "recovered")
