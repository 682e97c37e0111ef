"""probes.toml -> Config: the parsed, validated configuration (SPEC section 2).

The dataclasses below are the contract every other module reads. Parsing and
validation report every problem at once as "probes.toml:LINE: what is wrong".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

PROBE_KINDS = ("http", "tcp", "icmp")
MAINTENANCE_CATEGORIES = ("maintenance", "customer", "third-party", "force-majeure")


@dataclass(frozen=True)
class CreditTier:
    below: float  # availability strictly below this earns `percent`
    percent: float


@dataclass(frozen=True)
class SLA:
    id: str
    objective: float  # percent, e.g. 99.9
    hours: str = "24x7"  # or "Mon-Fri 09:00-17:00"
    timezone: str = "UTC"  # where `hours` are read (defaults to agent.timezone)
    min_downtime: float = 0.0  # seconds
    credits: tuple[CreditTier, ...] = ()


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
    # http
    url: str | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
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
class Config:
    path: Path | None
    agent: Agent
    slas: dict[str, SLA] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)  # in file order
    maintenance: tuple[Maintenance, ...] = ()

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
