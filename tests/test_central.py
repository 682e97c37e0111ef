"""[central] against a real PostgreSQL: schema, outbox, shipping, retention, reading back, and
three agents in one location plus one elsewhere, as separate processes, through an outage."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from pg import pg_cluster  # noqa: F401 - the module's PostgreSQL cluster fixture

from slaprobe import central, outbox
from slaprobe.availability import build_report, report_to_dict
from slaprobe.central import CentralStore
from slaprobe.checks import Check
from slaprobe.config import Central, parse_config
from slaprobe.metrics import AgentMetrics, MetricsSnapshot, render_metrics
from slaprobe.shipper import Shipper, stop_shipping
from slaprobe.store import Store

START = datetime(2026, 10, 30, tzinfo=timezone.utc).timestamp()  # across a month boundary
END = START + 4 * 86400
FOREVER = 100 * 365 * 86400.0  # keep_raw that keeps the fixed test dates

CONFIG = """
[agent]
name = "a"
timezone = "Europe/Berlin"
interval = "60s"
keep_raw = "36500d"

[central]
dsn = "{dsn}"

[sla.gold]
objective = 99.9
credits = [{{ below = 99.9, percent = 10 }}, {{ below = 99.0, percent = 25 }}]

[clients.acme]
name = "ACME"
sla = "gold"

[[probes]]
id = "web"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 1
confirm = 2

[[probes]]
id = "api"
client = "acme"
kind = "tcp"
host = "127.0.0.1"
port = 2

[[probes]]
id = "gw"
kind = "tcp"
host = "127.0.0.1"
port = 3

[[maintenance]]
id = "m"
probes = ["web"]
start = "2026-10-31T10:00:00Z"
end = "2026-10-31T11:30:00Z"
"""


def history(seed: int, agents=("a", "b", "d")) -> list[Check]:
    """Several agents per probe, each with its own outages and gaps (quorum decides)."""
    rnd = random.Random(seed)
    out = []
    for probe in ("web", "api", "gw"):
        for agent in agents:
            t = START - 3600 + rnd.random() * 60
            failing = False
            while t < END + 3600:
                if rnd.random() < 0.03:
                    failing = not failing
                out.append(Check(probe, round(t, 3), not failing,
                                 rnd.uniform(1, 80) if not failing or rnd.random() < 0.3 else None,
                                 rnd.choice(["timeout: x", "refused: y\0z"]) if failing else None,
                                 60.0, agent, rnd.uniform(1, 90) if rnd.random() < 0.1 else None))
                t += rnd.choice([60.0] * 30 + [150.0, 600.0])
    return out


def ship_all(db: Path, settings: Central, keep_raw: float = FOREVER) -> Shipper:
    """Run a shipper until the outbox is empty (as the daemon does at stop)."""
    shipper = Shipper(settings, db, agent="a", location="fra", keep_raw=keep_raw)

    async def go() -> None:
        await shipper.finish(None, seconds=60)

    asyncio.run(go())
    return shipper


def sql(dsn: str, query: str, args=()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description else []


# -- schema ------------------------------------------------------------------------------
def test_schema_is_created_once_even_by_agents_starting_together(pg_cluster):
    dsn = pg_cluster.create_database()

    async def migrate_once() -> list[int]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await central.migrate(conn)

    async def together() -> list[list[int]]:
        return await asyncio.gather(*(migrate_once() for _ in range(4)))

    results = asyncio.run(together())
    assert sorted(results) == [[], [], [], [1]]
    assert asyncio.run(migrate_once()) == []
    assert sql(dsn, "SELECT version, name FROM schema_migrations") == [(1, "initial")]
    kind = sql(dsn, "SELECT relkind FROM pg_class WHERE relname = 'checks'")
    assert kind == [("p",)]  # partitioned


def test_month_partition_bounds_are_utc_months():
    assert central.month_bounds(2026, 12) == (datetime(2026, 12, 1, tzinfo=timezone.utc),
                                               datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert central.month_of(int(datetime(2026, 11, 30, 23, 59, 59, 999000,
                                         tzinfo=timezone.utc).timestamp() * 1000)) == (2026, 11)
    assert central.partition_name(2026, 3) == "checks_p2026_03"
    for ms in (0, 1, 1793491200123, 253402300799000):
        assert central.dt_to_ms(central.ms_to_dt(ms)) == ms


# -- the outbox --------------------------------------------------------------------------
def test_outbox_queues_only_while_shipping_is_on_and_backfills_when_turned_on(tmp_path):
    with Store(tmp_path / "o.db") as store:
        store.insert_checks([Check("web", 1000.0, True, 1.0, None, 60.0, "a")])
        assert outbox.backlog(store) == (0, None)
        assert outbox.enable(store, "db-1", since_ms=0) == 1  # the stored check is queued
        assert outbox.enable(store, "db-1", since_ms=0) == 0  # same target: nothing again
        store.insert_checks([Check("web", 1060.0, True, 1.0, None, 60.0, "a"),
                             Check("web", 1000.0, True, 1.0, None, 60.0, "a")])  # a duplicate
        assert outbox.backlog(store) == (2, 1000.0)
        rows, gone = outbox.next_batch(store, 10, horizon_ms=0)
        assert [r.ts_ms for r in rows] == [1_000_000, 1_060_000] and gone == []
        outbox.mark_shipped(store, [rows[0].key])
        assert outbox.backlog(store) == (1, 1060.0)
        assert outbox.enable(store, "db-2", since_ms=0) == 1  # another database: all again
        _, gone = outbox.next_batch(store, 10, horizon_ms=1_061_000)  # older than retention
        assert len(gone) == 2
    assert stop_shipping(tmp_path / "o.db") == 2
    with Store(tmp_path / "o.db") as store:
        store.insert_checks([Check("web", 1120.0, True, 1.0, None, 60.0, "a")])
        assert outbox.backlog(store) == (0, None)


# -- shipping ----------------------------------------------------------------------------
def test_shipping_copies_every_check_once_even_when_shipped_twice(pg_cluster, tmp_path):
    dsn = pg_cluster.create_database()
    settings = Central(dsn=dsn, batch=700, interval=0.1)
    checks = history(1)
    db = tmp_path / "a.db"
    with Store(db) as store:
        store.insert_checks(checks)
    shipper = ship_all(db, settings)
    assert shipper.shipped_total == len(checks)
    assert shipper.backlog_checks == 0 and shipper.backlog_age_seconds == 0.0
    n = sql(dsn, "SELECT count(*) FROM checks")[0][0]
    assert n == len(checks)
    parts = {r[0] for r in sql(dsn, "SELECT c.relname FROM pg_inherits i JOIN pg_class c"
                                    " ON c.oid = i.inhrelid WHERE i.inhparent = 'checks'::regclass")}
    assert parts == {"checks_p2026_10", "checks_p2026_11"}
    # A crash between the central commit and the outbox's: everything is sent again.
    with Store(db) as store:
        store.conn.execute("DELETE FROM meta WHERE key = 'ship'")
        store.conn.commit()
    again = ship_all(db, settings)
    assert again.shipped_total == len(checks)
    assert sql(dsn, "SELECT count(*) FROM checks")[0][0] == n
    agents = sql(dsn, "SELECT name, location, last_seen IS NOT NULL, backlog_checks"
                      " FROM agents ORDER BY name")
    # the shipping agent's heartbeat, with its backlog; the others are known by their checks
    assert agents == [("a", "fra", True, 0), ("b", None, False, None), ("d", None, False, None)]
    assert sql(dsn, "SELECT max(id) FROM probes")[0][0] == 3  # no identities used up


def test_heartbeat_and_retention_drop_old_months(pg_cluster, tmp_path):
    dsn = pg_cluster.create_database()
    now = time.time()
    old = [Check("web", now - 400 * 86400 + i * 60, True, 1.0, None, 60.0, "a")
           for i in range(10)]
    new = [Check("web", now - 3600 + i * 60, True, 1.0, None, 60.0, "a") for i in range(10)]
    db = tmp_path / "a.db"
    with Store(db) as store:
        store.insert_checks(old)

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await central.migrate(conn)
            await central.prepare(conn)
            known: set = set()
            rows = [outbox.Outgoing((0, 0, 0), c.probe, c.agent, int(c.ts * 1000), c.ok,
                                    c.latency_ms, c.error, 60000, None) for c in old]
            await central.ship(conn, rows, known)  # an old month exists centrally
        shipper = Shipper(Central(dsn=dsn, batch=100, interval=0.05), db, agent="a",
                          location="fra", keep_raw=90 * 86400.0)
        task = asyncio.create_task(shipper.run())
        with Store(db) as store:
            store.insert_checks(new)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if shipper.backlog_checks == 0 and shipper.shipped_total and shipper.retention_runs:
                break
        await shipper.finish(task)

    asyncio.run(go())
    assert sql(dsn, "SELECT count(*) FROM checks")[0][0] == 10  # the old ones dropped
    assert sql(dsn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'checks'::regclass")[0][0] == len(
        {central.month_of(int(c.ts * 1000)) for c in new})
    (seen, backlog), = sql(dsn, "SELECT last_seen, backlog_checks FROM agents WHERE name = 'a'")
    assert abs(seen.timestamp() - time.time()) < 60 and backlog == 0


def test_a_server_away_is_logged_once_and_nothing_is_lost(pg_cluster, tmp_path, caplog):
    dsn = pg_cluster.create_database()
    db = tmp_path / "a.db"
    Store(db).close()
    shipper = Shipper(Central(dsn=dsn, batch=1000, interval=0.05), db, agent="a",
                      location="fra", keep_raw=FOREVER)
    caplog.set_level(logging.INFO, logger="slaprobe.central")

    async def go() -> None:
        task = asyncio.create_task(shipper.run())
        with Store(db) as store:
            for i in range(30):
                store.insert_checks([Check("web", START + i * 60, True, 1.0, None, 60.0, "a")])
                await asyncio.sleep(0.05)
                if i == 10:
                    await asyncio.to_thread(pg_cluster.stop, "fast")
                if i == 25:
                    await asyncio.to_thread(pg_cluster.start)
        for _ in range(300):
            await asyncio.sleep(0.05)
            if shipper.backlog_checks == 0 and shipper.connected:
                break
        await shipper.finish(task)

    asyncio.run(go())
    assert sql(dsn, "SELECT count(*) FROM checks")[0][0] == 30
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "unavailable" in errors[0].getMessage()
    assert "password" not in errors[0].getMessage()
    assert any("is back after" in r.getMessage() for r in caplog.records)


# -- reading back: one arithmetic, two stores ------------------------------------------------
@pytest.mark.parametrize("seed", [3, 4])
def test_the_central_report_equals_the_local_one_to_the_digit(pg_cluster, tmp_path, seed):
    dsn = pg_cluster.create_database()
    config = parse_config(CONFIG.format(dsn=dsn), tmp_path / "probes.toml")
    checks = history(seed)
    db = tmp_path / "all.db"
    with Store(db) as store:
        rnd = random.Random(seed)
        shuffled = checks[:]
        rnd.shuffle(shuffled)
        for i in range(0, len(shuffled), 1009):
            store.insert_checks(shuffled[i:i + 1009])
    ship_all(db, config.central)
    now = END + 7200
    for start, end in ((START, END), (START + 86400, START + 2 * 86400 + 1234.5)):
        with Store(db, readonly=True) as local, CentralStore(dsn) as remote:
            a = report_to_dict(build_report(config, local, start, end, now))
            b = report_to_dict(build_report(config, remote, start, end, now))
            raw = report_to_dict(build_report(config, RawOnly(local), start, end, now))
        assert json.dumps(b) == json.dumps(raw)  # the same reads give the same digits
        assert json.dumps(b) == json.dumps(a)  # and the segments path agrees to the digit
        assert any(p["incidents"] for p in a["probes"])
    with Store(db, readonly=True) as local, CentralStore(dsn) as remote:
        assert list(remote.iter_all()) == nul_free(local.iter_all())
        assert list(remote.iter_all(START, START + 86400, "web")) == nul_free(
            local.iter_all(START, START + 86400, "web"))
        assert remote.checks_before("web", START + 86400, 5) == nul_free(local.checks_before(
            "web", START + 86400, 5))
        assert remote.checks("nope") == [] and remote.count_checks() == len(checks)


def nul_free(checks) -> list[Check]:
    """PostgreSQL text cannot hold NUL: the centre keeps U+FFFD in its place."""
    return [replace(c, error=c.error.replace("\0", "\ufffd")) if c.error else c for c in checks]


class RawOnly:
    """A Store seen only through the CheckSource reads (what CentralStore offers)."""

    def __init__(self, store: Store):
        self._s = store

    def checks(self, probe, start=None, end=None):
        return self._s.checks(probe, start, end)

    def checks_before(self, probe, ts, n):
        return self._s.checks_before(probe, ts, n)


def test_report_and_export_central_from_the_cli_with_pg_variables(pg_cluster, tmp_path):
    from e2e import slaprobe

    db_name = "cli_env"
    dsn = pg_cluster.create_database(db_name)
    path = tmp_path / "probes.toml"
    path.write_text(CONFIG.format(dsn="postgresql://"))  # no host, no password in the file
    config = parse_config(path.read_text(), path)
    with Store(tmp_path / "a.db") as store:
        store.insert_checks(history(7))
    ship_all(tmp_path / "a.db", Central(dsn=dsn))
    env = pg_cluster.env(db_name)
    period = ["--from", "2026-10-30", "--to", "2026-11-03"]
    # --db: the local record of when windows were first seen ("retroactive") is the same
    remote = slaprobe("report", "--config", str(path), "--central", "--format", "json",
                      "--db", str(tmp_path / "a.db"), *period, env=env)
    local = slaprobe("report", "--config", str(path), "--db", str(tmp_path / "a.db"),
                     "--format", "json", *period, env=env)
    assert remote.returncode == 0, remote.stderr
    a, b = json.loads(remote.stdout), json.loads(local.stdout)
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b
    exported = slaprobe("export", "--config", str(path), "--central", env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == slaprobe("export", "--config", str(path), "--db",
                                       str(tmp_path / "a.db")).stdout.replace("\\u0000", "\ufffd")
    assert len(exported.stdout.splitlines()) == len(history(7))
    incidents = slaprobe("incidents", "--config", str(path), "--central", "--format", "json",
                         *period, env=env)
    assert incidents.returncode == 0 and json.loads(incidents.stdout)
    # Wrong password from the environment: one line, exit 2, no traceback, no password.
    bad = slaprobe("report", "--config", str(path), "--central", *period,
                   env={**env, "PGPASSWORD": "wrong"})
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "cannot connect" in bad.stderr and "wrong" not in bad.stderr
    assert config.central is not None


def test_report_central_without_a_central_table_is_a_clear_error(tmp_path):
    from e2e import slaprobe

    path = tmp_path / "probes.toml"
    path.write_text('[[probes]]\nid = "w"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 1\n')
    out = slaprobe("report", "--config", str(path), "--central")
    assert out.returncode == 2 and "--central needs a [central] table" in out.stderr


def test_an_empty_central_database_is_a_clear_error(pg_cluster, tmp_path):
    from e2e import slaprobe

    dsn = pg_cluster.create_database()
    path = tmp_path / "probes.toml"
    path.write_text(CONFIG.format(dsn=dsn))
    out = slaprobe("report", "--config", str(path), "--central")
    assert out.returncode == 2 and "no slaprobe tables yet" in out.stderr


def test_backlog_gauges_appear_only_with_central():
    base = AgentMetrics(version="1", start_time_seconds=0.0, probes=1)
    assert "central" not in render_metrics(MetricsSnapshot(agent=base))
    text = render_metrics(MetricsSnapshot(agent=AgentMetrics(
        version="1", start_time_seconds=0.0, probes=1, central_backlog_checks=12,
        central_backlog_age_seconds=3.5)))
    assert "slaprobe_central_backlog_checks 12\n" in text
    assert "slaprobe_central_backlog_age_seconds 3.5\n" in text


# -- three agents in one location, one in another, as processes, through two outages ---------
def _toml(location: str, members: list[str], probes: list[dict]) -> str:
    from faultkit import toml_value

    lines = ['[agent]', 'timezone = "UTC"', 'interval = "500ms"', 'timeout = "400ms"',
             '', '[central]', 'dsn = "postgresql://"   # host, user, password: PG* variables',
             'batch = 200', 'interval = "500ms"', '', '[cluster]',
             f'location = "{location}"', f"members = {toml_value(members)}"]
    for p in probes:
        lines.append("\n[[probes]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in p.items()]
    return "\n".join(lines) + "\n"


def _jsonl_set(text: str) -> set[str]:
    return set(text.splitlines())


@pytest.mark.slow
def test_agents_in_two_locations_ship_everything_once_through_an_outage(pg_cluster, tmp_path):
    from e2e import SwitchableHTTP, slaprobe
    from faultkit import Agent, db_count, wait_for

    from slaprobe.cluster import owner

    env = pg_cluster.env("fleet")
    pg_cluster.create_database("fleet")
    with SwitchableHTTP() as steady, SwitchableHTTP() as flaky:
        probes = []
        for i in range(12):
            where = [None, ["fra"], ["fra", "ams"], ["ams"]][i % 4]
            server = flaky if i % 3 == 0 else steady
            probe = {"id": f"svc{i:02d}", "kind": "http", "url": f"{server.url}/{i}"}
            if where:
                probe["locations"] = where
            probes.append(probe)
        fra = tmp_path / "fra.toml"
        fra.write_text(_toml("fra", ["a", "b", "c"], probes))
        ams = tmp_path / "ams.toml"
        ams.write_text(_toml("ams", ["d"], probes))
        agents = {name: Agent(tmp_path / name, fra if name != "d" else ams,
                              args=["--name", name], env=env, db=tmp_path / f"{name}.db")
                  for name in "abcd"}
        started = time.time()
        try:
            for agent in agents.values():
                agent.start()
            for agent in agents.values():
                agent.wait_checks(5)
            time.sleep(3)
            flaky.status = 503  # the client's outage, seen from both locations
            time.sleep(4)
            flaky.status = 200
            time.sleep(1)
            pg_cluster.stop("fast")  # the system of record goes away mid-run...
            stopped = time.time()
            time.sleep(6)
            in_outbox = {n: db_count(a.db) for n, a in agents.items()}
            pg_cluster.start()  # ... and comes back
            assert wait_for(lambda: all("is back after" in a.log() for a in agents.values()),
                            timeout=20), {n: a.log()[-2000:] for n, a in agents.items()}
            time.sleep(2)
        finally:
            codes = {n: a.stop() for n, a in agents.items()}
        ended = time.time()
    assert codes == {n: 0 for n in "abcd"}, {n: a.log()[-3000:] for n, a in agents.items()}
    for name, agent in agents.items():
        log = agent.log()
        assert "Traceback" not in log, log
        assert log.count("unavailable; checks stay in the local outbox") == 1, log
        assert db_count(agent.db) > in_outbox[name]  # probing went on meanwhile
    assert stopped - started > 5

    # Each probe runs on exactly one member of each location it lists.
    runs = {n: {c["probe"] for c in map(json.loads, slaprobe(
        "export", "--config", str(fra), "--db", str(a.db)).stdout.splitlines())}
        for n, a in agents.items()}
    for p in probes:
        pid, where = p["id"], p.get("locations", ["fra", "ams"])
        fra_runs = [n for n in "abc" if pid in runs[n]]
        assert fra_runs == ([owner(pid, ["a", "b", "c"])] if "fra" in where else []), pid
        assert (pid in runs["d"]) == ("ams" in where), pid
    assert all(runs[n] for n in "abc")  # 12 probes spread over all three members

    # Nothing lost, nothing twice: the centre holds exactly the union of the outboxes.
    with Store(agents["a"].db, readonly=True) as s:
        assert s.conn.execute("SELECT count(*) FROM ship_queue").fetchone()[0] == 0
    total = sum(db_count(a.db) for a in agents.values())
    central_export = slaprobe("export", "--config", str(fra), "--central", env=env)
    assert central_export.returncode == 0, central_export.stderr
    local_exports = []
    for name, agent in agents.items():
        out = slaprobe("export", "--config", str(fra), "--db", str(agent.db)).stdout
        (tmp_path / f"{name}.jsonl").write_text(out)
        local_exports.append(out)
    assert len(central_export.stdout.splitlines()) == total
    assert _jsonl_set(central_export.stdout) == set().union(*map(_jsonl_set, local_exports))
    rows = sql(pg_cluster.dsn("fleet"), "SELECT name, location FROM agents ORDER BY name")
    assert rows == [("a", "fra"), ("b", "fra"), ("c", "fra"), ("d", "ams")]

    # The central report equals the report of the merged local exports.
    merged = tmp_path / "merged.db"
    imported = slaprobe("import", "--config", str(fra), "--db", str(merged),
                        *(str(tmp_path / f"{n}.jsonl") for n in "abcd"))
    assert imported.returncode == 0, imported.stderr
    period = ["--from", _rfc3339(started - 5), "--to", _rfc3339(ended + 5)]
    wait_for(lambda: time.time() > ended + 6, timeout=10)
    remote = json.loads(slaprobe("report", "--config", str(fra), "--central", "--format",
                                 "json", "--db", str(merged), *period, env=env).stdout)
    local = json.loads(slaprobe("report", "--config", str(fra), "--db", str(merged),
                                "--format", "json", *period).stdout)
    remote.pop("generated_at"), local.pop("generated_at")
    # export writes latencies to the microsecond, which can move a value across a
    # digest bucket edge; each percentile is within 0.5 % of its exact value, and the
    # exact values differ by less than a microsecond, so they agree within 1 %
    for r, m in zip(remote["probes"], local["probes"]):
        for q, v in r.pop("latency_ms").items():
            w = m["latency_ms"][q]
            assert (v is None and w is None) or abs(v - w) <= 0.01 * max(v, w) + 0.0005, (
                r["id"], q, v, w)
        m.pop("latency_ms")
    assert remote == local
    down = {p["id"] for p in remote["probes"] if p["down_seconds"] > 0}
    assert down == {p["id"] for i, p in enumerate(probes) if i % 3 == 0}


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_status_shows_the_outbox_backlog(tmp_path):
    from e2e import slaprobe

    path = tmp_path / "probes.toml"
    path.write_text('[[probes]]\nid = "web"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 1\n')
    with Store(tmp_path / "a.db") as store:
        store.insert_checks([Check("web", time.time() - 90, True, 1.0, None, 60.0, "a")])
        plain = json.loads(slaprobe("status", "--json", "--config", str(path), "--db",
                                    str(tmp_path / "a.db")).stdout)
        assert "central" not in plain
        outbox.enable(store, "db-1", since_ms=0)
    out = json.loads(slaprobe("status", "--json", "--config", str(path), "--db",
                              str(tmp_path / "a.db")).stdout)
    assert out["central"]["backlog_checks"] == 1
    assert 85 < out["central"]["backlog_age_seconds"] < 200
    table = slaprobe("status", "--config", str(path), "--db", str(tmp_path / "a.db"),
                     env={"COLUMNS": "100"})
    assert "central: 1 checks not shipped yet, oldest 1m" in table.stdout


def test_a_check_postgresql_refuses_is_dropped_alone_and_far_future_months_work(
        pg_cluster, tmp_path, caplog):
    dsn = pg_cluster.create_database()
    db = tmp_path / "a.db"
    far = datetime(9999, 12, 31, 23, 0, tzinfo=timezone.utc).timestamp()
    checks = [Check("web", START + i * 60, False, None, "poison: x" if i == 13 else "refused: y",
                    60.0, "a") for i in range(40)] + [Check("web", far, True, 1.0, None, 60.0, "a")]
    with Store(db) as store:
        store.insert_checks(checks)

    async def constrain() -> None:  # an operator's rule that one check breaks
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await central.migrate(conn)
            await conn.execute("ALTER TABLE checks ADD CONSTRAINT no_poison"
                               " CHECK (error IS DISTINCT FROM 'poison: x')")

    asyncio.run(constrain())
    caplog.set_level(logging.INFO, logger="slaprobe.central")
    shipper = ship_all(db, Central(dsn=dsn, batch=1000, interval=0.05))
    assert shipper.rejected_total == 1 and shipper.shipped_total == 40
    assert shipper.backlog_checks == 0
    assert sql(dsn, "SELECT count(*) FROM checks")[0][0] == 40
    assert sql(dsn, "SELECT count(*) FROM checks_p9999_12")[0][0] == 1
    refused = [r.getMessage() for r in caplog.records if "refused the check" in r.getMessage()]
    assert len(refused) == 1 and "'web'" in refused[0]


def test_a_partition_dropped_behind_the_shippers_back_is_made_again(pg_cluster, tmp_path):
    dsn = pg_cluster.create_database()
    db = tmp_path / "a.db"
    Store(db).close()
    shipper = Shipper(Central(dsn=dsn, batch=1000, interval=0.05), db, agent="a",
                      location="fra", keep_raw=FOREVER)

    async def go() -> None:
        task = asyncio.create_task(shipper.run())
        with Store(db) as store:
            store.insert_checks([Check("web", START, True, 1.0, None, 60.0, "a")])
            for _ in range(200):
                await asyncio.sleep(0.05)
                if shipper.shipped_total == 1:
                    break
            await asyncio.to_thread(sql, dsn, "DROP TABLE checks_p2026_10")  # another agent
            store.insert_checks([Check("web", START + 60, True, 1.0, None, 60.0, "a")])
            for _ in range(200):
                await asyncio.sleep(0.05)
                if shipper.shipped_total == 2:
                    break
        await shipper.finish(task)

    asyncio.run(go())
    assert shipper.rejected_total == 0 and shipper.shipped_total == 2
    assert sql(dsn, "SELECT count(*) FROM checks")[0][0] == 1
