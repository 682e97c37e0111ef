"""[[alerts]] tables -> AlertRoute: where alerts go, validated like the rest of probes.toml.

A route is one receiver: a webhook (JSON POST), a command (the event as JSON
on its stdin, no shell) or an e-mail (SMTP). Optional filters narrow what it
receives: `events`, and `clients` / `probes` (either matching is enough, as
for maintenance windows; neither: every probe).

Secrets (a webhook URL, which for Slack and Teams *is* the credential;
webhook headers; the SMTP password) take the same ``{ env = "VAR" }`` /
``{ file = "PATH" }`` forms as probe headers and are read by the same helper
of config.py. They are kept out of the route's repr, so a logged route never
shows them.

Usage (from config._Builder.build)::

    routes = alert_routes(builder, table_array(report, data, "alerts"), clients, probes)
"""

from __future__ import annotations

import email.utils
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._config_lines import MISSING, Table, describe, did_you_mean, unique_tables

ALERT_KINDS = ("webhook", "command", "email")
ALERT_EVENTS = ("down", "recovered", "cert_expiring", "burn_page", "burn_ticket")
WEBHOOK_FORMATS = ("json", "slack", "teams")
ALERT_KEYS = ("id", "kind", "clients", "probes", "events", "timeout")
ALERT_KIND_KEYS = {
    "webhook": ("url", "format", "headers"),
    "command": ("command",),
    "email": ("smtp_host", "smtp_port", "from", "to", "starttls", "username", "password"),
}
ROUTE_ID = re.compile(r"[a-z0-9._-]+")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


@dataclass(frozen=True)
class AlertRoute:
    """One receiver of alerts and what it wants to receive."""

    id: str  # default "<kind>-<n>" (n: its place among the [[alerts]] tables)
    kind: str  # webhook | command | email
    clients: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()  # neither clients nor probes: every probe
    events: tuple[str, ...] = ()  # empty: every event
    timeout: float = 10.0  # seconds for one delivery attempt
    # webhook
    url: str | None = field(default=None, repr=False)
    format: str = "json"  # json | slack | teams
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # command
    command: tuple[str, ...] = ()
    # email
    smtp_host: str | None = None
    smtp_port: int = 25
    sender: str | None = None  # the `from` key
    to: tuple[str, ...] = ()
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    line: int | None = None

    def wants(self, event: str, probe: str, client: str | None) -> bool:
        """Whether this route receives `event` about `probe` (of `client`)."""
        if self.events and event not in self.events:
            return False
        if not self.clients and not self.probes:
            return True
        return probe in self.probes or (client is not None and client in self.clients)


def alert_routes(builder: Any, entries: list[Any], clients: Mapping[str, Any],
                 probes: Mapping[str, Any]) -> tuple[AlertRoute, ...]:
    """Validate every [[alerts]] table; problems go to `builder.problems`."""
    return tuple(unique_tables(builder.problems, entries, "alerts", "alert route",
                               lambda t, i: _route(builder, t, i, clients, probes),
                               noun="route").values())


def _route(builder: Any, t: Table, index: int, clients: Mapping[str, Any],
           probes: Mapping[str, Any]) -> AlertRoute | None:
    stated = t.data.get("kind")
    if stated in ALERT_KINDS:
        t.check_keys((*ALERT_KEYS, *ALERT_KIND_KEYS[stated]), _foreign_keys(stated))
    else:
        t.check_keys({*ALERT_KEYS, *(k for keys in ALERT_KIND_KEYS.values() for k in keys)})
    kind = t.text("kind", None, required=True, choices=ALERT_KINDS)
    ident = t.text("id", None)
    if ident is not None and not ROUTE_ID.fullmatch(ident):
        t.error("id", f"{ident!r} may use only a-z, 0-9, '.', '_' and '-'")
        ident = None
    common: dict[str, Any] = dict(
        clients=_known(t, "clients", clients, "client"),
        probes=_known(t, "probes", probes, "probe"),
        events=_events(t),
        timeout=t.duration("timeout", 10.0),
        line=builder.lines.line_of(t.where),
    )
    specific = {"webhook": _webhook, "command": _command, "email": _email}
    fields = specific[kind](builder, t) if kind else {}
    if kind is None or ("id" in t.data and ident is None):
        return None
    return AlertRoute(id=ident or f"{kind}-{index + 1}", kind=kind, **common, **fields)


def _foreign_keys(kind: str) -> dict[str, str]:
    return {key: f"is for {other} routes, not {kind}"
            for other, keys in ALERT_KIND_KEYS.items() if other != kind for key in keys}


def _known(t: Table, key: str, known: Mapping[str, Any], what: str) -> tuple[str, ...]:
    ids = t.id_list(key)
    for i, ident in enumerate(ids):
        if ident not in known:
            t.error(key, f"no {what} {ident!r}{did_you_mean(ident, known)}", at=(i,))
    return tuple(ident for ident in ids if ident in known)


def _events(t: Table) -> tuple[str, ...]:
    names = t.id_list("events")
    for i, name in enumerate(names):
        if name not in ALERT_EVENTS:
            t.error("events", f"{name!r} is not one of {', '.join(ALERT_EVENTS)}"
                              f"{did_you_mean(name, ALERT_EVENTS)}", at=(i,))
    return tuple(n for n in names if n in ALERT_EVENTS)


def _secret_text(builder: Any, t: Table, key: str, *, required: bool,
                 literal_is_secret: bool = True) -> str | None:
    """A string, or { env = "VAR" } / { file = "PATH" } read by config's secret helper."""
    value = t.raw(key, required)
    if value is MISSING:
        return None
    if isinstance(value, dict):
        return builder.secret(t, key, value, key=key, prefix="")
    if isinstance(value, str) and value:
        if literal_is_secret:
            builder.inline_secrets = True
        return value
    t.error(key, f'expected a string or {{ env = "VAR" }} / {{ file = "PATH" }}, '
                 f"got {describe(value, show=False)}")
    return None


def _webhook(builder: Any, t: Table) -> dict[str, Any]:
    fmt = t.text("format", "json", choices=WEBHOOK_FORMATS)
    raw = t.data.get("url")
    secret = fmt != "json" or (isinstance(raw, str) and _url_has_credentials(raw))
    url = _secret_text(builder, t, "url", required=True, literal_is_secret=secret)
    if url is not None:
        url = url.strip()
        why = _url_problem(url)
        if why:  # never quote the URL: for Slack and Teams it is the secret
            t.error("url", why)
            url = None
    return dict(url=url, format=fmt, headers=builder.headers(t))


def _url_has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return bool(parts.password or parts.query)
    except ValueError:
        return False


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "the URL has no host"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "the URL contains white space or control characters"
    return None


def _command(builder: Any, t: Table) -> dict[str, Any]:
    value = t.raw("command", True)
    if value is MISSING:
        return {}
    if (not isinstance(value, list) or not value
            or not all(isinstance(a, str) for a in value)):
        t.error("command", 'expected a non-empty array of strings, e.g. ["/usr/local/bin/page", '
                           '"--team", "ops"] (no shell is used)')
        return {}
    if any("\0" in a for a in value):
        t.error("command", "an argument holds a NUL character")
        return {}
    program = value[0]
    found = _program(program, builder.path)
    if found is None:
        t.error("command", f"{program!r} is not an executable file (give an absolute path, "
                           "or a name on PATH)", at=(0,))
        return {}
    return dict(command=(found, *value[1:]))


def _program(program: str, config_path: Path) -> str | None:
    """The program's path: absolute, relative to the configuration's folder, or on PATH."""
    if not program.strip():
        return None
    if "/" not in program:
        return shutil.which(program)
    try:
        path = Path(program).expanduser() if program.startswith("~") else Path(program)
        if not path.is_absolute():
            path = config_path.parent / path
        ok = path.is_file() and os.access(path, os.X_OK)
    except (OSError, ValueError, RuntimeError):  # RuntimeError: ~user without a home
        return None
    return str(path) if ok else None


def _email(builder: Any, t: Table) -> dict[str, Any]:
    host = t.text("smtp_host", None, required=True)
    if host is not None and (any(c.isspace() for c in host) or "/" in host):
        t.error("smtp_host", f"{host!r} is not a host name or IP address")
        host = None
    sender = t.text("from", None, required=True)
    if sender is not None and not _address_ok(sender):
        t.error("from", f"{sender!r} is not an e-mail address")
        sender = None
    to: list[str] = []
    raw = t.raw("to", True)
    if raw is not MISSING:
        if not isinstance(raw, list) or not raw:
            t.error("to", 'expected a non-empty array of addresses, e.g. ["ops@example.com"]')
        else:
            for i, item in enumerate(raw):
                if isinstance(item, str) and _address_ok(item):
                    to.append(item)
                else:
                    t.error("to", f"element {i + 1}: {describe(item)} is not an e-mail address",
                            at=(i,))
    username = t.text("username", None)
    password = _secret_text(builder, t, "password", required=False)
    if password is not None and username is None:
        t.error("password", "a password needs a username")
    return dict(smtp_host=host, smtp_port=t.integer("smtp_port", 25, 1, 65535), sender=sender,
                to=tuple(to), starttls=t.boolean("starttls", False), username=username,
                password=password)


def _address_ok(text: str) -> bool:
    if any(c in text for c in "\r\n\0"):
        return False
    _, address = email.utils.parseaddr(text)
    return bool(_ADDRESS.fullmatch(address))
