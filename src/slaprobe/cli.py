"""The `slaprobe` command: argument parsing, then one call into the library, then output.

Exit codes: 0 fine; 1 a probe down (`run --once`) or an objective missed
(`report --fail-on-breach`); 2 bad input (configuration, flags, import files).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import __version__
from .config import Config, find_config_path, load_config
from .errors import ConfigError, InputError, SlaprobeError, StoreError
from .sanitize import inert

log = logging.getLogger("slaprobe")

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


# -- shared plumbing ---------------------------------------------------------
def _setup_logging(verbose: bool = False) -> None:
    """Plain lines on stderr; under journald, `<N>` priority prefixes instead of timestamps."""
    journald = bool(os.environ.get("JOURNAL_STREAM"))

    class _Fmt(logging.Formatter):
        _prio = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                 logging.CRITICAL: 2}

        def format(self, record: logging.LogRecord) -> str:
            msg = super().format(record)
            if journald:
                return "\n".join(f"<{self._prio.get(record.levelno, 6)}>{line}"
                                 for line in msg.splitlines())
            return msg

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Fmt("%(message)s" if journald
                              else "%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def _config(args: argparse.Namespace) -> Config:
    path = find_config_path(args.config)
    config = load_config(path)
    for warning in getattr(config, "warnings", ()):
        print(f"warning: {warning}", file=sys.stderr)
    return config


def _note_windows(args: argparse.Namespace, config: Config, *, create: bool = False,
                  ) -> tuple[dict[str, float], float | None]:
    """Record when the configuration's maintenance windows were first seen (for
    "retroactive"), then read that record: (window id -> first seen, recording began).
    Never fails the command; see windows_seen."""
    from .windows_seen import note_windows, read_seen

    db = _db_path(args, config)
    note_windows(config, db, time.time(), create=create)
    return read_seen(db, config.maintenance)


def _noting_loader(args: argparse.Namespace):
    """`load_config` for SIGHUP reloads that also records the windows of the new file."""
    def load(path: Path) -> Config:
        config = load_config(path)
        _note_windows(args, config, create=True)
        return config

    return load


def _db_path(args: argparse.Namespace, config: Config | None) -> Path:
    if args.db:
        return Path(args.db)
    if config is not None:
        return config.agent.database
    return Path("slaprobe.db")


def _reader(args: argparse.Namespace, config: Config | None):
    """What reports and exports read: the local SQLite file, or with --central the
    [central] PostgreSQL (the same reads, so the same arithmetic)."""
    if getattr(args, "central", False) and config is not None:
        from .central import open_central

        return open_central(config)
    from .store import Store

    return Store(_db_path(args, config), readonly=True)


def _console(width: int | None = None):
    from rich.console import Console

    return Console(width=width, soft_wrap=False)


def _stdout_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _period(args: argparse.Namespace, config: Config, now: float) -> tuple[float, float, bool]:
    from .periods import resolve_period

    return resolve_period(args.period, args.from_, args.to, config.agent.timezone, now)


# -- commands ----------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and say what it holds.

    Example: slaprobe check --config /etc/slaprobe/probes.toml
    """
    config = _config(args)
    _note_windows(args, config)
    print(f"{config.path}: ok — {len(config.probes)} probes, {len(config.clients)} clients, "
          f"{len(config.slas)} SLAs, {len(config.maintenance)} maintenance windows, "
          f"{len(config.alerts)} alert routes")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the agent (until SIGTERM), or each probe once with --once.

    Example: slaprobe run --config probes.toml
    """
    import asyncio  # here: reports and status need no event loop (import time)
    import signal

    from .daemon import Daemon

    if not args.once:  # a reload asked for while starting up must not kill the agent
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = _config(args)
    name = args.name or os.environ.get("SLAPROBE_NAME")
    if name:
        config = replace(config, agent=replace(config.agent, name=name))
    _check_scale_out(config)
    _note_windows(args, config, create=True)
    daemon = Daemon(config, _db_path(args, config), config_path=config.path,
                    load=_noting_loader(args))
    if not args.once:
        return asyncio.run(daemon.run())
    results = asyncio.run(daemon.run_once())
    from .render import render_check_results

    rows = []
    for probe, check in results:
        client = config.clients.get(probe.client) if probe.client else None
        rows.append({"probe": probe.id, "client_name": client.name if client else None,
                     "kind": probe.kind, "ok": check.ok, "latency_ms": check.latency_ms,
                     "error": check.error})
    _stdout_text(render_check_results(rows, width=_term_width(), color=_color()))
    return EXIT_OK if all(c.ok for _, c in results) else EXIT_FAIL


def _check_scale_out(config: Config) -> None:
    """[cluster]: this agent must be a member; [central]: psycopg must be installed."""
    where = config.path or "probes.toml"
    if config.cluster and config.agent.name not in config.cluster.members:
        raise ConfigError([f"{where}: agent name {config.agent.name!r} is not one of [cluster] "
                           f"members ({', '.join(config.cluster.members)}); give "
                           "--name NAME or $SLAPROBE_NAME, or [agent] name"])
    if config.central:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError([f"{where}: [central] needs the psycopg package: "
                               "pip install 'slaprobe[central]'"]) from None


def _term_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def cmd_report(args: argparse.Namespace) -> int:
    """The SLA report: availability, downtime, incidents, error budget, credits.

    Example: slaprobe report --period 2026-11 --format html --output acme.html --client acme
    """
    from .availability import report_to_dict
    from .render import render_report

    fmt = args.format or ("table" if sys.stdout.isatty() and not args.output else "json")
    if fmt == "json" and not getattr(args, "central", False):
        from .report_shards import sharded_report_json

        config, (start, end, now, partial, first_seen, seen_since) = _report_inputs(args)
        text, missed = sharded_report_json(
            config, _db_path(args, config), start, end, now, client=args.client,
            partial=partial, first_seen=first_seen, seen_since=seen_since)
    else:
        config, report = _build_report(args)
        data = report_to_dict(report)
        text = render_report(data, fmt, width=_term_width(), color=_color() and not args.output)
        missed = any(e.get("met") is False for e in data["probes"] + data["clients"])
    _emit(text, args.output)
    return EXIT_FAIL if args.fail_on_breach and missed else EXIT_OK


def cmd_incidents(args: argparse.Namespace) -> int:
    """Down stretches with start, end, duration and the part inside maintenance.

    Example: slaprobe incidents --period 2026-11 --client acme
    """
    from .availability import incidents_list
    from .render import render_incidents

    config, report = _build_report(args)
    rows = incidents_list(report)
    fmt = args.format or ("table" if sys.stdout.isatty() and not args.output else "json")
    text = render_incidents(rows, fmt, width=_term_width(), timezone=config.agent.timezone)
    _emit(text, args.output)
    return EXIT_OK


def _report_inputs(args: argparse.Namespace):
    """The configuration, and the period, now and windows' first sightings the flags name."""
    config = _config(args)
    _check_client(args, config)
    now = time.time()
    start, end, partial = _period(args, config, now)
    first_seen, seen_since = _note_windows(args, config)
    return config, (start, end, now, partial, first_seen, seen_since)


def _build_report(args: argparse.Namespace):
    """The configuration and the report for the period and client the flags name."""
    from .availability import build_report

    config, (start, end, now, partial, first_seen, seen_since) = _report_inputs(args)
    if not getattr(args, "central", False):  # the local file: a process per core when large
        from .report_shards import sharded_report

        return config, sharded_report(config, _db_path(args, config), start, end, now,
                                      client=args.client, partial=partial,
                                      first_seen=first_seen, seen_since=seen_since)
    with _reader(args, config) as store:
        report = build_report(config, store, start, end, now, client=args.client,
                              partial=partial, first_seen=first_seen, seen_since=seen_since)
    return config, report


def cmd_statement(args: argparse.Namespace) -> int:
    """A frozen monthly statement: the month's report stored with its SHA-256; `verify` rechecks.

    Makes the report of --period once, stores it (with when it was made, the
    SHA-256 of its canonical JSON and a digest of its inputs), writes it with
    the hash on it, and prints "sha256: HEX" as the last line. `verify`
    computes the month again: exit 0 unchanged, 1 figures moved (each named),
    2 no statement of that period.

    Example: slaprobe statement --period 2026-10 --client acme --format html --output acme.html
             slaprobe statement verify --period 2026-10 --client acme
    """
    from .periods import month_period
    from .render import render_report
    from .statement import (
        compute_statement,
        make_statement,
        newest_statement,
        verification_lines,
        verify_statement,
    )
    from .store import Store
    from .windows_seen import record

    config = _config(args)
    _check_client(args, config)
    period = args.period.strip()
    tz = config.agent.timezone
    now = time.time()
    _, end = month_period(period, tz)
    if end > now:
        raise InputError(f"--period {period}: the month has not ended yet; a statement freezes "
                         "a whole month (use `slaprobe report` for the month so far)")
    db = _db_path(args, config)
    if not db.exists():
        raise StoreError(f"{db}: no database here yet (has `slaprobe run` written to it?)")
    with Store(db) as store:
        record(store.conn, config.maintenance, now)
        data, inputs = compute_statement(config, store, period, args.client, now)
        if args.action == "verify":
            stored = newest_statement(store.conn, period, args.client)
            if stored is None:
                who = f" for client {args.client}" if args.client else ""
                print(f"slaprobe: no statement of {period}{who}; make one with "
                      f"`slaprobe statement --period {period}`", file=sys.stderr)
                return EXIT_INPUT
            result = verify_statement(stored, data, inputs)
            _stdout_text("\n".join(inert(line) for line in verification_lines(result, tz)))
            return EXIT_OK if result.unchanged else EXIT_FAIL
        made = make_statement(store.conn, period, args.client, data, inputs, now)
    fmt = args.format or ("json" if args.output else "table")
    text = render_report({**data, "statement": made.header(tz)}, fmt, width=_term_width(),
                         color=_color() and not args.output)
    if args.output:
        _emit(text, args.output)
    else:
        _stdout_text(text)
    print(f"statement #{made.id} of {period} stored", file=sys.stderr)
    if fmt == "json" and not args.output:  # stdout stays one JSON document; the hash is in it
        print(f"sha256: {made.sha256}", file=sys.stderr)
    else:
        print(f"sha256: {made.sha256}")
    return EXIT_OK


def _check_client(args: argparse.Namespace, config: Config) -> None:
    if args.client is not None and args.client not in config.clients:
        known = ", ".join(sorted(config.clients)) or "none configured"
        raise InputError(f"--client {args.client!r}: no such client (known: {known})")


def _emit(text: str, output: str | None) -> None:
    if output:
        from .atomic import write_atomic

        write_atomic(Path(output), text if text.endswith("\n") else text + "\n")
    else:
        _stdout_text(text)


def cmd_status(args: argparse.Namespace) -> int:
    """Live status of every probe: state, since, latency, availability, budget left.

    Example: slaprobe status --watch
    """
    from .status import run_status

    config = _config(args)
    return run_status(config, _db_path(args, config), watch=args.watch, as_json=args.json)


def cmd_export(args: argparse.Namespace) -> int:
    """Raw checks as JSON Lines on stdout.

    Example: slaprobe export --from 2026-11-01 --to 2026-12-01 --probe acme-web > checks.jsonl
    """
    from .jsonl import write_jsonl
    from .periods import parse_instant

    config: Config | None
    try:
        config = _config(args)
    except ConfigError:
        if not args.db:
            raise
        config = None
    tz = config.agent.timezone if config else "UTC"
    start = parse_instant(args.from_, tz, field="--from") if args.from_ else None
    end = parse_instant(args.to, tz, field="--to") if args.to else None
    if args.central and config is None:
        raise InputError("--central needs the configuration ([central] dsn)")
    with _reader(args, config) as store:
        write_jsonl(store.iter_all(start, end, args.probe), sys.stdout)
    sys.stdout.flush()
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Load JSON Lines of checks (another agent's export, or history); atomic and idempotent.

    Example: slaprobe import fra1.jsonl ams1.jsonl
    """
    from .jsonl import read_jsonl
    from .store import Store

    config = _config(args)
    intervals = {p.id: p.interval for p in config.probes.values()}
    batches = []
    for name in args.files:
        try:
            with (sys.stdin.buffer if name == "-" else open(name, "rb")) as f:
                checks = list(read_jsonl(f, name, probes=intervals,
                                         default_agent=config.agent.name))
        except OSError as e:
            raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
        batches.append((name, checks))
    with Store(_db_path(args, config)) as store:
        for name, checks in batches:
            added = store.insert_checks(checks)
            print(f"{name}: {len(checks)} checks read, {added} new", file=sys.stderr)
        # Reports read latency digests; fold the new history in now, as the daemon
        # does each minute (reports never write, so they never roll up themselves),
        # with the SLA hours of this configuration.
        from .hours import probe_hours_specs

        store.set_sla_hours(probe_hours_specs(config))
        store.roll_up(time.time())
    return EXIT_OK


def cmd_portal(args: argparse.Namespace) -> int:
    """The static status site (portal.py); imported when used, as it is rarely."""
    from .portal import cmd_portal as portal

    return portal(args)


# -- parser ------------------------------------------------------------------
CENTRAL_HELP = "read the central PostgreSQL of [central] instead of the local database"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="probes.toml (default: $SLAPROBE_CONFIG, ./probes.toml, "
                             "/etc/slaprobe/probes.toml)")
    common.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS,
                        help="SQLite database (default: [agent] database)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)

    period = argparse.ArgumentParser(add_help=False)
    period.add_argument("--period", metavar="YYYY-MM", help="a calendar month in [agent] timezone")
    period.add_argument("--from", dest="from_", metavar="T", help="start: RFC 3339 time or date")
    period.add_argument("--to", metavar="T", help="end (exclusive): RFC 3339 time or date")
    period.add_argument("--client", metavar="ID", help="only this client and its probes")

    parser = argparse.ArgumentParser(
        prog="slaprobe", parents=[common],
        description="Uptime probes into SQLite; SLA availability, incidents and credits out.")
    parser.add_argument("--version", action="version", version=f"slaprobe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func, parents=(), **kw) -> argparse.ArgumentParser:
        doc = (func.__doc__ or "").strip()
        p = sub.add_parser(name, parents=[common, *parents], help=doc.splitlines()[0],
                           description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                           **kw)
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run)
    p.add_argument("--once", action="store_true", help="each probe once; exit 1 if any is down")
    p.add_argument("--name", help="this agent's name (default [agent] name or $SLAPROBE_NAME)")
    add("check", cmd_check)
    p = add("status", cmd_status)
    p.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    formats = ["table", "json", "csv", "md", "html"]
    p = add("report", cmd_report, parents=[period])
    p.add_argument("--central", action="store_true", help=CENTRAL_HELP)
    p.add_argument("--format", choices=formats, help="default: table on a terminal, else json")
    p.add_argument("--output", metavar="FILE", help="write atomically to FILE instead of stdout")
    p.add_argument("--fail-on-breach", action="store_true",
                   help="exit 1 when any reported objective is missed")
    p = add("incidents", cmd_incidents, parents=[period])
    p.add_argument("--central", action="store_true", help=CENTRAL_HELP)
    p.add_argument("--format", choices=["table", "json", "csv", "md"])
    p.add_argument("--output", metavar="FILE")
    p = add("statement", cmd_statement)
    p.add_argument("action", nargs="?", choices=["verify"],
                   help="verify: recompute the month and compare with the newest statement")
    p.add_argument("--period", metavar="YYYY-MM", required=True,
                   help="the calendar month (in [agent] timezone); it must have ended")
    p.add_argument("--client", metavar="ID", help="only this client and its probes")
    p.add_argument("--format", choices=formats,
                   help="default: table, or json with --output")
    p.add_argument("--output", metavar="FILE", help="write atomically to FILE instead of stdout")
    p = add("portal", cmd_portal)
    p.add_argument("--output", metavar="DIR", required=True,
                   help="the folder to write the site into (created if missing)")
    p.add_argument("--client", metavar="ID", help="a site for this client only")
    p = add("export", cmd_export)
    p.add_argument("--central", action="store_true", help=CENTRAL_HELP)
    p.add_argument("--from", dest="from_", metavar="T")
    p.add_argument("--to", metavar="T")
    p.add_argument("--probe", metavar="ID")
    p = add("import", cmd_import)
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines files ('-' for stdin)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for attr in ("config", "db"):
        if not hasattr(args, attr):
            setattr(args, attr, None)
    _setup_logging(getattr(args, "verbose", False))
    if args.func is not cmd_run:
        # A one-shot command makes many small acyclic objects and exits: keep the
        # cyclic collector from rescanning them (5-10 % of a large report).
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
    try:
        return int(args.func(args))
    except ConfigError as e:
        for problem in e.problems:  # problems may quote the file: never echo control codes
            print(inert(problem), file=sys.stderr)
        return EXIT_INPUT
    except (InputError, StoreError, SlaprobeError) as e:
        print(f"slaprobe: error: {inert(str(e))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
