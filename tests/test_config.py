"""probes.toml -> Config: every mistake is reported as "probes.toml:LINE: what is wrong"."""

from __future__ import annotations

import os
import socket
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slaprobe import config as config_module
from slaprobe._config_lines import LineMap, Report
from slaprobe.config import (
    CreditTier,
    find_config_path,
    load_config,
    parse_config,
    parse_hours,
)
from slaprobe.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
MARK = "# <-"  # marks the line a case's one problem must point at


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path, so messages start with the path as given: "probes.toml"."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str, name: str = "probes.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(in_tmp: Path, text: str, environ: dict[str, str] | None = None):
    write(in_tmp, text)
    return load_config(Path("probes.toml"), environ=environ or {})


def problems(in_tmp: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(in_tmp, text, environ)
    return caught.value.problems


def marked_line(text: str) -> int:
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    hits = [n for n, line in enumerate(lines, 1) if MARK in line]
    assert len(hits) == 1, "a case marks exactly one line"
    return hits[0]


# ---------------------------------------------------------------------------
# The shipped file


def test_shipped_probes_toml_parses_and_shows_every_kind_on_loopback() -> None:
    config = load_config(REPO / "probes.toml", environ={})
    kinds = {probe.kind for probe in config.probes.values()}
    assert kinds == {"http", "tcp", "icmp"}
    for probe in config.probes.values():
        target = probe.url or probe.host or ""
        assert "127.0.0.1" in target, probe.id
        assert probe.id == probe.id.lower()
    http = next(p for p in config.probes.values() if p.kind == "http")
    tcp = next(p for p in config.probes.values() if p.kind == "tcp")
    assert config.agent.metrics == "127.0.0.1:9464"
    assert http.url == "http://127.0.0.1:9464/metrics" and tcp.port == 9464
    assert config.agent.database == REPO / "slaprobe.db"
    assert all(config.sla_for_probe(p) is config.slas["gold"] for p in config.probes.values())


def test_shipped_probes_toml_has_a_future_one_off_and_a_recurring_window() -> None:
    config = load_config(REPO / "probes.toml", environ={})
    one_off = [w for w in config.maintenance if w.start is not None]
    recurring = [w for w in config.maintenance if w.rrule is not None]
    assert one_off and recurring
    assert all(w.start is not None and w.start > datetime.now(UTC) for w in one_off)
    assert config.warnings == ()


def test_shipped_probes_toml_mentions_every_optional_key() -> None:
    text = (REPO / "probes.toml").read_text(encoding="utf-8")
    for key in ("method", "headers", "env =", "verify_tls", "follow_redirects",
                "cert_expiry_warn_days", "quorum", "keep_raw", "category", "reason", "ticket",
                "dtstart"):
        assert key in text, key


# ---------------------------------------------------------------------------
# One mistake, one message at the right line


CASES = [
    # -- top level --
    ("unknown_table", """
        [probe]  # <-
        id = "x"
        """, "unknown table [probe] (did you mean 'probes'?)"),
    ("agent_key_above_agent_table", """
        interval = "30s"  # <-
        """, "key 'interval' belongs in [agent]"),
    ("probes_not_an_array_of_tables", """
        probes = "web"  # <-
        """, "must be written as [[probes]] tables"),
    ("central_not_a_table", """
        central = "postgresql://x"  # <-
        """, "central must be a [central] table"),
    # -- [agent] --
    ("unknown_agent_key", """
        [agent]
        intervall = "30s"  # <-
        """, "[agent]: unknown key 'intervall' (did you mean 'interval'?)"),
    ("agent_name_not_a_string", """
        [agent]
        name = 5  # <-
        """, "field 'name': expected a string, got the number 5"),
    ("agent_unknown_timezone", """
        [agent]
        timezone = "Mars/Base"  # <-
        """, "field 'timezone': unknown time zone 'Mars/Base'"),
    ("agent_interval_zero", """
        [agent]
        interval = "0s"  # <-
        """, "field 'interval': must be longer than zero"),
    ("agent_interval_without_unit", """
        [agent]
        interval = "30"  # <-
        """, "field 'interval': bad duration '30'"),
    ("agent_timeout_as_number", """
        [agent]
        timeout = 10  # <-
        """, "field 'timeout': expected a duration string"),
    ("agent_keep_raw_negative", """
        [agent]
        keep_raw = "-1d"  # <-
        """, "field 'keep_raw': duration '-1d' is negative"),
    ("agent_metrics_bad_port", """
        [agent]
        metrics = "127.0.0.1:70000"  # <-
        """, "field 'metrics': '127.0.0.1:70000': port must be a number from 1 to 65535"),
    ("agent_metrics_without_port", """
        [agent]
        metrics = "localhost"  # <-
        """, "field 'metrics': 'localhost': expected HOST:PORT"),
    ("agent_quorum_bool", """
        [agent]
        quorum = true  # <-
        """, "field 'quorum': expected a whole number, got true"),
    ("agent_quorum_zero", """
        [agent]
        quorum = 0  # <-
        """, "field 'quorum': must be at least 1"),
    ("agent_database_empty", """
        [agent]
        database = ""  # <-
        """, "field 'database': must not be empty"),
    # -- [sla.*] --
    ("sla_without_objective", """
        [sla.gold]  # <-
        hours = "24x7"
        """, "sla 'gold': missing required key 'objective'"),
    ("sla_objective_zero", """
        [sla.gold]
        objective = 0  # <-
        """, "field 'objective': must be above 0 and at most 100, got 0"),
    ("sla_objective_above_100", """
        [sla.gold]
        objective = 100.5  # <-
        """, "field 'objective': must be above 0 and at most 100"),
    ("sla_objective_nan", """
        [sla.gold]
        objective = nan  # <-
        """, "field 'objective': must be a finite number"),
    ("sla_objective_string", """
        [sla.gold]
        objective = "99.9"  # <-
        """, "field 'objective': expected a number, got the string '99.9'"),
    ("sla_objective_bool", """
        [sla.gold]
        objective = true  # <-
        """, "field 'objective': expected a number, got true"),
    ("sla_unknown_key", """
        [sla.gold]
        objective = 99.9
        objectiv = 99.9  # <-
        """, "sla 'gold': unknown key 'objectiv' (did you mean 'objective'?)"),
    ("sla_hours_unknown_day", """
        [sla.gold]
        objective = 99.9
        hours = "Mon-Fry 09:00-17:00"  # <-
        """, "field 'hours': hours 'Mon-Fry 09:00-17:00': unknown day 'Fry'"),
    ("sla_hours_backwards", """
        [sla.gold]
        objective = 99.9
        hours = "Mon-Fri 17:00-09:00"  # <-
        """, "ends before it starts"),
    ("sla_hours_no_minutes", """
        [sla.gold]
        objective = 99.9
        hours = "Mon-Fri 9-17"  # <-
        """, "'9-17' is not a time range"),
    ("sla_unknown_timezone", """
        [sla.gold]
        objective = 99.9
        timezone = "Europe/Berlinn"  # <-
        """, "sla 'gold' field 'timezone': unknown time zone"),
    ("sla_min_downtime_bad", """
        [sla.gold]
        objective = 99.9
        min_downtime = "soon"  # <-
        """, "field 'min_downtime': bad duration 'soon'"),
    ("sla_credits_not_an_array", """
        [sla.gold]
        objective = 99.9
        credits = 10  # <-
        """, "field 'credits': expected an array"),
    ("credit_percent_above_100_on_its_own_line", """
        [sla.gold]
        objective = 99.9
        credits = [
          { below = 99.9, percent = 10 },
          { below = 99.0, percent = 150 },  # <-
        ]
        """, "credit tier 2 field 'percent': must be at least 0 and at most 100"),
    ("credit_below_infinite", """
        [sla.gold]
        objective = 99.9
        credits = [{ below = inf, percent = 10 }]  # <-
        """, "credit tier 1 field 'below': must be a finite number"),
    ("credit_unknown_key", """
        [sla.gold]
        objective = 99.9
        credits = [
          { below = 99.9, pct = 10 },  # <-
        ]
        """, "unknown key 'pct' (did you mean 'percent'?)"),
    ("credit_duplicate_below", """
        [sla.gold]
        objective = 99.9
        credits = [
          { below = 99.9, percent = 10 },
          { below = 99.9, percent = 20 },  # <-
        ]
        """, "another tier already has below = 99.9"),
    # -- [clients.*] --
    ("client_unknown_sla", """
        [sla.gold]
        objective = 99.9
        [clients.acme]
        sla = "gld"  # <-
        """, "client 'acme' field 'sla': no SLA 'gld' (did you mean 'gold'?)"),
    ("client_unknown_key", """
        [clients.acme]
        nme = "ACME"  # <-
        """, "client 'acme': unknown key 'nme' (did you mean 'name'?)"),
    # -- [[probes]] common --
    ("probe_unknown_key", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        intervall = "30s"  # <-
        """, "probe 'web': unknown key 'intervall' (did you mean 'interval'?)"),
    ("probe_misspelt_required_key_is_reported_once", """
        [[probes]]
        id = "web"
        kind = "http"
        ulr = "http://127.0.0.1/"  # <-
        """, "probe 'web': unknown key 'ulr' (did you mean 'url'?)"),
    ("probe_without_id", """
        [[probes]]  # <-
        kind = "tcp"
        host = "127.0.0.1"
        port = 22
        """, "probe #1: missing required key 'id'"),
    ("probe_id_with_capitals_and_space", """
        [[probes]]
        id = "Web Server"  # <-
        kind = "icmp"
        host = "127.0.0.1"
        """, "field 'id': 'Web Server' may use only a-z, 0-9"),
    ("probe_duplicate_id", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 5432
        [[probes]]
        id = "db"  # <-
        kind = "icmp"
        host = "127.0.0.1"
        """, "field 'id': 'db' is already used by the probe at line 1"),
    ("probe_without_kind", """
        [[probes]]  # <-
        id = "gw"
        host = "127.0.0.1"
        """, "probe 'gw': missing required key 'kind'"),
    ("probe_unknown_kind", """
        [[probes]]
        id = "gw"
        kind = "udp"  # <-
        host = "127.0.0.1"
        """, "field 'kind': 'udp' is not one of http, tcp, icmp"),
    ("probe_unknown_client", """
        [clients.acme]
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        client = "acne"  # <-
        """, "field 'client': no client 'acne' (did you mean 'acme'?)"),
    ("probe_interval_zero", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        interval = "0ms"  # <-
        """, "field 'interval': must be longer than zero"),
    ("probe_retries_negative", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        retries = -1  # <-
        """, "field 'retries': must be at least 0, got -1"),
    ("probe_retries_string", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        retries = "2"  # <-
        """, "field 'retries': expected a whole number, got the string '2'"),
    ("probe_confirm_bool", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        confirm = true  # <-
        """, "field 'confirm': expected a whole number, got true"),
    ("probe_confirm_zero", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        confirm = 0  # <-
        """, "field 'confirm': must be at least 1"),
    # -- http --
    ("http_without_url", """
        [[probes]]  # <-
        id = "web"
        kind = "http"
        """, "probe 'web': missing required key 'url'"),
    ("http_url_ftp", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "ftp://example.com/"  # <-
        """, "field 'url': 'ftp://example.com/' must start with http:// or https://"),
    ("http_url_without_host", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://"  # <-
        """, "field 'url': 'https://' has no host"),
    ("http_url_bad_port", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1:99999/"  # <-
        """, "is not a valid URL"),
    ("http_probe_with_port", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        port = 80  # <-
        """, "probe 'web': key 'port' is for tcp probes, not http"),
    ("http_probe_with_host", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        host = "127.0.0.1"  # <-
        """, "key 'host' is for tcp and icmp probes, not http (an http probe takes its host"),
    ("http_probe_with_count", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        count = 3  # <-
        """, "key 'count' is for icmp probes, not http"),
    ("http_method_with_path", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        method = "GET /"  # <-
        """, "field 'method': 'GET /' is not an HTTP method"),
    ("http_expect_status_out_of_range", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        expect_status = [200, 700]  # <-
        """, "field 'expect_status': element 2: expected a status code 100-599"),
    ("http_expect_status_bool", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        expect_status = [true]  # <-
        """, "expected a status code 100-599, got true"),
    ("http_expect_status_not_array", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        expect_status = 200  # <-
        """, "field 'expect_status': expected an array"),
    ("http_body_contains_number", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        body_contains = 1  # <-
        """, "field 'body_contains': expected a string"),
    ("http_max_latency_bad", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        max_latency = "fast"  # <-
        """, "field 'max_latency': bad duration 'fast'"),
    ("http_verify_tls_string", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        verify_tls = "yes"  # <-
        """, "field 'verify_tls': expected true or false, got the string 'yes'"),
    ("http_follow_redirects_number", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        follow_redirects = 1  # <-
        """, "field 'follow_redirects': expected true or false"),
    ("http_cert_expiry_warn_days_negative", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        cert_expiry_warn_days = -1  # <-
        """, "field 'cert_expiry_warn_days': must be at least 0"),
    ("http_headers_not_a_table", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = ["X-A: b"]  # <-
        """, "field 'headers': expected a table"),
    ("http_header_number_value", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = { "X-Token" = 12345 }  # <-
        """, "header 'X-Token': expected a string or { env = \"VAR\" }"),
    ("http_header_bad_name", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = { "X Token" = "a" }  # <-
        """, "'X Token' is not a valid header name"),
    ("http_header_secret_unknown_source", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = { Authorization = { envv = "TOKEN" } }  # <-
        """, "header 'Authorization': write { env = \"VAR\" } or { file = \"PATH\" }"),
    ("http_header_secret_file_missing", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = { Authorization = { file = "no-such-token" } }  # <-
        """, "header 'Authorization': cannot read"),
    ("http_header_in_sub_table_missing_env", """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        [probes.headers]
        Accept = "text/plain"
        Authorization = { env = "NOT_SET" }  # <-
        """, "header 'Authorization': environment variable NOT_SET is not set"),
    # -- tcp --
    ("tcp_without_port", """
        [[probes]]  # <-
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        """, "probe 'db': missing required key 'port'"),
    ("tcp_without_host", """
        [[probes]]  # <-
        id = "db"
        kind = "tcp"
        port = 5432
        """, "probe 'db': missing required key 'host'"),
    ("tcp_port_zero", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 0  # <-
        """, "field 'port': must be between 1 and 65535, got 0"),
    ("tcp_port_too_big", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 65536  # <-
        """, "field 'port': must be between 1 and 65535"),
    ("tcp_port_string", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = "5432"  # <-
        """, "field 'port': expected a whole number, got the string '5432'"),
    ("tcp_port_float", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 5432.0  # <-
        """, "field 'port': expected a whole number, got the number 5432.0"),
    ("tcp_probe_with_url", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 5432
        url = "http://127.0.0.1/"  # <-
        """, "probe 'db': key 'url' is for http probes, not tcp"),
    ("tcp_host_is_a_url", """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "http://127.0.0.1/"  # <-
        port = 80
        """, "field 'host': 'http://127.0.0.1/' is not a host name"),
    # -- icmp --
    ("icmp_count_zero", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        count = 0  # <-
        """, "field 'count': must be between 1 and 100, got 0"),
    ("icmp_count_too_many", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        count = 101  # <-
        """, "field 'count': must be between 1 and 100"),
    ("icmp_max_loss_above_one", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        max_loss = 1.5  # <-
        """, "field 'max_loss': must be at least 0 and at most 1"),
    ("icmp_max_loss_nan", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        max_loss = nan  # <-
        """, "field 'max_loss': must be a finite number"),
    ("icmp_probe_with_port", """
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        port = 7  # <-
        """, "key 'port' is for tcp probes, not icmp"),
    # -- [[maintenance]] --
    ("window_without_id", """
        [[maintenance]]  # <-
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        """, "maintenance #1: missing required key 'id'"),
    ("window_duplicate_id", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        [[maintenance]]
        id = "w"  # <-
        start = 2026-12-07T02:00:00Z
        end = 2026-12-07T04:00:00Z
        """, "field 'id': 'w' is already used by the window at line 1"),
    ("window_unknown_key", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        reson = "upgrade"  # <-
        """, "maintenance 'w': unknown key 'reson' (did you mean 'reason'?)"),
    ("window_unknown_client", """
        [clients.acme]
        [[maintenance]]
        id = "w"
        clients = [
          "acme",
          "acne",  # <-
        ]
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        """, "field 'clients': no client 'acne' (did you mean 'acme'?)"),
    ("window_unknown_probe", """
        [[maintenance]]
        id = "w"
        probes = ["web"]  # <-
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        """, "field 'probes': no probe 'web'"),
    ("window_probes_not_ids", """
        [[maintenance]]
        id = "w"
        probes = "web"  # <-
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        """, "field 'probes': expected an array of ids"),
    ("window_local_datetime", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00  # <-
        end = 2026-12-06T04:00:00Z
        """, "field 'start': 2026-12-06T02:00:00 needs an offset"),
    ("window_string_without_offset", """
        [[maintenance]]
        id = "w"
        start = "2026-12-06T02:00:00Z"
        end = "2026-12-06T04:00:00"  # <-
        """, "field 'end': 2026-12-06T04:00:00 needs an offset"),
    ("window_date_only", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06  # <-
        end = 2026-12-06T04:00:00Z
        """, "field 'start': expected a date-time with an offset, got a date"),
    ("window_garbage_time", """
        [[maintenance]]
        id = "w"
        start = "next sunday"  # <-
        end = 2026-12-06T04:00:00Z
        """, "field 'start': 'next sunday' is not an RFC 3339 time"),
    ("window_end_before_start", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T04:00:00+01:00
        end = 2026-12-06T03:00:00Z  # <-
        """, "field 'end': 2026-12-06T03:00:00+00:00 is not after start"),
    ("window_start_without_end", """
        [[maintenance]]  # <-
        id = "w"
        start = 2026-12-06T02:00:00Z
        """, "a one-off window needs 'end' with 'start'"),
    ("window_rrule_without_duration", """
        [[maintenance]]  # <-
        id = "w"
        rrule = "FREQ=WEEKLY"
        """, "a recurring window needs 'duration' with 'rrule'"),
    ("window_start_and_rrule", """
        [[maintenance]]  # <-
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        rrule = "FREQ=WEEKLY"
        duration = "1h"
        """, "give either start and end (one window) or rrule and duration"),
    ("window_neither_start_nor_rrule", """
        [[maintenance]]  # <-
        id = "w"
        reason = "?"
        """, "needs start and end (one window) or rrule and duration"),
    ("window_malformed_rrule", """
        [[maintenance]]
        id = "w"
        rrule = "FREQ=WEEKLY;BYDAY=XX"  # <-
        duration = "1h"
        """, "field 'rrule': malformed rrule: invalid 'BYDAY'"),
    ("window_rrule_bad_hour", """
        [[maintenance]]
        id = "w"
        rrule = "FREQ=DAILY;BYHOUR=25"  # <-
        duration = "1h"
        """, "field 'rrule': malformed rrule"),
    ("window_rrule_floating_until", """
        [[maintenance]]
        id = "w"
        rrule = "FREQ=DAILY;UNTIL=20270101T000000"  # <-
        duration = "1h"
        """, "field 'rrule': malformed rrule: RRULE UNTIL values must be specified in UTC"),
    ("window_rrule_with_dtstart", """
        [[maintenance]]
        id = "w"
        rrule = "DTSTART:20260101T000000Z\\nRRULE:FREQ=DAILY"  # <-
        duration = "1h"
        """, "put the first start in dtstart"),
    ("window_rrule_not_a_string", """
        [[maintenance]]
        id = "w"
        rrule = 7  # <-
        duration = "1h"
        """, "field 'rrule': expected a string"),
    ("window_duration_zero", """
        [[maintenance]]
        id = "w"
        rrule = "FREQ=DAILY"
        duration = "0s"  # <-
        """, "field 'duration': must be longer than zero"),
    ("window_dtstart_without_offset", """
        [[maintenance]]
        id = "w"
        rrule = "FREQ=DAILY"
        duration = "1h"
        dtstart = 2026-01-01T00:00:00  # <-
        """, "field 'dtstart': 2026-01-01T00:00:00 needs an offset"),
    ("window_dtstart_on_one_off", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        dtstart = 2026-01-01T00:00:00Z  # <-
        """, "field 'dtstart': only applies to a recurring window"),
    ("window_unknown_timezone", """
        [[maintenance]]
        id = "w"
        rrule = "FREQ=DAILY"
        duration = "1h"
        timezone = "CET+1"  # <-
        """, "field 'timezone': unknown time zone 'CET+1'"),
    ("window_unknown_category", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        category = "customers"  # <-
        """, "field 'category': 'customers' is not one of maintenance, customer, third-party"),
    ("window_ticket_number", """
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        ticket = 1234  # <-
        """, "field 'ticket': expected a string, got the number 1234"),
]


@pytest.mark.parametrize(("text", "phrase"), [pytest.param(t, p, id=n) for n, t, p in CASES])
def test_each_mistake_is_reported_once_at_its_line(in_tmp: Path, text: str, phrase: str) -> None:
    found = problems(in_tmp, text)
    assert len(found) == 1, found
    assert found[0].startswith(f"probes.toml:{marked_line(text)}: "), found[0]
    assert phrase in found[0], found[0]


def test_unknown_key_is_reported_with_its_line(in_tmp: Path) -> None:
    found = problems(in_tmp, """
        [agent]
        name = "fra1"

        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        intervall = "30s"
        """)
    assert found == [
        "probes.toml:8: probe 'web': unknown key 'intervall' (did you mean 'interval'?)"
    ]


def test_toml_syntax_error_names_its_line(in_tmp: Path) -> None:
    found = problems(in_tmp, """
        [agent]
        name = "fra1"
        interval = 30s
        """)
    assert len(found) == 1
    assert found[0].startswith("probes.toml:3: TOML syntax error: ")


def test_toml_syntax_error_at_end_of_file_names_the_last_line(in_tmp: Path) -> None:
    found = problems(in_tmp, '[agent]\nname = "x')
    assert found[0].startswith("probes.toml:2: TOML syntax error: ")


def test_several_problems_are_all_reported_in_line_order(in_tmp: Path) -> None:
    found = problems(in_tmp, """
        [agent]
        timezone = "Nowhere/Land"
        [sla.gold]
        objective = 101
        [clients.acme]
        sla = "silver"
        [[probes]]
        id = "web"
        kind = "http"
        url = "ftp://x"
        client = "acme"
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 99999
        [[maintenance]]
        id = "w"
        probes = ["dbb"]
        start = 2026-12-06T02:00:00
        end = 2026-12-06T04:00:00Z
        """)
    lines = [int(message.split(":")[1]) for message in found]
    assert lines == [2, 4, 6, 10, 16, 19, 20]
    assert "did you mean 'db'?" in found[5]


def test_problems_without_a_line_name_the_probe_and_field() -> None:
    report = Report("probes.toml", LineMap())
    report.add(("probes", 0, "url"), "probe 'web' field 'url': has no host")
    assert report.messages() == ["probes.toml: probe 'web' field 'url': has no host"]


# ---------------------------------------------------------------------------
# Values, defaults and paths


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0),
    ("1m30s", 90.0),
])
def test_durations_parse_to_seconds(in_tmp: Path, text: str, seconds: float) -> None:
    config = load(in_tmp, f"""
        [[probes]]
        id = "web"
        kind = "http"
        url = "http://127.0.0.1/"
        max_latency = "{text}"
        """)
    assert config.probes["web"].max_latency == seconds


def test_agent_defaults_flow_into_probes(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [agent]
        interval = "1m"
        timeout = "500ms"
        [[probes]]
        id = "gw"
        kind = "icmp"
        host = "127.0.0.1"
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 5432
        interval = "10s"
        timeout = "2s"
        """)
    gw, db = config.probes["gw"], config.probes["db"]
    assert (gw.interval, gw.timeout) == (60.0, 0.5)
    assert (db.interval, db.timeout) == (10.0, 2.0)
    assert (gw.retries, gw.confirm, gw.count, gw.max_loss) == (0, 1, 3, 0.0)


def test_defaults_without_an_agent_table(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        """)
    web = config.probes["web"]
    assert config.agent.name == socket.gethostname()
    assert config.agent.timezone == "UTC"
    assert (config.agent.interval, config.agent.timeout) == (30.0, 10.0)
    assert config.agent.keep_raw == 90 * 86400.0
    assert config.agent.metrics is None and config.agent.quorum is None
    assert (web.method, web.expect_status, web.verify_tls, web.follow_redirects) == (
        "GET", (), True, False)
    assert web.cert_expiry_warn_days == 14 and web.client is None


def test_database_path_is_relative_to_the_config_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    write(folder, '[agent]\ndatabase = "data/checks.db"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/probes.toml"), environ={})
    assert config.agent.database == tmp_path / "etc" / "data" / "checks.db"
    assert config.agent.database.is_absolute()


def test_database_defaults_beside_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[agent]\n"), environ={})
    assert config.agent.database == tmp_path / "slaprobe.db"


def test_absolute_database_path_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "var" / "x.db"
    config = load_config(write(tmp_path, f'[agent]\ndatabase = "{target}"\n'), environ={})
    assert config.agent.database == target


def test_sla_and_windows_default_to_the_agent_timezone(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [agent]
        timezone = "Europe/Berlin"
        [sla.gold]
        objective = 99.9
        hours = "Mon-Fri 09:00-17:00"
        [[maintenance]]
        id = "w"
        rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=4"
        duration = "2h"
        """)
    assert config.slas["gold"].timezone == "Europe/Berlin"
    assert config.maintenance[0].timezone == "Europe/Berlin"
    assert config.maintenance[0].duration == 7200.0


def test_credits_are_stored_highest_below_first(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [sla.gold]
        objective = 99.9
        credits = [
          { below = 95, percent = 100 },
          { below = 99.9, percent = 10 },
          { below = 99.0, percent = 25 },
        ]
        """)
    assert config.slas["gold"].credits == (
        CreditTier(99.9, 10.0), CreditTier(99.0, 25.0), CreditTier(95.0, 100.0))


def test_clients_link_probes_to_their_sla(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [sla.gold]
        objective = 99.95
        [clients.acme]
        name = "ACME Corp"
        sla = "gold"
        [clients.other]
        [[probes]]
        id = "gw"
        client = "acme"
        kind = "icmp"
        host = "::1"
        """)
    assert config.clients["acme"].name == "ACME Corp"
    assert config.clients["other"].name == "other" and config.clients["other"].sla is None
    assert config.sla_for_probe(config.probes["gw"]).objective == 99.95


def test_probe_and_window_lines_are_their_headers(in_tmp: Path) -> None:
    config = load(in_tmp, """
        # comment
        [[probes]]
        id = "a"
        kind = "icmp"
        host = "127.0.0.1"

        [[probes]]
        id = "b"
        kind = "icmp"
        host = "127.0.0.1"
        [[maintenance]]
        id = "w"
        start = 2026-12-06T02:00:00Z
        end = 2026-12-06T04:00:00Z
        """)
    assert [p.line for p in config.probes.values()] == [2, 7]
    assert config.maintenance[0].line == 11


def test_windows_accept_toml_and_rfc3339_times(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [[maintenance]]
        id = "toml"
        start = 2026-11-29T02:00:00+01:00
        end = 2026-11-29T04:00:00+01:00
        [[maintenance]]
        id = "text"
        start = "2026-11-29T01:00:00Z"
        end = "2026-11-29T03:00:00+00:00"
        category = "third-party"
        reason = "provider upgrade"
        ticket = "OPS-1"
        """)
    toml, text = config.maintenance
    assert toml.start == text.start and toml.end == text.end
    assert toml.start.utcoffset() == timedelta(hours=1)
    assert (text.category, text.reason, text.ticket) == ("third-party", "provider upgrade",
                                                         "OPS-1")


def test_recurring_window_keeps_rule_and_dtstart(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1/"
        [[maintenance]]
        id = "patch"
        probes = ["web"]
        rrule = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=4;BYMINUTE=0;UNTIL=20271231T000000Z"
        duration = "2h"
        timezone = "Europe/Berlin"
        dtstart = "2026-01-01T00:00:00+01:00"
        """)
    window = config.maintenance[0]
    assert window.probes == ("web",) and window.clients == ()
    assert window.rrule.startswith("FREQ=WEEKLY")
    assert window.dtstart == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert window.category == "maintenance"


def test_later_tables_are_kept_unvalidated_in_extra(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [central]
        dsn = "postgresql://db/slaprobe"
        [cluster]
        location = "fra1"
        members = ["a", "b"]
        [[alerts]]
        kind = "webhook"
        url = "http://127.0.0.1:9/hook"
        """)
    assert config.extra == {"central": {"dsn": "postgresql://db/slaprobe"},
                            "cluster": {"location": "fra1", "members": ["a", "b"]},
                            "alerts": [{"kind": "webhook", "url": "http://127.0.0.1:9/hook"}]}
    assert [route.kind for route in config.alerts] == ["webhook"]  # validated: test_alerts.py
    # validated too: test_cluster.py
    assert config.central is not None and config.central.dsn == "postgresql://db/slaprobe"
    assert config.cluster is not None and config.cluster.members == ("a", "b")


def test_http_probe_keeps_all_its_options(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [[probes]]
        id = "web"
        kind = "http"
        url = "https://127.0.0.1:8443/health"
        method = "head"
        headers = { "User-Agent" = "slaprobe" }
        expect_status = [200, 204]
        body_contains = "ok"
        verify_tls = false
        follow_redirects = true
        cert_expiry_warn_days = 0
        retries = 2
        confirm = 3
        """)
    web = config.probes["web"]
    assert web.method == "HEAD" and web.headers == (("User-Agent", "slaprobe"),)
    assert web.expect_status == (200, 204) and web.body_contains == "ok"
    assert (web.verify_tls, web.follow_redirects, web.cert_expiry_warn_days) == (False, True, 0)
    assert (web.retries, web.confirm) == (2, 3)


def test_a_timeout_that_can_outlast_the_interval_is_a_warning(in_tmp: Path) -> None:
    config = load(in_tmp, """
        [[probes]]
        id = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = 5432
        interval = "10s"
        timeout = "5s"
        retries = 2
        """)
    assert config.warnings == (
        "probes.toml:1: probe 'db': 3 attempt(s) of 5s can outlast the interval of 10s",)


def test_parse_config_is_the_same_without_a_file(tmp_path: Path) -> None:
    config = parse_config('[agent]\nname = "x"\n', tmp_path / "probes.toml", environ={})
    assert config.agent.name == "x" and config.agent.database == tmp_path / "slaprobe.db"


# ---------------------------------------------------------------------------
# Secrets


SECRET_PROBE = """
    [[probes]]
    id = "api"
    kind = "http"
    url = "https://127.0.0.1/"
    headers = { Authorization = { env = "API_TOKEN" }, "X-Plain" = "visible" }
    """


def test_env_var_header_secret_is_read(in_tmp: Path) -> None:
    config = load(in_tmp, SECRET_PROBE, environ={"API_TOKEN": "Bearer s3cr3t"})
    assert config.probes["api"].headers == (("Authorization", "Bearer s3cr3t"),
                                            ("X-Plain", "visible"))
    assert config.warnings == ()


def test_missing_env_var_secret_is_an_error_that_leaks_no_values(in_tmp: Path) -> None:
    environ = {"API_TOKENS": "Bearer s3cr3t", "OTHER": "hunter2"}
    found = problems(in_tmp, SECRET_PROBE + 'port = 1\n', environ=environ)
    assert found[0] == ("probes.toml:5: probe 'api' field 'headers': header 'Authorization': "
                        "environment variable API_TOKEN is not set")
    text = "\n".join(found)
    assert "s3cr3t" not in text and "hunter2" not in text and "visible" not in text


def test_bad_secret_values_are_errors_that_leak_no_values(in_tmp: Path) -> None:
    found = problems(in_tmp, SECRET_PROBE, environ={"API_TOKEN": "Bearer s3cr3t\nX-Evil: 1"})
    assert found == ["probes.toml:5: probe 'api' field 'headers': header 'Authorization': "
                     "the value holds a line break or NUL"]
    found = problems(in_tmp, SECRET_PROBE, environ={"API_TOKEN": ""})
    assert found[0].endswith("environment variable API_TOKEN is empty")


def test_file_header_secret_is_read_relative_to_the_config(in_tmp: Path) -> None:
    (in_tmp / "token").write_text("Bearer from-file\n", encoding="utf-8")
    config = load(in_tmp, """
        [[probes]]
        id = "api"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = { Authorization = { file = "token" } }
        """)
    assert config.probes["api"].headers == (("Authorization", "Bearer from-file"),)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_world_readable_file_with_inline_credentials_is_warned_about(in_tmp: Path) -> None:
    text = """
        [[probes]]
        id = "api"
        kind = "http"
        url = "https://127.0.0.1/"
        headers = { Authorization = "Bearer inline" }
        """
    path = write(in_tmp, text)
    path.chmod(0o644)
    warned = load_config(Path("probes.toml"), environ={})
    assert warned.warnings == (
        "probes.toml: readable by other users and contains secrets; chmod 600 it",)
    path.chmod(0o600)
    assert load_config(Path("probes.toml"), environ={}).warnings == ()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_password_in_url_counts_as_an_inline_credential(in_tmp: Path) -> None:
    path = write(in_tmp, """
        [[probes]]
        id = "api"
        kind = "http"
        url = "https://user:pw@127.0.0.1/"
        """)
    path.chmod(0o640)
    assert "chmod 600" in load_config(Path("probes.toml"), environ={}).warnings[0]


# ---------------------------------------------------------------------------
# Finding and reading the file


def test_config_flag_wins_over_environment(tmp_path: Path) -> None:
    flag = write(tmp_path, "", "flag.toml")
    env = write(tmp_path, "", "env.toml")
    assert find_config_path(str(flag), {"SLAPROBE_CONFIG": str(env)}) == flag
    assert find_config_path(None, {"SLAPROBE_CONFIG": str(env)}) == env


def test_config_is_found_in_the_current_folder_then_etc(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = write(in_tmp, "", "etc.toml")
    monkeypatch.setattr(config_module, "DEFAULT_LOCATIONS", ("probes.toml", str(etc)))
    assert find_config_path(None, {}) == etc
    write(in_tmp, "")
    assert find_config_path(None, {}) == Path("probes.toml")


def test_missing_config_lists_what_was_tried(in_tmp: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_LOCATIONS", ("probes.toml", "/nonexistent/p.toml"))
    with pytest.raises(ConfigError) as caught:
        find_config_path(None, {})
    assert caught.value.problems == [
        "probes.toml: no configuration file found (tried probes.toml, /nonexistent/p.toml)"]
    with pytest.raises(ConfigError, match="^typo.toml: no configuration file found"):
        find_config_path("typo.toml", {})


def test_unreadable_config_names_the_path(in_tmp: Path) -> None:
    (in_tmp / "probes.toml").mkdir()
    with pytest.raises(ConfigError, match="^probes.toml: cannot read the configuration"):
        load_config(Path("probes.toml"))


def test_non_utf8_config_is_an_error(in_tmp: Path) -> None:
    (in_tmp / "probes.toml").write_bytes(b'[agent]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="^probes.toml: not UTF-8"):
        load_config(Path("probes.toml"))


# ---------------------------------------------------------------------------
# Business hours


@pytest.mark.parametrize(("text", "spans"), [
    ("24x7", ()),
    (" 24X7 ", ()),
    ("Mon-Fri 09:00-17:00", tuple((d, 540, 1020) for d in range(5))),
    ("Mon,Wed 08:00-18:00", ((0, 480, 1080), (2, 480, 1080))),
    ("Sat-Sun 00:00-24:00", ((5, 0, 1440), (6, 0, 1440))),
    ("Fri-Mon 10:00-11:00", ((0, 600, 660), (4, 600, 660), (5, 600, 660), (6, 600, 660))),
    ("Mon 08:00-12:00,13:00-17:00", ((0, 480, 720), (0, 780, 1020))),
    ("Mon 08:00-12:00; mon 11:00-13:00; Tuesday 9:00-10:00", ((0, 480, 780), (1, 540, 600))),
])
def test_parse_hours_reads_days_and_ranges(text: str, spans: tuple) -> None:
    assert parse_hours(text) == spans


@pytest.mark.parametrize(("text", "phrase"), [
    ("", "empty hours"),
    ("Mon-Fri", "needs days and times"),
    ("Mon-Fry 09:00-17:00", "unknown day 'Fry'"),
    ("Mo 09:00-17:00", "unknown day 'Mo'"),
    ("Mon 9-17", "is not a time range"),
    ("Mon 09:00-25:00", "is not a valid time of day"),
    ("Mon 24:00-24:00", "is not a valid time of day"),
    ("Mon 09:60-10:00", "is not a valid time of day"),
    ("Mon 22:00-06:00", "ends before it starts"),
    ("Mon 10:00-10:00", "ends before it starts"),
])
def test_parse_hours_explains_mistakes(text: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        parse_hours(text)


# ---------------------------------------------------------------------------
# Line finding


def test_line_map_follows_strings_arrays_and_sub_tables() -> None:
    text = textwrap.dedent('''
        title = """
        [not_a_table]
        key = "inside a string"
        """
        [agent]  # 5
        "quoted key" = 'x'
        dotted.key = 1
        [[probes]]
        id = "a"
        [[probes]]  # 10
        headers = { A = "1", 'B' = { env = "X" } }
        list = [
          1,  # 13
          [2, 3],
          { x = 1 },  # 15
        ]
        [probes.extra]  # 17
        y = 2
        [sla."gold.plus"]
        objective = 1  # 20
    ''').lstrip("\n")
    lines = LineMap.scan(text)
    assert lines.line_of(("not_a_table",)) is None
    assert lines.line_of(("title",)) == 1
    assert lines.line_of(("agent",)) == 5
    assert lines.line_of(("agent", "quoted key")) == 6
    assert lines.line_of(("agent", "dotted", "key")) == 7
    assert lines.line_of(("probes", 0)) == 8
    assert lines.line_of(("probes", 1)) == 10
    assert lines.line_of(("probes", 1, "headers", "B", "env")) == 11
    assert lines.line_of(("probes", 1, "list", 0)) == 13
    assert lines.line_of(("probes", 1, "list", 2, "x")) == 15
    assert lines.line_of(("probes", 1, "extra", "y")) == 18
    assert lines.line_of(("probes", 1, "nothing", "here")) == 10
    assert lines.line_of(("sla", "gold.plus", "objective")) == 20


@pytest.mark.parametrize(("value", "ok"), [
    ("127.0.0.1:9464", True), (":9464", True), ("9464", True), ("[::1]:9464", True),
    ("localhost", False), ("127.0.0.1:0", False), ("::1:9464", False),
])
def test_metrics_listen_address_is_checked_by_the_servers_own_parser(tmp_path, value, ok):
    path = tmp_path / "probes.toml"
    path.write_text(f'[agent]\nmetrics = "{value}"\n')
    if ok:
        assert load_config(path).agent.metrics == value
    else:
        with pytest.raises(ConfigError) as e:
            load_config(path)
        assert "probes.toml:2:" in str(e.value)
