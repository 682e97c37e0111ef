"""probes.toml -> Config: the parsed, validated configuration (SPEC section 2).

The dataclasses below are the contract every other module reads. Parsing and
validation report every problem at once as "probes.toml:LINE: what is wrong",
so an operator fixes the whole file in one round instead of one error a run.

Usage::

    config = load_config(find_config_path(args.config))   # raises ConfigError

1. tomllib parses the text (a syntax error becomes "probes.toml:N: TOML
   syntax error: ...").
2. `LineMap.scan` finds the line of every header and key (tomllib keeps none).
3. Each table is read through a `Table`, whose typed reads record a problem
   and return a default, so validation goes on and finds every mistake.
4. Cross references (client -> SLA, probe -> client, window -> probes) are
   checked once everything is read; then ConfigError lists all problems.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from ._config_alerts import AlertRoute, alert_routes
from ._config_lines import (
    MISSING,
    LineMap,
    Report,
    Table,
    describe,
    did_you_mean,
    sub_table,
    table_array,
    unique_tables,
)
from .durations import format_duration
from .errors import ConfigError

PROBE_KINDS = ("http", "tcp", "icmp")
MAINTENANCE_CATEGORIES = ("maintenance", "customer", "third-party", "force-majeure")
DEFAULT_LOCATIONS = ("probes.toml", "/etc/slaprobe/probes.toml")

# Tables that later features own; kept whole on Config.extra, not validated here.
EXTRA_TABLES = ("central", "cluster", "alerts")
TOP_LEVEL_KEYS = ("agent", "sla", "clients", "probes", "maintenance", *EXTRA_TABLES)
AGENT_KEYS = ("name", "database", "timezone", "interval", "timeout", "metrics", "quorum",
              "keep_raw")
SLA_KEYS = ("objective", "hours", "timezone", "min_downtime", "credits", "latency")
CREDIT_KEYS = ("below", "percent")
LATENCY_KEYS = ("threshold", "objective")
CLIENT_KEYS = ("name", "sla")
PROBE_KEYS = ("id", "kind", "client", "interval", "timeout", "retries", "confirm", "locations",
              "public")
CENTRAL_KEYS = ("dsn", "batch", "interval")
CLUSTER_KEYS = ("location", "members")
PROBE_KIND_KEYS = {
    "http": ("url", "method", "headers", "expect_status", "body_contains", "max_latency",
             "verify_tls", "follow_redirects", "cert_expiry_warn_days"),
    "tcp": ("host", "port"),
    "icmp": ("host", "count", "max_loss"),
}
MAINTENANCE_KEYS = ("id", "clients", "probes", "start", "end", "rrule", "duration", "timezone",
                    "dtstart", "category", "reason", "ticket")
SECRET_KEYS = ("env", "file")

PROBE_ID = re.compile(r"[a-z0-9._-]+")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HTTP_METHOD = re.compile(r"[A-Z]+")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Header names whose literal value in the file is a credential.
SECRET_HEADER = re.compile(r"authorization|cookie|api[-_]?key|token|secret|passw", re.I)

@dataclass(frozen=True)
class CreditTier:
    below: float  # availability strictly below this earns `percent`
    percent: float


@dataclass(frozen=True)
class LatencyObjective:
    """`latency = { threshold = "500ms", objective = 99.0 }`: that share of checks this fast."""

    threshold: float  # seconds; a successful check at or under it is fast enough
    objective: float  # percent of successful checks in eligible time


@dataclass(frozen=True)
class SLA:
    id: str
    objective: float  # percent, e.g. 99.9
    hours: str = "24x7"  # or "Mon-Fri 09:00-17:00"; parse_hours() reads it
    timezone: str = "UTC"  # where `hours` are read (defaults to agent.timezone)
    min_downtime: float = 0.0  # seconds
    credits: tuple[CreditTier, ...] = ()  # sorted by `below`, highest first
    latency: LatencyObjective | None = None  # response-time objective, also Apdex's T


@dataclass(frozen=True)
class Client:
    id: str
    name: str  # display name; defaults to the id
    sla: str | None = None


@dataclass(frozen=True)
class Probe:
    id: str
    kind: str  # http | tcp | icmp
    client: str | None = None
    interval: float = 30.0  # seconds
    timeout: float = 10.0  # seconds, per attempt
    retries: int = 0
    confirm: int = 1
    public: bool = False  # listed by id and state on the client portal (portal.py)
    # http
    url: str | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()  # secrets ({env}/{file}) already read
    expect_status: tuple[int, ...] = ()  # empty: any 2xx or 3xx
    body_contains: str | None = None
    max_latency: float | None = None  # seconds
    verify_tls: bool = True
    follow_redirects: bool = False
    cert_expiry_warn_days: int = 14
    # tcp and icmp
    host: str | None = None
    port: int | None = None
    # icmp
    count: int = 3
    max_loss: float = 0.0  # the check fails when loss ratio > max_loss
    locations: tuple[str, ...] = ()  # [cluster] locations that run it; empty: every one
    line: int | None = None  # where the [[probes]] table starts in the file


@dataclass(frozen=True)
class Maintenance:
    id: str
    clients: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()  # neither clients nor probes: everything
    start: datetime | None = None  # one-off window (aware datetimes)
    end: datetime | None = None
    rrule: str | None = None  # recurring window (RFC 5545)
    duration: float | None = None  # seconds, elapsed from each local start
    timezone: str = "UTC"  # starts of a recurring window are wall-clock here
    dtstart: datetime | None = None  # optional first start of the rule
    category: str = "maintenance"
    reason: str | None = None
    ticket: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Agent:
    name: str  # default: host name
    database: Path  # absolute; default "slaprobe.db" beside the config file
    timezone: str = "UTC"
    interval: float = 30.0
    timeout: float = 10.0
    metrics: str | None = None  # "127.0.0.1:9464"
    quorum: int | None = None  # agents that must see a probe down; None: majority
    keep_raw: float = 90 * 86400.0  # seconds of raw checks kept


@dataclass(frozen=True)
class Central:
    """[central]: the PostgreSQL system of record the agent ships its checks to."""

    dsn: str  # libpq URI or key=value string; the password may come from PGPASSWORD/.pgpass
    batch: int = 5000  # checks per shipment
    interval: float = 5.0  # seconds between shipments when caught up


@dataclass(frozen=True)
class Cluster:
    """[cluster]: this agent's location and the members sharing that location's probes."""

    location: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    path: Path | None
    agent: Agent
    slas: dict[str, SLA] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)  # in file order
    maintenance: tuple[Maintenance, ...] = ()
    alerts: tuple[AlertRoute, ...] = ()  # [[alerts]] routes, validated (_config_alerts)
    # [central], [cluster], [[alerts]] as parsed: their own modules validate them.
    extra: dict[str, Any] = field(default_factory=dict)
    central: Central | None = None
    cluster: Cluster | None = None
    # Not errors, but worth telling the operator (slaprobe check prints them).
    warnings: tuple[str, ...] = ()

    def sla_for_probe(self, probe: Probe) -> SLA | None:
        """The SLA a probe is held to: its client's, or None without a client."""
        if probe.client is None:
            return None
        client = self.clients.get(probe.client)
        if client is None or client.sla is None:
            return None
        return self.slas.get(client.sla)

    def probes_of_client(self, client_id: str) -> list[Probe]:
        return [p for p in self.probes.values() if p.client == client_id]


# ---------------------------------------------------------------------------
# Entry points


def find_config_path(arg: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The configuration file: --config, else $SLAPROBE_CONFIG, else the defaults.

    An explicit --config or $SLAPROBE_CONFIG that does not exist is an error
    rather than a silent fall-back, so a typo never runs another file.
    """
    env = os.environ if environ is None else environ
    if arg:
        candidates = [Path(arg)]
    elif env.get("SLAPROBE_CONFIG"):
        candidates = [Path(env["SLAPROBE_CONFIG"])]
    else:
        candidates = [Path(p) for p in DEFAULT_LOCATIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError([f"{candidates[0]}: no configuration file found (tried {tried})"])


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem.

    Secrets in headers ({env = "VAR"} / {file = "..."}) are read here, from
    `environ` (default os.environ) and the file system.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read the configuration: {e.strerror or e}"]) from e
    except UnicodeDecodeError as e:
        raise ConfigError([f"{path}: not UTF-8 text ({e.reason} at byte {e.start})"]) from e
    config, inline_secrets = _parse(text, path, environ)
    if inline_secrets and _readable_by_others(path):
        warning = f"{path}: readable by other users and contains secrets; chmod 600 it"
        config = replace(config, warnings=(warning, *config.warnings))
    return config


def parse_config(text: str, path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Validate the TOML `text` of the file `path` (used for messages and relative paths)."""
    return _parse(text, Path(path), environ)[0]


def _readable_by_others(path: Path) -> bool:
    try:
        return os.name == "posix" and bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


MAX_SECRET_BYTES = 64 * 1024


def _expand(path: Path) -> Path:
    """`~user/...` expanded; ValueError naming the path when that user's home is unknown."""
    try:
        return path.expanduser()
    except RuntimeError:
        raise ValueError(f"no home directory for {str(path).split('/')[0]!r}") from None


def _read_secret(path: Path) -> str:
    """A secret file's text: a regular file of at most 64 KiB (never /dev/zero or a FIFO)."""
    import stat

    st = path.stat()  # ValueError for a NUL in the path, OSError when missing
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file")
    with path.open("rb") as f:
        data = f.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise ValueError(f"larger than {MAX_SECRET_BYTES // 1024} KiB")
    return data.decode("utf-8")


def _parse(text: str, path: Path, environ: Mapping[str, str] | None) -> tuple[Config, bool]:
    """Config and whether the text holds literal credentials (for the chmod warning)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([_syntax_problem(str(path), text, str(e))]) from None
    except ValueError as e:  # e.g. an integer literal of more than 4300 digits
        raise ConfigError([f"{path}: TOML value not accepted: {e}"]) from None
    lines = LineMap.scan(text)
    builder = _Builder(path, Report(str(path), lines), lines,
                       os.environ if environ is None else environ)
    config = builder.build(data)
    if builder.problems:
        raise ConfigError(builder.problems.messages())
    return config, builder.inline_secrets


def _syntax_problem(name: str, text: str, message: str) -> str:
    """tomllib's "Invalid value (at line 3, column 9)" -> "NAME:3: TOML syntax error: ..."."""
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if m:
        return (f"{name}:{m.group(1)}: TOML syntax error: {message[: m.start()]} "
                f"(column {m.group(2)})")
    m = re.search(r"\s*\(at end of document\)$", message)
    if m:
        last = text.count("\n") + (0 if text.endswith("\n") else 1)
        return f"{name}:{max(last, 1)}: TOML syntax error: {message[: m.start()]} at end of file"
    return f"{name}: TOML syntax error: {message}"


# ---------------------------------------------------------------------------
# Business hours


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def parse_hours(text: str) -> tuple[tuple[int, int, int], ...]:
    """Read SLA hours into (weekday 0=Mon, start minute, end minute) spans.

    "24x7" is () (always eligible). Otherwise clauses separated by ";", each
    days then time ranges: "Mon-Fri 09:00-17:00", "Mon,Wed 08:00-12:00,13:00-18:00",
    "Sat-Sun 00:00-24:00". Spans are merged per day and sorted. A range that
    crosses midnight is refused: it would be unclear which day it belongs to.

    >>> parse_hours("Sat 10:00-14:00")
    ((5, 600, 840),)
    """
    if not isinstance(text, str):
        raise ValueError(f'expected a string such as "24x7" or "Mon-Fri 09:00-17:00", got {text!r}')
    if text.strip().lower() == "24x7":
        return ()
    if not text.strip():
        raise ValueError('empty hours; write "24x7" or e.g. "Mon-Fri 09:00-17:00"')
    spans: dict[int, list[tuple[int, int]]] = {}
    for clause in text.split(";"):
        days, ranges = _hours_clause(clause.strip(), text)
        for day in days:
            spans.setdefault(day, []).extend(ranges)
    return tuple((day, start, end) for day in sorted(spans) for start, end in _merge(spans[day]))


def _hours_clause(clause: str, whole: str) -> tuple[list[int], list[tuple[int, int]]]:
    parts = clause.split(None, 1)
    if len(parts) != 2:
        raise ValueError(f"hours {whole!r}: {clause!r} needs days and times, "
                         'e.g. "Mon-Fri 09:00-17:00"')
    days: list[int] = []
    for item in parts[0].split(","):
        first, _, last = item.partition("-")
        a, b = _weekday(first, whole), _weekday(last or first, whole)
        days.extend((a + i) % 7 for i in range((b - a) % 7 + 1))
    ranges = []
    for item in parts[1].split(","):
        m = _TIME_RANGE.fullmatch(item.strip())
        if not m:
            raise ValueError(f"hours {whole!r}: {item.strip()!r} is not a time range "
                             "like 09:00-17:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"hours {whole!r}: {item.strip()!r} is not a valid time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise ValueError(f"hours {whole!r}: {item.strip()!r} ends before it starts; split "
                             'a range over midnight: "Mon 22:00-24:00; Tue 00:00-06:00"')
        ranges.append((start, end))
    return days, ranges


def _weekday(name: str, whole: str) -> int:
    """0 for "Mon", "mon" or "Monday"; at least three letters of the English name."""
    word = name.strip().lower()
    for index, full in enumerate(_DAYS):
        if len(word) >= 3 and full.startswith(word):
            return index
    raise ValueError(f"hours {whole!r}: unknown day {name.strip()!r} "
                     "(use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# ---------------------------------------------------------------------------
# The file, section by section


class _Builder:
    """Reads one parsed document into a Config, collecting problems in `problems`."""

    def __init__(self, path: Path, report: Report, lines: LineMap, environ: Mapping[str, str]):
        self.path = path
        self.problems = report
        self.lines = lines
        self.environ = environ
        self.warnings = Report(str(path), lines)
        self.inline_secrets = False

    def build(self, data: dict[str, Any]) -> Config:
        self.top_level(data)
        agent = self.agent(data.get("agent", {}))
        slas = self.slas(data.get("sla", {}), agent)
        clients = self.clients(data.get("clients", {}), slas)
        probes = self.probes(table_array(self.problems, data, "probes"), agent, clients)
        windows = self.windows(table_array(self.problems, data, "maintenance"), agent,
                               clients, probes)
        extra = self.extra(data)
        central = self.central(extra.get("central"))
        cluster = self.cluster(extra.get("cluster"), agent, "name" in _table(data, "agent"),
                               probes)
        alerts = alert_routes(self, extra.get("alerts", []), clients, probes)
        if not probes and "probes" not in data:
            self.warnings.add((), "no [[probes]] defined: the agent has nothing to check")
        return Config(path=self.path, agent=agent, slas=slas, clients=clients, probes=probes,
                      maintenance=windows, extra=extra, central=central, cluster=cluster,
                      alerts=alerts,
                      warnings=tuple(self.warnings.messages()))

    def top_level(self, data: dict[str, Any]) -> None:
        """Unknown tables, and keys written above [agent] that belong inside it."""
        for key, value in data.items():
            if key in TOP_LEVEL_KEYS:
                continue
            if isinstance(value, (dict, list)):
                message = f"unknown table [{key}]{did_you_mean(key, TOP_LEVEL_KEYS)}"
            elif key in AGENT_KEYS:
                message = f"key {key!r} belongs in [agent]: write it below the [agent] line"
            else:
                message = f"unknown key {key!r} outside any table"
            self.problems.add((key,), message)

    def extra(self, data: dict[str, Any]) -> dict[str, Any]:
        shapes = {"central": dict, "cluster": dict, "alerts": list}
        out = {}
        for name, kind in shapes.items():
            if name not in data:
                continue
            if isinstance(data[name], kind):
                out[name] = data[name]
            else:
                form = f"[[{name}]] tables" if kind is list else f"a [{name}] table"
                self.problems.add((name,), f"{name} must be {form}, got {describe(data[name])}")
        return out

    # -- [central], [cluster] ---------------------------------------------

    def central(self, value: dict[str, Any] | None) -> Central | None:
        if value is None:
            return None
        t = Table(self.problems, value, ("central",), "[central]")
        t.check_keys(CENTRAL_KEYS)
        dsn = t.text("dsn", None, required=True)
        if dsn is not None:
            why, password = _dsn_problem(dsn)
            if why:
                t.error("dsn", why)
                dsn = None
            elif password:
                self.inline_secrets = True
            elif why is None and password is None:
                self.warnings.add(("central",), "[central] needs the psycopg package to ship "
                                  "checks: pip install 'slaprobe[central]'")
        batch = t.integer("batch", 5000, 1, 1_000_000)
        interval = t.duration("interval", 5.0)
        return None if dsn is None else Central(dsn=dsn, batch=batch, interval=interval)

    def cluster(self, value: dict[str, Any] | None, agent: Agent, named: bool,
                probes: dict[str, Probe]) -> Cluster | None:
        """[cluster]; an [agent] name written in the file must be a member (one given by
        `run --name` or $SLAPROBE_NAME is checked when the agent starts)."""
        if value is None:
            for probe in probes.values():
                if probe.locations:
                    self.warnings.add(("probes", list(probes).index(probe.id), "locations"),
                                      f"probe {probe.id!r} field 'locations': has no effect "
                                      "without [cluster]")
            return None
        t = Table(self.problems, value, ("cluster",), "[cluster]")
        t.check_keys(CLUSTER_KEYS)
        location = t.text("location", None, required=True)
        if location is not None and not PROBE_ID.fullmatch(location):
            t.error("location", f"{location!r} may use only a-z, 0-9, '.', '_' and '-'")
            location = None
        members: list[str] = []
        if t.raw("members", True) is not MISSING:
            for i, name in enumerate(t.id_list("members")):
                if name in members:
                    t.error("members", f"{name!r} is listed twice", at=(i,))
                else:
                    members.append(name)
            if not members and isinstance(t.data["members"], list):
                t.error("members", "needs at least one agent name")
        if named and members and agent.name not in members:
            self.problems.add(("agent", "name"), f"[agent] field 'name': {agent.name!r} is not "
                                                 f"one of [cluster] members "
                                                 f"({', '.join(members)})")
        if location is None or not members:
            return None
        return Cluster(location=location, members=tuple(members))

    @staticmethod
    def locations(t: Table) -> tuple[str, ...]:
        out: list[str] = []
        for i, name in enumerate(t.id_list("locations")):
            if not PROBE_ID.fullmatch(name):
                t.error("locations", f"{name!r} may use only a-z, 0-9, '.', '_' and '-'",
                        at=(i,))
            elif name in out:
                t.error("locations", f"{name!r} is listed twice", at=(i,))
            else:
                out.append(name)
        return tuple(out)

    # -- [agent] ----------------------------------------------------------

    def agent(self, value: Any) -> Agent:
        t = sub_table(self.problems, value, ("agent",), "[agent]")
        if t is None:
            t = Table(self.problems, {}, ("agent",), "[agent]")
        t.check_keys(AGENT_KEYS)
        database = t.text("database", "slaprobe.db")
        try:
            db_path = _expand(Path(database))
        except ValueError as e:
            t.error("database", str(e))
            db_path = Path(database)
        if not db_path.is_absolute():
            db_path = self.path.parent / db_path
        return Agent(
            name=t.text("name", None) or socket.gethostname(),
            database=Path(os.path.abspath(db_path)),
            timezone=t.zone("timezone", "UTC"),
            interval=t.duration("interval", 30.0),
            timeout=t.duration("timeout", 10.0),
            metrics=self.listen_address(t),
            quorum=t.integer("quorum", None, 1),
            keep_raw=t.duration("keep_raw", 90 * 86400.0),
        )

    @staticmethod
    def listen_address(t: Table) -> str | None:
        address = t.text("metrics", None)
        if address is None:
            return None
        from .metrics import parse_listen  # one parser for the check and for the server

        try:
            parse_listen(address)
        except ValueError as e:
            t.error("metrics", str(e))
            return None
        return address

    # -- [sla.*] ----------------------------------------------------------

    def slas(self, value: Any, agent: Agent) -> dict[str, SLA]:
        section = sub_table(self.problems, value, ("sla",), "[sla]")
        out: dict[str, SLA] = {}
        for sla_id, body in (section.data if section else {}).items():
            t = sub_table(self.problems, body, ("sla", sla_id), f"sla {sla_id!r}")
            if t is None:
                continue
            t.check_keys(SLA_KEYS)
            hours = t.text("hours", "24x7")
            try:
                parse_hours(hours)
            except ValueError as e:
                t.error("hours", str(e))
                hours = "24x7"
            out[sla_id] = SLA(
                id=sla_id,
                objective=t.number("objective", 100.0, 0, 100, lo_open=True, required=True),
                hours=hours,
                timezone=t.zone("timezone", agent.timezone),
                min_downtime=t.duration("min_downtime", 0.0, allow_zero=True),
                credits=self.credits(t),
                latency=self.latency(t),
            )
        return out

    def latency(self, sla: Table) -> LatencyObjective | None:
        """`latency = { threshold = "500ms", objective = 99.0 }`, or None when not given."""
        value = sla.raw("latency", False)
        if value is MISSING:
            return None
        where = sla.where + ("latency",)
        if not isinstance(value, dict):
            sla.error("latency", 'expected { threshold = "500ms", objective = 99.0 }, '
                                 f"got {describe(value)}")
            return None
        t = Table(self.problems, value, where, f"{sla.subject} latency")
        t.check_keys(LATENCY_KEYS)
        threshold = t.duration("threshold", None, required=True)
        objective = t.number("objective", None, 0, 100, lo_open=True, required=True)
        if threshold is None or objective is None:
            return None
        return LatencyObjective(threshold=threshold, objective=objective)

    def credits(self, sla: Table) -> tuple[CreditTier, ...]:
        value = sla.raw("credits", False)
        if value is MISSING:
            return ()
        if not isinstance(value, list):
            sla.error("credits", "expected an array of { below = ..., percent = ... } tiers, "
                                 f"got {describe(value)}")
            return ()
        tiers: dict[float, CreditTier] = {}
        for i, item in enumerate(value):
            where = sla.where + ("credits", i)
            t = sub_table(self.problems, item, where, f"{sla.subject} credit tier {i + 1}")
            if t is None:
                continue
            t.check_keys(CREDIT_KEYS)
            below = t.number("below", None, 0, 100, lo_open=True, required=True)
            percent = t.number("percent", None, 0, 100, required=True)
            if below is None or percent is None:
                continue
            if below in tiers:
                t.error("below", f"another tier already has below = {below:g}")
                continue
            tiers[below] = CreditTier(below=below, percent=percent)
        return tuple(sorted(tiers.values(), key=lambda tier: -tier.below))

    # -- [clients.*] ------------------------------------------------------

    def clients(self, value: Any, slas: dict[str, SLA]) -> dict[str, Client]:
        section = sub_table(self.problems, value, ("clients",), "[clients]")
        out: dict[str, Client] = {}
        for client_id, body in (section.data if section else {}).items():
            t = sub_table(self.problems, body, ("clients", client_id), f"client {client_id!r}")
            if t is None:
                continue
            t.check_keys(CLIENT_KEYS)
            sla = t.text("sla", None)
            if sla is not None and sla not in slas:
                known = f"; defined: {', '.join(slas)}" if slas else "; there is no [sla.*] table"
                t.error("sla", f"no SLA {sla!r}{did_you_mean(sla, slas) or known}")
                sla = None
            out[client_id] = Client(id=client_id, name=t.text("name", client_id), sla=sla)
        return out

    # -- [[probes]] -------------------------------------------------------

    def probes(self, entries: list[Any], agent: Agent, clients: dict[str, Client],
               ) -> dict[str, Probe]:
        return unique_tables(self.problems, entries, "probes", "probe",
                             lambda t, _: self.probe(t, agent, clients), noun="probe")

    def probe(self, t: Table, agent: Agent, clients: dict[str, Client]) -> Probe | None:
        stated = t.data.get("kind")
        if stated in PROBE_KINDS:
            t.check_keys((*PROBE_KEYS, *PROBE_KIND_KEYS[stated]), _foreign_keys(stated))
        else:  # kind unknown: accept every kind's keys, report the kind only
            t.check_keys({*PROBE_KEYS, *(k for keys in PROBE_KIND_KEYS.values() for k in keys)})
        ident = t.text("id", None, required=True)
        if ident is not None and not PROBE_ID.fullmatch(ident):
            t.error("id", f"{ident!r} may use only a-z, 0-9, '.', '_' and '-'")
            ident = None
        kind = t.text("kind", None, required=True, choices=PROBE_KINDS)
        client = t.text("client", None)
        if client is not None and client not in clients:
            known = f"; defined: {', '.join(clients)}" if clients else "; there is no [clients.*]"
            t.error("client", f"no client {client!r}{did_you_mean(client, clients) or known}")
        common = dict(
            client=client,
            interval=t.duration("interval", agent.interval),
            timeout=t.duration("timeout", agent.timeout),
            retries=t.integer("retries", 0, 0),
            confirm=t.integer("confirm", 1, 1),
            locations=self.locations(t),
            public=t.boolean("public", False),
            line=self.lines.line_of(t.where),
        )
        specific = {"http": self.http, "tcp": self.tcp, "icmp": self.icmp}
        fields = specific[kind](t) if kind else {}
        if ident is None or kind is None:
            return None
        probe = Probe(id=ident, kind=kind, **common, **fields)
        attempts = 1 + probe.retries
        if probe.timeout * attempts > probe.interval:
            self.warnings.add(t.where, f"{t.subject}: {attempts} attempt(s) of "
                                       f"{format_duration(probe.timeout)} can outlast the "
                                       f"interval of {format_duration(probe.interval)}")
        return probe

    def http(self, t: Table) -> dict[str, Any]:
        url = t.text("url", None, required=True)
        if url is not None:
            why = _url_problem(url)
            if why:
                t.error("url", why)
            elif urlsplit(url).password:
                self.inline_secrets = True
        method = t.text("method", "GET").upper()
        if not HTTP_METHOD.fullmatch(method):
            t.error("method", f"{method!r} is not an HTTP method such as GET or HEAD")
            method = "GET"
        return dict(
            url=url,
            method=method,
            headers=self.headers(t),
            expect_status=self.statuses(t),
            body_contains=t.text("body_contains", None),
            max_latency=t.duration("max_latency", None),
            verify_tls=t.boolean("verify_tls", True),
            follow_redirects=t.boolean("follow_redirects", False),
            cert_expiry_warn_days=t.integer("cert_expiry_warn_days", 14, 0),
        )

    @staticmethod
    def tcp(t: Table) -> dict[str, Any]:
        return dict(host=_host(t), port=t.integer("port", None, 1, 65535, required=True))

    @staticmethod
    def icmp(t: Table) -> dict[str, Any]:
        return dict(host=_host(t), count=t.integer("count", 3, 1, 100),
                    max_loss=t.number("max_loss", 0.0, 0, 1))

    @staticmethod
    def statuses(t: Table) -> tuple[int, ...]:
        value = t.raw("expect_status", False)
        if value is MISSING:
            return ()
        if not isinstance(value, list):
            t.error("expect_status", "expected an array of status codes such as [200, 204]")
            return ()
        codes = []
        for i, code in enumerate(value):
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                t.error("expect_status", f"element {i + 1}: expected a status code 100-599, "
                                         f"got {describe(code)}", at=(i,))
            else:
                codes.append(code)
        return tuple(codes)

    def headers(self, t: Table) -> tuple[tuple[str, str], ...]:
        """Header pairs with secrets read. Values never appear in a message."""
        value = t.raw("headers", False)
        if value is MISSING:
            return ()
        if not isinstance(value, dict):
            t.error("headers", f"expected a table of name = value, got {describe(value)}")
            return ()
        out = []
        for name, raw in value.items():
            where = (name,)
            if not HEADER_NAME.fullmatch(name):
                t.error("headers", f"{name!r} is not a valid header name", at=where)
                continue
            if isinstance(raw, dict):
                text = self.secret(t, name, raw)
            elif isinstance(raw, str):
                text = raw
                if SECRET_HEADER.search(name):
                    self.inline_secrets = True
            else:
                t.error("headers", f"header {name!r}: expected a string or "
                                   f'{{ env = "VAR" }} / {{ file = "PATH" }}, '
                                   f"got {describe(raw, show=False)}", at=where)
                continue
            if text is None:
                continue
            if any(c in text for c in "\r\n\0"):
                t.error("headers", f"header {name!r}: the value holds a line break or NUL",
                        at=where)
                continue
            out.append((name, text))
        return tuple(out)

    def secret(self, t: Table, header: str, spec: dict[str, Any], *, key: str = "headers",
               prefix: str | None = None) -> str | None:
        """The value of {env = "VAR"} or {file = "PATH"}; None after a problem.

        Problems are reported on field `key` (default: the header `header` of
        "headers"; an alert route passes e.g. key="url"), each message led by
        `prefix` (default "header 'NAME'"; "" for none).
        """
        where = (header,) if key == "headers" else ()
        lead = f"header {header!r}: " if prefix is None else (f"{prefix}: " if prefix else "")
        unknown = [k for k in spec if k not in SECRET_KEYS]
        if unknown or len(spec) != 1:
            t.error(key, f'{lead}write {{ env = "VAR" }} or {{ file = "PATH" }}, '
                               f"got keys {', '.join(map(repr, spec)) or 'none'}", at=where)
            return None
        source, ref = next(iter(spec.items()))
        if not isinstance(ref, str) or not ref:
            t.error(key, f"{lead}{source} must be a non-empty string", at=where)
            return None
        if source == "env":
            if not ENV_NAME.fullmatch(ref):
                t.error(key, f"{lead}{ref!r} is not an environment variable name",
                        at=where)
                return None
            if ref not in self.environ:
                t.error(key, f"{lead}environment variable {ref} is not set", at=where)
                return None
            text = self.environ[ref]
            origin = f"environment variable {ref}"
        else:
            secret_path = Path(ref)
            try:
                secret_path = _expand(secret_path)
                if not secret_path.is_absolute():
                    secret_path = self.path.parent / secret_path
                text = _read_secret(secret_path).rstrip("\r\n")
            except (OSError, UnicodeDecodeError, ValueError) as e:
                reason = (e.strerror if isinstance(e, OSError) and e.strerror
                          else "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e))
                t.error(key, f"{lead}cannot read {str(secret_path)!r}: {reason}",
                        at=where)
                return None
            origin = f"file {secret_path}"
        if not text:
            t.error(key, f"{lead}{origin} is empty", at=where)
            return None
        return text

    # -- [[maintenance]] --------------------------------------------------

    def windows(self, entries: list[Any], agent: Agent, clients: dict[str, Client],
                probes: dict[str, Probe]) -> tuple[Maintenance, ...]:
        return tuple(unique_tables(self.problems, entries, "maintenance", "maintenance",
                                   lambda t, _: self.window(t, agent, clients, probes),
                                   noun="window").values())

    def window(self, t: Table, agent: Agent, clients: dict[str, Client],
               probes: dict[str, Probe]) -> Maintenance | None:
        t.check_keys(MAINTENANCE_KEYS)
        ident = t.text("id", None, required=True)
        covered_clients = _known_ids(t, "clients", clients, "client")
        covered_probes = _known_ids(t, "probes", probes, "probe")
        timezone = t.zone("timezone", agent.timezone)
        start, end = t.moment("start"), t.moment("end")
        rule = t.text("rrule", None)
        duration = t.duration("duration", None)
        dtstart = t.moment("dtstart")
        one_off = "start" in t.data or "end" in t.data
        recurring = "rrule" in t.data or "duration" in t.data
        if one_off and recurring:
            t.problem("give either start and end (one window) or rrule and duration "
                      "(a recurring window), not both")
        elif one_off:
            _pair(t, "start", "end", "a one-off window")
            if start and end and end <= start:
                t.error("end", f"{end.isoformat()} is not after start {start.isoformat()}")
            if "dtstart" in t.data:
                t.error("dtstart", "only applies to a recurring window (rrule)")
        elif recurring:
            _pair(t, "rrule", "duration", "a recurring window")
            if rule is not None:
                why = _rrule_problem(rule, dtstart, timezone)
                if why:
                    t.error("rrule", why)
        else:
            t.problem("needs start and end (one window) or rrule and duration "
                      "(a recurring window)")
        category = t.text("category", "maintenance", choices=MAINTENANCE_CATEGORIES)
        if ident is None:
            return None
        return Maintenance(
            id=ident, clients=covered_clients, probes=covered_probes, start=start, end=end,
            rrule=rule, duration=duration, timezone=timezone, dtstart=dtstart,
            category=category, reason=t.text("reason", None), ticket=t.text("ticket", None),
            line=self.lines.line_of(t.where),
        )


def _foreign_keys(kind: str) -> dict[str, str]:
    """Keys of other probe kinds, explained: "is for tcp probes, not http"."""
    owners: dict[str, list[str]] = {}
    for other, keys in PROBE_KIND_KEYS.items():
        for key in keys:
            owners.setdefault(key, []).append(other)
    out = {}
    for key, kinds in owners.items():
        if kind not in kinds:
            hint = " (an http probe takes its host from 'url')" if key == "host" else ""
            out[key] = f"is for {' and '.join(kinds)} probes, not {kind}{hint}"
    return out


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _dsn_problem(dsn: str) -> tuple[str | None, bool | None]:
    """(why `dsn` is not a libpq connection string or None, whether it holds a password).

    libpq parses it (through psycopg) without connecting; the second item is None
    when psycopg is missing and the string could not be parsed for real. Messages
    never quote the string: it may hold a password.
    """
    uri = dsn.startswith(("postgresql://", "postgres://"))
    if not uri and not re.match(r"\s*[A-Za-z_]+\s*=", dsn):
        return ('expected a libpq connection string: "postgresql://HOST/DBNAME" or '
                '"host=HOST dbname=DBNAME" (PG* environment variables fill in the rest)', False)
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return None, None
    try:
        params = conninfo_to_dict(dsn)
    except Exception:  # psycopg.ProgrammingError: libpq could not parse it
        return ("not a valid libpq connection string (see "
                "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING)",
                False)
    return None, bool(params.get("password"))


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as e:
        return f"{url!r} is not a valid URL: {e}"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} must start with http:// or https://"
    if not parts.hostname:
        return f"{url!r} has no host"
    if any(c.isspace() for c in url):
        return f"{url!r} contains white space"
    return None


def _host(t: Table) -> str | None:
    host = t.text("host", None, required=True)
    if host is None:
        return None
    if "/" in host or any(c.isspace() for c in host):
        t.error("host", f"{host!r} is not a host name or IP address")
        return None
    return host.strip("[]")


def _known_ids(t: Table, key: str, known: Mapping[str, Any], what: str) -> tuple[str, ...]:
    ids = t.id_list(key)
    for i, ident in enumerate(ids):
        if ident not in known:
            t.error(key, f"no {what} {ident!r}{did_you_mean(ident, known)}", at=(i,))
    return tuple(ident for ident in ids if ident in known)


def _pair(t: Table, first: str, second: str, what: str) -> None:
    for have, need in ((first, second), (second, first)):
        if have in t.data and need not in t.data:
            t.problem(f"{what} needs {need!r} with {have!r}")


def _rrule_problem(rule: str, dtstart: datetime | None, timezone: str) -> str | None:
    """None when dateutil reads `rule` as one RFC 5545 RRULE, else why not.

    Checked with an aware start (in the window's zone), so UNTIL must be UTC
    ("...Z") as RFC 5545 requires for zoned starts.
    """
    if "DTSTART" in rule.upper():
        return "malformed rrule: put the first start in dtstart = ..., not in the rule"
    zone = ZoneInfo(timezone)
    start = dtstart.astimezone(zone) if dtstart else datetime(2000, 1, 1, tzinfo=zone)
    try:
        parsed = rrulestr(rule.strip(), dtstart=start)
    except Exception as e:  # dateutil raises ValueError, TypeError, IndexError...
        return f"malformed rrule: {e}"
    if not isinstance(parsed, rrule):
        return "malformed rrule: give a single RRULE"
    return None
