"""The client portal: figures equal to the report's, nothing internal shown, safe, in a browser.

One configuration and 95 days of checks (every 10 minutes) are built once:
ACME has a public web probe that was down 2 h ten days ago and a private
database probe down 30 min three days ago; Beta's only (private) probe is
down now and was not measured before 40 days ago. The site is rendered
in-process at a fixed `now` (exact figures), and through the CLI.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e import slaprobe

from slaprobe.availability import build_report
from slaprobe.checks import Check
from slaprobe.config import load_config
from slaprobe.portal import client_state, collect, day_bounds, page_names, write_site
from slaprobe.portal_html import render_site
from slaprobe.render_cells import floor3
from slaprobe.store import Store

TZ = "Europe/Berlin"
STEP = 600.0
SECRETS = ("acme-db", "beta-api", "internal-web", "db-secret", "5432", "beta-internal",
           "status:", "refused", "timeout", "/health")

CONFIG = """\
[agent]
name = "fra1"
database = "p.db"
timezone = "{tz}"

[sla.gold]
objective = 99.9

[clients.acme]
name = 'ACME <b>Corp</b> & "Sons"'
sla = "gold"

[clients.beta]
name = "Beta \\u202eLtd"
sla = "gold"

[[probes]]
id = "acme-web"
client = "acme"
kind = "http"
url = "https://internal-web.acme.lan/health"
interval = "10m"
timeout = "5s"
public = true

[[probes]]
id = "acme-db"
client = "acme"
kind = "tcp"
host = "db-secret.acme.lan"
port = 5432
interval = "10m"
timeout = "5s"

[[probes]]
id = "beta-api"
client = "beta"
kind = "http"
url = "https://beta-internal.example/health"
interval = "10m"
timeout = "5s"

[[maintenance]]
id = "db-patch"
probes = ["acme-db"]
rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=4"
duration = "2h"
timezone = "{tz}"
reason = "patch db-secret.acme.lan"

[[maintenance]]
id = "beta-move"
clients = ["beta"]
start = {soon_start}
end = {soon_end}
ticket = "CHG-4711"

[[maintenance]]
id = "beta-later"
clients = ["beta"]
start = {late_start}
end = {late_end}
"""


class Site:
    def __init__(self, folder: Path):
        self.folder = folder
        self.now = float(int(datetime.now(UTC).timestamp()) // 600 * 600)
        zone = ZoneInfo(TZ)
        today = datetime.fromtimestamp(self.now, zone).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
        self.web_down = (today - timedelta(days=10)).replace(hour=10)
        self.db_down = (today - timedelta(days=3)).replace(hour=12)
        self.soon = datetime.fromtimestamp(self.now, UTC).replace(microsecond=0) + \
            timedelta(days=10)
        late = self.soon + timedelta(days=30)
        text = CONFIG.format(
            tz=TZ, soon_start=self.soon.isoformat(), soon_end=(self.soon + timedelta(hours=3))
            .isoformat(), late_start=late.isoformat(), late_end=(late + timedelta(hours=1))
            .isoformat())
        self.config_path = folder / "probes.toml"
        self.config_path.write_text(text)
        self.config_path.chmod(0o600)
        self.config = load_config(self.config_path, environ={})
        self.db = folder / "p.db"
        with Store(self.db) as store:
            store.insert_checks(self._history())
        with Store(self.db, readonly=True) as store:
            self.portal = collect(self.config, store, self.now)
            self.report = build_report(self.config, store, self.portal.month_start, self.now,
                                       self.now)
        self.out = folder / "site"
        write_site(self.out, render_site(self.portal), prune=True)
        self.pages = {p.relative_to(self.out).as_posix(): p.read_text()
                      for p in self.out.rglob("*.html")}

    def _history(self) -> list[Check]:
        checks = []
        web = (self.web_down.timestamp(), self.web_down.timestamp() + 7200)
        db = (self.db_down.timestamp(), self.db_down.timestamp() + 1800)
        t = self.now - 95 * 86400
        while t <= self.now:
            checks.append(Check("acme-web", t, not web[0] <= t < web[1], 20.0,
                                None if not web[0] <= t < web[1]
                                else "status: got 503 from internal-web.acme.lan", STEP, "fra1"))
            checks.append(Check("acme-db", t, not db[0] <= t < db[1], 2.0,
                                None if not db[0] <= t < db[1]
                                else "refused: db-secret.acme.lan:5432", STEP, "fra1"))
            if t >= self.now - 40 * 86400:
                down = t > self.now - 1500
                checks.append(Check("beta-api", t, not down, 30.0,
                                    "timeout: beta-internal" if down else None, STEP, "fra1"))
            t += STEP
        return checks

    def client(self, cid: str):
        return next(f for f in self.report.clients if f.id == cid)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("portal"))


def _table(page: str, css_class: str) -> str:
    return page.split(f'<table class="{css_class} stack">')[1].split("</table>")[0]


def _bars(page: str) -> list[tuple[str, str]]:
    block = re.search(r'<div class="bars"[^>]*>(.*?)</div>', page, re.DOTALL).group(1)
    return re.findall(r'<span class="(\w+)" title="([^"]*)"></span>', block)


# ---------------------------------------------------------------------------
# What the pages say


def test_one_index_and_one_page_per_client(site):
    assert sorted(site.pages) == ["clients/acme.html", "clients/beta.html", "index.html"]
    index = site.pages["index.html"]
    assert 'href="clients/acme.html"' in index and 'href="clients/beta.html"' in index


def test_this_months_availability_is_the_reports_floored(site):
    for cid in ("acme", "beta"):
        figures = site.client(cid)
        shown = f"{floor3(figures.availability)} %"
        assert shown in site.pages[f"clients/{cid}.html"]
        assert shown in site.pages["index.html"]
        assert "99.9 %" in site.pages[f"clients/{cid}.html"]  # the objective
    acme = site.pages["clients/acme.html"]
    met = "Yes" if site.client("acme").met else "No"
    assert f'<div class="met"><dt>Objective met</dt><dd>{met}</dd>' in acme


def test_ninety_daily_bars_mark_the_outage_days(site):
    bars = _bars(site.pages["clients/acme.html"])
    assert len(bars) == 90
    levels = {title.split(":")[0]: level for level, title in bars}
    assert levels[site.web_down.date().isoformat()] == "missed"
    assert levels[site.db_down.date().isoformat()] == "missed"
    assert sum(1 for level, _ in bars if level == "missed") == 2
    today = datetime.fromtimestamp(site.now, ZoneInfo(TZ)).date().isoformat()
    assert bars[-1][1].startswith(today)
    # 2 h down of a 24 h day: 91.666 %, floored like every human form
    assert f"{site.web_down.date().isoformat()}: 91.666 %, down 2h 00m 00s" in \
        [t for _, t in bars]


def test_days_before_measuring_began_are_grey_not_green(site):
    bars = _bars(site.pages["clients/beta.html"])
    assert [level for level, _ in bars[:45]] == ["none"] * 45
    assert all(level != "none" for level, _ in bars[51:-1])
    # today: grey only while there is nothing of it to show yet (the site's `now` is the
    # wall clock floored to 10 minutes, so just after local midnight today is empty)
    today_start = day_bounds(site.now, ZoneInfo(TZ), 1)[0][0]
    if site.now - today_start >= 3600:
        assert bars[-1][0] != "none"


def test_state_now_is_down_for_a_client_whose_probe_is_down(site):
    beta = site.pages["clients/beta.html"]
    assert re.search(r'class="state state-down">Down since \d{4}-\d\d-\d\d \d\d:\d\d CES?T<', beta)
    assert 'class="state state-up">Operational<' in site.pages["clients/acme.html"]


def test_incidents_are_listed_newest_first_without_causes(site):
    acme = site.pages["clients/acme.html"]
    table = _table(acme, "incidents")
    starts = re.findall(r'<tr><td data-label="Start">([^<]+)</td>', table)
    assert starts == [site.db_down.strftime("%Y-%m-%d %H:%M %Z"),
                      site.web_down.strftime("%Y-%m-%d %H:%M %Z")]
    assert "30m 00s" in table and "2h 00m 00s" in table


def test_planned_maintenance_shows_the_next_30_days_only(site):
    beta = site.pages["clients/beta.html"]
    when = site.soon.astimezone(ZoneInfo(TZ)).strftime("%Y-%m-%d %H:%M %Z")
    planned = _table(beta, "planned")
    assert planned.count("<tr><td") == 1 and when in planned and "3h 00m 00s" in planned
    assert "all services" in planned
    weekly = _table(site.pages["clients/acme.html"], "planned")
    assert 4 <= weekly.count("<tr><td") <= 5 and "other services" in weekly


def test_public_probes_are_listed_by_id_with_state_and_private_ones_not_at_all(site):
    acme = site.pages["clients/acme.html"]
    services = _table(acme, "services")
    assert '"Service">acme-web</td>' in services and "Operational" in services
    web = next(f for f in site.report.probes if f.id == "acme-web")
    assert f"{floor3(web.availability)} %" in services
    assert '<table class="services' not in site.pages["clients/beta.html"]


def test_no_internal_detail_reaches_any_page(site):
    for name, page in site.pages.items():
        for secret in SECRETS:
            assert secret not in page, (name, secret)
        assert "CHG-4711" not in page and "patch " not in page  # window tickets and reasons


def test_every_value_is_escaped_and_nothing_can_run(site):
    for page in site.pages.values():
        assert "<script" not in page.lower() and "<b>" not in page
        assert "\u202e" not in page
        assert "default-src 'none'" in page and 'name="viewport"' in page
    assert "ACME &lt;b&gt;Corp&lt;/b&gt; &amp; &quot;Sons&quot;" in site.pages["index.html"]
    assert "Beta &lt;U+202E&gt;Ltd" in site.pages["index.html"]


# ---------------------------------------------------------------------------
# Pure parts


@pytest.mark.parametrize(("ids", "names"), [
    (["acme", "beta-2", "c.d_e"], ["acme", "beta-2", "c.d_e"]),
    (["../etc/passwd"], None),
    (["ACME", "acme"], None),
    ([".hidden", "", "über"], None),
])
def test_page_names_are_plain_unique_and_stay_in_the_folder(ids, names):
    got = page_names(ids)
    if names is not None:
        assert [got[i] for i in ids] == names
    assert len(set(got.values())) == len(ids)
    for name in got.values():
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name) and ".." not in name


@pytest.mark.parametrize(("states", "expected"), [
    ([], ("unknown", None)),
    ([("up", 1.0), ("up", 2.0)], ("up", None)),
    ([("up", 1.0), ("down", 5.0), ("down", 3.0)], ("down", 3.0)),
    ([("maintenance", None), ("down", 5.0)], ("down", 5.0)),
    ([("maintenance", None), ("up", 1.0)], ("up", None)),
    ([("maintenance", None)], ("maintenance", None)),
    ([("up", 1.0), ("unknown", 9.0)], ("unknown", None)),
])
def test_a_client_is_down_when_a_probe_outside_maintenance_is(states, expected):
    assert client_state(states) == expected


def test_day_bounds_follow_local_midnights_across_dst():
    zone = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 30, 12, tzinfo=zone).timestamp()
    days = day_bounds(now, zone, 3)
    assert [round((e - s) / 3600) for s, e in days] == [24, 23, 24]
    assert datetime.fromtimestamp(days[0][0], zone) == datetime(2026, 3, 28, tzinfo=zone)


# ---------------------------------------------------------------------------
# The command


def test_portal_command_writes_the_site_and_prunes_removed_clients(site, tmp_path):
    out = tmp_path / "www"
    (out / "clients").mkdir(parents=True)
    (out / "clients" / "gone.html").write_text("old")
    run = slaprobe("portal", "--config", str(site.config_path), "--output", str(out))
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (out / "clients").iterdir()) == ["acme.html", "beta.html"]
    index = (out / "index.html").read_text()
    assert "ACME &lt;b&gt;Corp" in index and "%" in index
    for page in out.rglob("*.html"):
        assert not any(s in page.read_text() for s in SECRETS)


def test_portal_for_one_client_writes_only_that_client(site, tmp_path):
    out = tmp_path / "beta-site"
    run = slaprobe("portal", "--config", str(site.config_path), "--output", str(out),
                   "--client", "beta")
    assert run.returncode == 0, run.stderr
    assert [p.name for p in (out / "clients").iterdir()] == ["beta.html"]
    assert "ACME" not in (out / "index.html").read_text()


def test_portal_with_an_unknown_client_exits_2(site, tmp_path):
    run = slaprobe("portal", "--config", str(site.config_path), "--output", str(tmp_path / "x"),
                   "--client", "gamma")
    assert run.returncode == 2 and "--client 'gamma'" in run.stderr
    assert "Traceback" not in run.stderr


def test_portal_into_a_file_exits_2(site, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    run = slaprobe("portal", "--config", str(site.config_path), "--output", str(target))
    assert run.returncode == 2 and "cannot write" in run.stderr and "Traceback" not in run.stderr


# ---------------------------------------------------------------------------
# In a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    if CHROMIUM is None:
        pytest.skip("CHROMIUM IS NOT INSTALLED: the portal was not checked in a browser "
                    "(apt-get install -y chromium; .ci/run installs it)")
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=120, check=False)


def test_chromium_shows_the_clients_and_their_figures(site, tmp_path):
    run = _chromium(tmp_path, "--dump-dom", (site.out / "index.html").as_uri())
    dom = run.stdout.decode("utf-8")
    assert run.returncode == 0 and "<body>" in dom, run.stderr.decode()[-2000:]
    assert 'ACME &lt;b&gt;Corp&lt;/b&gt; &amp; "Sons"' in dom  # text, not markup
    for cid in ("acme", "beta"):
        assert f"{floor3(site.client(cid).availability)} %" in dom
    run = _chromium(tmp_path, "--dump-dom", (site.out / "clients" / "acme.html").as_uri())
    dom = run.stdout.decode("utf-8")
    assert dom.count('<span class="missed"') == 2 and dom.count("<tr><td") >= 2
    assert "<script" not in dom


def test_chromium_renders_a_client_page_at_phone_width(site, tmp_path):
    shot = tmp_path / "acme.png"
    run = _chromium(tmp_path, "--hide-scrollbars", "--window-size=390,844",
                    f"--screenshot={shot}", (site.out / "clients" / "acme.html").as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr.decode()[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (390, 844)


def test_the_shipped_config_makes_a_portal(tmp_path):
    root = Path(__file__).resolve().parent.parent
    db = tmp_path / "empty.db"
    Store(db).close()
    run = slaprobe("portal", "--config", str(root / "probes.toml"), "--db", str(db),
                   "--output", str(tmp_path / "site"))
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "site" / "clients" / "local.html").read_text()
    assert "No current data" in page and textwrap.dedent("""\
        <h1>This machine</h1>""") in page
