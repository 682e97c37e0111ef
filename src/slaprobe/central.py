"""The central PostgreSQL system of record: its schema, shipping into it, reading from it.

Every agent keeps its own SQLite file (the outbox, see outbox.py); the
shipper (shipper.py) copies its checks here, and `report --central` and
`export --central` read them back through `CentralStore`, which offers the
same `checks`/`checks_before`/`iter_all` reads as `store.Store`, so one
implementation of the arithmetic (`availability.build_report`) serves both.

Schema (created and migrated by slaprobe; versions in `schema_migrations`):

    slaprobe_instance(id)            a random id: the outbox notices a new database
    agents(id, name, location, first_seen, last_seen, backlog_checks,
           backlog_age_seconds, version)
                                     last_seen is the shipper's heartbeat
    probes(id, name)
    checks(probe_id, ts, agent_id, ok, latency_ms, error, interval_ms, cert_days)
                                     primary key (probe_id, ts, agent_id); RANGE
                                     partitions by UTC month, checks_pYYYY_MM, made
                                     before the rows that need them and dropped
                                     whole once older than [agent] keep_raw

Errors: psycopg's exceptions pass out of the async (shipper) functions, which
retry on them; `CentralStore` turns them into StoreError, as the CLI expects.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .checks import Check
from .errors import StoreError
from .outbox import Outgoing

if TYPE_CHECKING:
    import psycopg

    from .config import Config

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)
SCHEMA_LOCK = 0x736C6170726F6265  # pg_advisory_xact_lock key for DDL ("slaprobe")
PARTITION = re.compile(r"checks_p(\d{4})_(\d{2})")

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "initial", (
        """CREATE TABLE slaprobe_instance (
            id text PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now())""",
        "INSERT INTO slaprobe_instance (id) VALUES (gen_random_uuid()::text)",
        """CREATE TABLE agents (
            id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL UNIQUE,
            location text,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz,
            backlog_checks bigint,
            backlog_age_seconds double precision,
            version text)""",
        """CREATE TABLE probes (
            id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL UNIQUE)""",
        """CREATE TABLE checks (
            probe_id integer NOT NULL,
            ts timestamptz NOT NULL,
            agent_id integer NOT NULL,
            ok boolean NOT NULL,
            latency_ms double precision,
            error text,
            interval_ms bigint NOT NULL,
            cert_days double precision,
            PRIMARY KEY (probe_id, ts, agent_id)
        ) PARTITION BY RANGE (ts)""",
    )),
)

_STAGE = """CREATE TEMP TABLE IF NOT EXISTS ship_stage (
    probe text NOT NULL, agent text NOT NULL, ts timestamptz NOT NULL, ok boolean NOT NULL,
    latency_ms double precision, error text, interval_ms bigint NOT NULL,
    cert_days double precision) ON COMMIT DELETE ROWS"""
_STAGE_COLUMNS = "probe, agent, ts, ok, latency_ms, error, interval_ms, cert_days"


def ms_to_dt(ts_ms: int) -> datetime:
    """Whole milliseconds -> an exact UTC datetime (no float on the way)."""
    return EPOCH + ts_ms * MS


def dt_to_ms(dt: datetime) -> int:
    return (dt - EPOCH) // MS


def describe_dsn(dsn: str) -> str:
    """"DBNAME on HOST:PORT" for messages: never the password, PG* variables filled in."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params: dict[str, Any] = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - missing psycopg or a bad string: say little
        return "the [central] database"
    env = os.environ
    host = params.get("host") or env.get("PGHOST") or "localhost"
    port = params.get("port") or env.get("PGPORT") or "5432"
    db = (params.get("dbname") or env.get("PGDATABASE") or params.get("user")
          or env.get("PGUSER") or "(default)")
    return f"{db} on {host}:{port}"


def reason(e: BaseException) -> str:
    """The first line of a driver error, for one-line logs and messages."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _text(value: str) -> str:
    return value.replace("\0", "\ufffd")  # PostgreSQL text cannot hold NUL


# -- month partitions (pure) -----------------------------------------------------------
def month_of(ts_ms: int) -> tuple[int, int]:
    dt = ms_to_dt(ts_ms)
    return dt.year, dt.month


def month_bounds(year: int, month: int) -> tuple[datetime, datetime | None]:
    """The month's UTC start and end; no end for December 9999 (datetime's last month)."""
    start = datetime(year, month, 1, tzinfo=timezone.utc)
    if (year, month) == (9999, 12):
        return start, None
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def partition_name(year: int, month: int) -> str:
    return f"checks_p{year:04d}_{month:02d}"


# -- schema and shipping (async, for the daemon's shipper) --------------------------------
async def migrate(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Apply the migrations this database lacks, under an advisory lock, so agents
    starting together do not race. Returns the versions applied."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer "
                           "PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL "
                           "DEFAULT now())")
        cur = await conn.execute("SELECT version FROM schema_migrations")
        have = {row[0] for row in await cur.fetchall()}
        for version, name, statements in MIGRATIONS:
            if version in have:
                continue
            for statement in statements:
                await conn.execute(statement)  # type: ignore[arg-type]
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                               (version, name))
            applied.append(version)
    return applied


async def instance_id(conn: psycopg.AsyncConnection[Any]) -> str:
    cur = await conn.execute("SELECT id FROM slaprobe_instance")
    row = await cur.fetchone()
    if row is None:
        raise StoreError("central database: slaprobe_instance is empty")
    return str(row[0])


async def partitions(conn: psycopg.AsyncConnection[Any]) -> set[tuple[int, int]]:
    """The (year, month) partitions of checks that exist."""
    cur = await conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c"
                             " ON c.oid = i.inhrelid WHERE i.inhparent = 'checks'::regclass")
    out = set()
    for (name,) in await cur.fetchall():
        m = PARTITION.fullmatch(name)
        if m:
            out.add((int(m.group(1)), int(m.group(2))))
    return out


async def ensure_partitions(conn: psycopg.AsyncConnection[Any], months: Iterable[tuple[int, int]],
                            known: set[tuple[int, int]]) -> None:
    """Create the month partitions rows are about to need; `known` caches what exists."""
    from psycopg import sql

    missing = sorted(set(months) - known)
    if not missing:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for year, month in missing:
            start, end = month_bounds(year, month)
            await conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF checks FOR VALUES FROM ({}) TO ({})"
            ).format(sql.Identifier(partition_name(year, month)), sql.Literal(start),
                     sql.SQL("MAXVALUE") if end is None else sql.Literal(end)))
    known.update(missing)


async def prepare(conn: psycopg.AsyncConnection[Any]) -> None:
    """Per connection: the temporary staging table COPY fills."""
    await conn.execute(_STAGE)


async def ship(conn: psycopg.AsyncConnection[Any], rows: list[Outgoing],
               known: set[tuple[int, int]]) -> int:
    """Store `rows` centrally in one transaction; returns how many were new.

    1. Month partitions the rows need are created first (their own transaction).
    2. COPY into the session's staging table, then names become ids (missing
       probes and agents are added, in name order so concurrent agents cannot
       deadlock, and only when missing so identities are not used up).
    3. INSERT ... ON CONFLICT DO NOTHING: a check shipped twice (a crash between
       this commit and the outbox's) is stored once.
    """
    if not rows:
        return 0
    await ensure_partitions(conn, {month_of(r.ts_ms) for r in rows}, known)
    async with conn.transaction():
        async with conn.cursor().copy(f"COPY ship_stage ({_STAGE_COLUMNS}) FROM STDIN") as copy:
            for r in rows:
                await copy.write_row((_text(r.probe), _text(r.agent), ms_to_dt(r.ts_ms), r.ok,
                                      r.latency_ms, None if r.error is None else _text(r.error),
                                      r.interval_ms, r.cert_days))
        for table, column in (("probes", "probe"), ("agents", "agent")):
            await conn.execute(
                f"INSERT INTO {table} (name) SELECT DISTINCT s.{column} FROM ship_stage s"
                f" WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.name = s.{column})"
                " ORDER BY 1 ON CONFLICT (name) DO NOTHING")  # type: ignore[arg-type]
        cur = await conn.execute(
            "INSERT INTO checks (probe_id, ts, agent_id, ok, latency_ms, error, interval_ms,"
            " cert_days) SELECT p.id, s.ts, a.id, s.ok, s.latency_ms, s.error, s.interval_ms,"
            " s.cert_days FROM ship_stage s JOIN probes p ON p.name = s.probe"
            " JOIN agents a ON a.name = s.agent"
            " ON CONFLICT (probe_id, ts, agent_id) DO NOTHING")
        return max(cur.rowcount, 0)


async def heartbeat(conn: psycopg.AsyncConnection[Any], agent: str, location: str | None,
                    backlog_checks: int | None, backlog_age: float | None, version: str) -> None:
    """The agent's row in `agents`: last_seen now, with its backlog."""
    values = (location, backlog_checks, backlog_age, version, agent)
    cur = await conn.execute(
        "UPDATE agents SET location = %s, last_seen = now(), backlog_checks = %s,"
        " backlog_age_seconds = %s, version = %s WHERE name = %s", values)
    if cur.rowcount == 0:
        await conn.execute(
            "INSERT INTO agents (location, last_seen, backlog_checks, backlog_age_seconds,"
            " version, name) VALUES (%s, now(), %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE"
            " SET location = EXCLUDED.location, last_seen = EXCLUDED.last_seen", values)


async def drop_partitions_before(conn: psycopg.AsyncConnection[Any], before: datetime,
                                 known: set[tuple[int, int]]) -> list[str]:
    """Drop the month partitions that end at or before `before` ([agent] keep_raw)."""
    from psycopg import sql

    old = sorted(m for m in await partitions(conn)
                 if (end := month_bounds(*m)[1]) is not None and end <= before)
    if not old:
        return []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for m in old:
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                sql.Identifier(partition_name(*m))))
    known.difference_update(old)
    return [partition_name(*m) for m in old]


# -- reading (sync, for the CLI) ------------------------------------------------------------
class CentralStore:
    """The central checks, read like `store.Store` (the CheckSource of build_report).

    All reads share one read-only REPEATABLE READ transaction: a report sees one
    moment of the database while agents go on shipping.

    Usage: ``with CentralStore(config.central.dsn) as store: build_report(config, store, ...)``
    """

    def __init__(self, dsn: str, *, connect_timeout: int = 10):
        try:
            import psycopg
        except ImportError:
            raise StoreError("reading [central] needs the psycopg package: "
                             "pip install 'slaprobe[central]'") from None
        self._psycopg = psycopg
        self.where = describe_dsn(dsn)
        try:
            self.conn = psycopg.connect(dsn, connect_timeout=connect_timeout,
                                        application_name="slaprobe")
        except psycopg.Error as e:
            raise StoreError(f"central database {self.where}: cannot connect: {reason(e)}") from e
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        row = self._one("SELECT to_regclass('schema_migrations') IS NOT NULL"
                        " AND to_regclass('checks') IS NOT NULL")
        if not row or not row[0]:
            self.close()
            raise StoreError(f"central database {self.where}: no slaprobe tables yet "
                             "(has an agent with [central] shipped to it?)")
        self._probe_ids: dict[str, int | None] = {}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> CentralStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _all(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(query, args).fetchall()  # type: ignore[arg-type]
        except self._psycopg.Error as e:
            raise StoreError(f"central database {self.where}: {reason(e)}") from e

    def _one(self, query: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        rows = self._all(query, args)
        return rows[0] if rows else None

    def probe_id(self, name: str) -> int | None:
        if name not in self._probe_ids:
            row = self._one("SELECT id FROM probes WHERE name = %s", (name,))
            self._probe_ids[name] = None if row is None else row[0]
        return self._probe_ids[name]

    _SELECT = ("SELECT p.name, c.ts, c.ok, c.latency_ms, c.error, c.interval_ms, a.name,"
               " c.cert_days FROM checks c JOIN probes p ON p.id = c.probe_id"
               " JOIN agents a ON a.id = c.agent_id")

    @staticmethod
    def _row(r: tuple[Any, ...]) -> Check:
        return Check(probe=r[0], ts=dt_to_ms(r[1]) / 1000, ok=r[2], latency_ms=r[3], error=r[4],
                     interval_s=r[5] / 1000, agent=r[6], cert_days=r[7])

    @staticmethod
    def _range(start: float | None, end: float | None) -> tuple[str, list[Any]]:
        """Bounds as Store rounds them: whole milliseconds."""
        where, args = "", []
        if start is not None:
            where += " AND c.ts >= %s"
            args.append(ms_to_dt(int(round(start * 1000))))
        if end is not None:
            where += " AND c.ts < %s"
            args.append(ms_to_dt(int(round(end * 1000))))
        return where, args

    def checks(self, probe: str, start: float | None = None,
               end: float | None = None) -> list[Check]:
        """One probe's checks with start <= ts < end, in time order (all agents)."""
        pid = self.probe_id(probe)
        if pid is None:
            return []
        where, args = self._range(start, end)
        rows = self._all(self._SELECT + " WHERE c.probe_id = %s" + where +
                         ' ORDER BY c.ts, a.name COLLATE "C"', (pid, *args))
        return [self._row(r) for r in rows]

    def checks_before(self, probe: str, ts: float, n: int) -> list[Check]:
        """The last n checks (all agents) of a probe before ts, in time order."""
        pid = self.probe_id(probe)
        if pid is None or n <= 0:
            return []
        rows = self._all(self._SELECT + " WHERE c.probe_id = %s AND c.ts < %s"
                         ' ORDER BY c.ts DESC, a.name COLLATE "C" DESC LIMIT %s',
                         (pid, ms_to_dt(int(round(ts * 1000))), n))
        return [self._row(r) for r in reversed(rows)]

    def iter_all(self, start: float | None = None, end: float | None = None,
                 probe: str | None = None) -> Iterator[Check]:
        """Every check in [start, end), ordered by probe then time (for export), streamed."""
        where, args = self._range(start, end)
        if probe is not None:
            where += " AND p.name = %s"
            args.append(probe)
        query = (self._SELECT + " WHERE true" + where +
                 ' ORDER BY p.name COLLATE "C", c.ts, a.name COLLATE "C"')
        try:
            with self.conn.cursor(name="slaprobe_export") as cur:
                cur.itersize = 5000
                cur.execute(query, args)  # type: ignore[arg-type]
                for r in cur:
                    yield self._row(r)
        except self._psycopg.Error as e:
            raise StoreError(f"central database {self.where}: {reason(e)}") from e

    def count_checks(self) -> int:
        row = self._one("SELECT count(*) FROM checks")
        return int(row[0]) if row else 0


def open_central(config: Config) -> CentralStore:
    """The CentralStore of `config`'s [central]; StoreError when there is none."""
    if config.central is None:
        where = config.path or "the configuration"
        raise StoreError(f"{where}: --central needs a [central] table with dsn = "
                         '"postgresql://..."')
    return CentralStore(config.central.dsn)
