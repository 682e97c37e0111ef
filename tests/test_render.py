"""Renderers: golden text for every form, floored availability, hostile names made harmless.

Goldens live in tests/golden/; after an intended change, rewrite them with

    UPDATE_GOLDEN=1 python -m pytest tests/test_render.py

and read the diff before committing it.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slaprobe import render
from slaprobe.render import (
    floor3,
    fmt_latency,
    fmt_number,
    fmt_when,
    json_entry,
    render_check_results,
    render_incidents,
    render_report,
    spliced_report_json,
)
from slaprobe.sanitize import BIDI_CONTROLS

GOLDEN = Path(__file__).parent / "golden"
REPORT_FORMATS = ["table", "json", "csv", "md", "html"]
INCIDENT_FORMATS = ["table", "json", "csv", "md"]
MONTH = 30 * 86400  # November 2026 in Europe/Berlin has no DST change


def make_report() -> dict[str, Any]:
    """November 2026 for two clients and three probes, in the shape of SPEC 6.

    acme-web: gold, missed (budget left -217.74 s), one incident half in
    maintenance and one not; globex-api: silver, business hours, nothing
    measured (availability null); lab-ping: no client, no SLA, an incident
    still ongoing at the end of the period. The first acme-web incident starts
    inside window m1 and overruns it by 5 minutes; window night-fw (third
    party, retroactive) lies outside globex's business hours.
    """
    web_up, web_down = 2_585_054.4, 2_805.6
    web_incidents = [
        {"start": "2026-11-03T10:00:00+00:00", "end": "2026-11-03T10:10:00+00:00",
         "seconds": 600.0, "maintenance_seconds": 300.0, "overrun_seconds": 300.0,
         "error_kinds": ["timeout"]},
        {"start": "2026-11-17T22:14:05.500000+00:00", "end": "2026-11-17T22:55:51.100000+00:00",
         "seconds": 2505.6, "maintenance_seconds": 0.0, "overrun_seconds": 0.0,
         "error_kinds": ["status", "tls"]},
    ]
    web = {
        "sla": "gold", "objective": 99.9,
        "availability": web_up / (web_up + web_down) * 100, "met": False,
        "coverage": (web_up + web_down) / (MONTH - 600),
        "up_seconds": web_up, "down_seconds": web_down, "unknown_seconds": 3540.0,
        "maintenance_seconds": 600.0, "outside_hours_seconds": 0.0,
        "error_budget_seconds": 2587.86, "budget_left_seconds": -217.74,
        "credit_percent": 10.0, "incidents": web_incidents,
        "excluded_seconds": {"maintenance": 600.0},
        "kpis": {"incidents": 2, "mttr_seconds": 1552.8, "mtbf_seconds": web_up / 2,
                 "longest_incident_seconds": 2505.6},
        "latency_objective": {"threshold_ms": 500.0, "objective": 99.0, "attained": 98.7125,
                              "met": False},
        "apdex": {"score": 0.9394, "t_ms": 500.0},
    }
    globex = {
        "sla": "silver", "objective": 99.5, "availability": None, "met": None,
        "coverage": 0.0, "up_seconds": 0.0, "down_seconds": 0.0, "unknown_seconds": 576_000.0,
        "maintenance_seconds": 0.0, "outside_hours_seconds": 2_016_000.0,
        "error_budget_seconds": 0.0, "budget_left_seconds": 0.0, "credit_percent": None,
        "incidents": [], "excluded_seconds": {},
        "kpis": {"incidents": 0, "mttr_seconds": None, "mtbf_seconds": None,
                 "longest_incident_seconds": None},
        "latency_objective": {"threshold_ms": 1500.0, "objective": 95.0, "attained": None,
                              "met": None},
        "apdex": {"score": None, "t_ms": 1500.0},
    }
    lab_down = 1200.0
    return {
        "period": {"start": "2026-11-01T00:00:00+01:00", "end": "2026-12-01T00:00:00+01:00",
                   "partial": False, "timezone": "Europe/Berlin"},
        "generated_at": "2026-12-01T00:05:12.345678+01:00",
        "probes": [
            {"id": "acme-web", "client": "acme", "client_name": "ACME Corp", **web,
             "latency_ms": {"p50": 41.2, "p95": 118.75, "p99": 1834.0}},
            {"id": "globex-api", "client": "globex", "client_name": "Globex Industries",
             **globex, "latency_ms": {"p50": None, "p95": None, "p99": None}},
            {"id": "lab-ping", "client": None, "client_name": None, "sla": None,
             "objective": None, "availability": (MONTH - lab_down) / MONTH * 100, "met": None,
             "coverage": 1.0, "up_seconds": MONTH - lab_down, "down_seconds": lab_down,
             "unknown_seconds": 0.0, "maintenance_seconds": 0.0, "outside_hours_seconds": 0.0,
             "error_budget_seconds": None, "budget_left_seconds": None, "credit_percent": None,
             "incidents": [{"start": "2026-11-30T22:40:00+00:00", "end": None,
                            "seconds": lab_down, "maintenance_seconds": 0.0,
                            "overrun_seconds": 0.0, "error_kinds": ["loss"]}],
             "latency_ms": {"p50": 0.412, "p95": 0.9, "p99": 3.07},
             "excluded_seconds": {},
             "kpis": {"incidents": 1, "mttr_seconds": lab_down,
                      "mtbf_seconds": MONTH - lab_down, "longest_incident_seconds": lab_down},
             "latency_objective": None, "apdex": {"score": 0.998, "t_ms": 500.0}},
        ],
        "clients": [
            {"id": "acme", "name": "ACME Corp", "probes": ["acme-web"], **web},
            {"id": "globex", "name": "Globex Industries", "probes": ["globex-api"], **globex},
        ],
        "windows": [
            {"id": "m1", "category": "maintenance", "reason": "database upgrade",
             "ticket": "CHG-1042", "start": "2026-11-03T09:55:00+00:00",
             "end": "2026-11-03T10:05:00+00:00", "seconds": 600.0, "probes": ["acme-web"],
             "retroactive": False, "first_seen": "2026-10-28T16:02:11.250000+01:00",
             "excluded_down_seconds": 300.0},
            {"id": "night-fw", "category": "third-party", "reason": "carrier firewall swap",
             "ticket": None, "start": "2026-11-12T01:00:00+01:00",
             "end": "2026-11-12T03:00:00+01:00", "seconds": 7200.0, "probes": ["globex-api"],
             "retroactive": True, "first_seen": "2026-11-20T09:30:00+01:00",
             "excluded_down_seconds": 0.0},
        ],
    }


INCIDENT_ROWS: list[dict[str, Any]] = [
    {"probe": "acme-web", "client": "acme", "client_name": "ACME Corp",
     "start": "2026-11-03T10:00:00+00:00", "end": "2026-11-03T10:10:00+00:00",
     "seconds": 600.0, "maintenance_seconds": 300.0, "overrun_seconds": 300.0,
     "error_kinds": ["timeout"]},
    {"probe": "lab-ping", "client": None, "client_name": None,
     "start": "2026-11-30T22:40:00+00:00", "end": None,
     "seconds": 1200.0, "maintenance_seconds": 0.0, "overrun_seconds": 0.0,
     "error_kinds": ["loss", "dns"]},
]

CHECK_ROWS: list[dict[str, Any]] = [
    {"probe": "acme-web", "client_name": "ACME Corp", "kind": "http", "ok": True,
     "latency_ms": 12.34, "error": None},
    {"probe": "acme-db", "client_name": "ACME Corp", "kind": "tcp", "ok": False,
     "latency_ms": None, "error": "connect to db.acme.example:5432 refused (ECONNREFUSED)"},
    {"probe": "lab-ping", "client_name": None, "kind": "icmp", "ok": True,
     "latency_ms": 1523.0, "error": None},
]

_EXT = {"table": "txt", "json": "json", "csv": "csv", "md": "md", "html": "html"}


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME, or write it when UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        return
    assert path.exists(), f"missing golden {path}; run with UPDATE_GOLDEN=1"
    with open(path, encoding="utf-8", newline="") as f:
        assert text == f.read()


# ---------------------------------------------------------------- goldens


@pytest.mark.parametrize(
    "name, fmt, width",
    [
        ("report-100.txt", "table", 100),
        ("report-80.txt", "table", 80),
        ("report-160.txt", "table", 160),
        ("report.json", "json", 100),
        ("report.csv", "csv", 100),
        ("report.md", "md", 100),
        ("report.html", "html", 100),
    ],
)
def test_report_matches_golden(name: str, fmt: str, width: int) -> None:
    check_golden(name, render_report(make_report(), fmt, width=width))


@pytest.mark.parametrize("fmt", INCIDENT_FORMATS)
def test_incidents_match_golden(fmt: str) -> None:
    text = render_incidents(INCIDENT_ROWS, fmt, width=80, timezone="Europe/Berlin")
    check_golden(f"incidents.{_EXT[fmt]}", text)


def test_check_results_match_golden() -> None:
    check_golden("checks.txt", render_check_results(CHECK_ROWS, width=80))


# ---------------------------------------------------------------- figures for people


@pytest.mark.parametrize(
    "value, text",
    [
        (99.9996, "99.999"),
        (100.0, "100.000"),
        (99.9, "99.900"),
        (99.63530269, "99.635"),
        (81960 / 82260 * 100, "99.635"),  # SPEC 5's worked example
        (99.89999999999999, "99.900"),  # 99.9 one ulp low: float error, not a miss
        (99.99999999999999, "99.999"),  # a hair under 100 never reads 100.000
        (99.9995, "99.999"),
        (0.0, "0.000"),
        (12.5, "12.500"),
        (None, "\u2014"),
        (float("nan"), "\u2014"),
    ],
)
def test_floor3(value: float | None, text: str) -> None:
    assert floor3(value) == text


@given(st.floats(min_value=0, max_value=100))
def test_floor3_never_rounds_up(x: float) -> None:
    shown = float(floor3(x))
    assert shown <= x + 1e-9
    assert x - shown < 0.001 + 1e-9
    assert (floor3(x) == "100.000") == (x == 100)


@pytest.mark.parametrize(
    "ms, text",
    [(12.34, "12.3 ms"), (0.412, "0.4 ms"), (999.94, "999.9 ms"), (999.96, "1.00 s"),
     (1523.0, "1.52 s"), (None, "\u2014")],
)
def test_fmt_latency(ms: float | None, text: str) -> None:
    assert fmt_latency(ms) == text


@pytest.mark.parametrize("x, text", [(99.9, "99.9"), (10.0, "10"), (99.95, "99.95"),
                                     (0, "0"), (None, "\u2014")])
def test_fmt_number(x: float | None, text: str) -> None:
    assert fmt_number(x) == text


def test_times_are_shown_in_the_report_zone_across_dst() -> None:
    assert fmt_when("2026-07-01T10:00:00+00:00", "Europe/Berlin") == "2026-07-01 12:00:00 CEST"
    assert fmt_when("2026-11-01T10:00:00Z", "Europe/Berlin") == "2026-11-01 11:00:00 CET"
    assert fmt_when("2026-11-01T10:00:00.9+02:00") == "2026-11-01 10:00:00+02:00"
    assert fmt_when("2026-11-01T10:00:00+00:00", "No/Such_Zone") == "2026-11-01 10:00:00+00:00"
    assert fmt_when("yesterday\x1b[2J") == "yesterday"


# ---------------------------------------------------------------- forms


def test_json_is_the_input_unrounded() -> None:
    report = make_report()
    text = render_report(report, "json")
    assert json.loads(text) == report
    assert text.endswith("}\n")
    assert "99.89158609816606" in text


def test_json_refuses_nan() -> None:
    report = make_report()
    report["probes"][0]["availability"] = float("nan")
    with pytest.raises(ValueError):
        render_report(report, "json")


@pytest.mark.parametrize("name", ['x\n  "probes": []', "\u2028\u202e\x7f", '"clients": [\n]'])
def test_json_written_entry_by_entry_is_the_whole_reports_json(name: str) -> None:
    # Report workers write their own entries and the parent splices them: a name that
    # looks like the splice point, or needs escaping, must not move a byte.
    report = hostile_report(name)
    head = {**report, "probes": [], "clients": []}
    entries = {key: [json_entry(e) for e in report[key]] for key in ("probes", "clients")}
    assert spliced_report_json(head, entries) == render_report(report, "json")


_JSON_SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30)
                 | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(_JSON_VALUES)
def test_json_is_what_json_dumps_writes_for_any_json_value(value: Any) -> None:
    want = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    want = "".join(f"\\u{ord(c):04x}" if render._JSON_UNSAFE.match(c) else c for c in want)
    assert render._json(value) == want + "\n"


@pytest.mark.parametrize("value", [{1: "a", None: [2]}, {"k": {True: 1.5}}])
def test_json_keys_that_are_not_strings_are_written_as_json_writes_them(value: Any) -> None:
    assert render._json(value) == json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(("value", "error"), [
    ({"a": [float("inf")]}, ValueError), ({"a": float("nan")}, ValueError),
    ({"a": object()}, TypeError), ([{1, 2}], TypeError),
])
def test_json_refuses_what_json_refuses(value: Any, error: type) -> None:
    with pytest.raises(error):
        render._json(value)


def test_json_of_a_report_without_entries_splices_nothing() -> None:
    head = {**make_report(), "probes": [], "clients": []}
    assert spliced_report_json(head, {"probes": [], "clients": []}) == render_report(head, "json")


def test_csv_rows_and_numbers() -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(make_report(), "csv"))))
    assert [(r["type"], r["id"]) for r in rows] == [
        ("client", "acme"), ("client", "globex"),
        ("probe", "acme-web"), ("probe", "globex-api"), ("probe", "lab-ping"),
        ("window", "m1"), ("window", "night-fw"),
    ]
    web = rows[2]
    assert web["client"] == "ACME Corp"
    assert web["availability"] == "99.891"
    assert web["budget_left_seconds"] == "-217.74"
    assert web["down_seconds"] == "2805.6"
    assert web["downtime"] == "46m 46s"
    assert web["met"] == "no"
    assert web["incidents"] == "2"
    assert rows[3]["availability"] == ""  # nothing measured
    assert rows[4]["sla"] == rows[4]["client"] == ""  # no client, no SLA


def test_markdown_and_html_show_ongoing_and_maintenance_part() -> None:
    for fmt in ("md", "html"):
        text = render_report(make_report(), fmt)
        assert "ongoing" in text
        assert "5m 00s" in text  # half of the first incident lay in maintenance


def test_missed_objective_is_marked_by_text_and_class_in_html() -> None:
    page = render_report(make_report(), "html")
    row = next(line for line in page.splitlines() if "<td>acme-web</td>" in line)
    assert row.startswith('<tr class="missed">')
    assert '<td class="met">NO</td>' in row
    for external in ("<script", "<link", "src=", "url(", "://"):  # self-contained
        assert external not in page.lower(), external


def test_partial_period_is_said_in_every_human_form() -> None:
    report = make_report()
    report["period"]["partial"] = True
    for fmt in ("table", "md", "html"):
        assert "partial" in render_report(report, fmt).lower()


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render_report(make_report(), "xlsx")
    with pytest.raises(ValueError, match="unknown incidents format"):
        render_incidents([], "html")


def test_no_incidents() -> None:
    assert render_incidents([], "json") == "[]\n"
    assert "No incidents" in render_incidents([], "table")
    assert "No incidents" in render_incidents([], "md")
    assert render_incidents([], "csv").count("\n") == 1  # the header only


def test_table_prints_client_names_not_ids() -> None:
    text = render_report(make_report(), "table", width=160)
    assert "ACME Corp" in text and "Globex Industries" in text
    assert "acme " not in text and "globex " not in text


def test_color_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" not in render_report(make_report(), "table")
    assert "\x1b[31m" in render_report(make_report(), "table", color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[31m" not in render_report(make_report(), "table", color=True)


# ---------------------------------------------------------------- hostile text

SCRIPT = "<script>alert(1)</script>"
TERMINAL = "\x1b[31mred\x1b]0;title\x07 \u202eevil\u2066 \x9b2J\x00"
FORMULAS = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\t=1+1", " =1+1"]


def hostile_report(name: str) -> dict[str, Any]:
    """The fixture with `name` wherever a person or a server chose the text."""
    report = make_report()
    report["clients"][0]["name"] = name
    report["clients"][1]["sla"] = name
    web = report["probes"][0]
    web["client_name"] = name
    web["incidents"][0]["error_kinds"] = [name]
    report["probes"][2]["id"] = name
    report["windows"][0]["reason"] = name
    report["windows"][1]["ticket"] = name
    return report


def all_forms(report: dict[str, Any], width: int = 100) -> dict[str, str]:
    forms = {fmt: render_report(report, fmt, width=width) for fmt in REPORT_FORMATS}
    forms["table-color"] = render_report(report, "table", width=width, color=True)
    rows = copy.deepcopy(INCIDENT_ROWS)
    rows[0]["client_name"] = report["clients"][0]["name"]
    for fmt in INCIDENT_FORMATS:
        forms[f"incidents-{fmt}"] = render_incidents(rows, fmt, width=width)
    forms["checks"] = render_check_results(
        [{**CHECK_ROWS[1], "client_name": report["clients"][0]["name"],
          "error": report["clients"][0]["name"]}], width=width)
    return forms


def test_script_in_a_client_name_is_escaped_in_html_and_markdown() -> None:
    forms = all_forms(hostile_report(SCRIPT))
    for key in ("html", "md", "incidents-md"):
        assert "<script" not in forms[key], key
        assert "&lt;script&gt;" in forms[key], key


def test_html_escapes_quotes_in_attributes_and_text() -> None:
    page = render_report(hostile_report('x" onmouseover="alert(1)'), "html")
    assert 'x" onmouseover' not in page
    assert "x&quot; onmouseover=&quot;alert(1)" in page


def test_markdown_escapes_table_and_inline_syntax() -> None:
    md = render_report(hostile_report("a|b *c* [l](http://x) `d` @all $x$"), "md")
    assert r"a\|b \*c\* \[l\](http://x) \`d\` \@all \$x\$" in md
    tables = md.split("\n\n")
    for table in (t for t in tables if t.startswith("| ")):
        lines = table.splitlines()
        cells = lines[0].count("|")
        for line in lines:  # the name's pipe is escaped, so no row gains a cell
            assert line.count("|") - line.count(r"\|") == cells, line


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_formulas_are_neutralised_and_numbers_kept(formula: str) -> None:
    text = render_report(hostile_report(formula), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    acme, web = rows[0], rows[2]
    assert acme["name"].startswith("'") and web["client"].startswith("'")
    assert acme["name"][1:].lstrip().startswith(("=", "+", "-", "@"))
    assert web["budget_left_seconds"] == "-217.74"  # a number, left alone
    assert float(web["budget_left_seconds"]) == -217.74
    for row in rows:
        for cell in row.values():
            assert not cell.lstrip().startswith(("=", "+", "@")), cell


def test_csv_incident_formulas_are_neutralised() -> None:
    rows = copy.deepcopy(INCIDENT_ROWS)
    rows[0]["client_name"] = "=1+1"
    rows[0]["error_kinds"] = ["@x"]
    out = list(csv.reader(io.StringIO(render_incidents(rows, "csv"))))
    assert out[1][1] == "'=1+1" and out[1][7] == "'@x"


_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f" + "".join(BIDI_CONTROLS) + "]")


def test_terminal_controls_never_reach_any_output() -> None:
    for key, text in all_forms(hostile_report(TERMINAL)).items():
        if key == "table-color":  # rich's own SGR codes are expected; nothing else
            assert "\x07" not in text and "\x1b]" not in text and "\x1b[2J" not in text
            assert not any(c in text for c in BIDI_CONTROLS)
            continue
        bad = _FORBIDDEN.search(text)
        assert bad is None, (key, bad and repr(text[bad.start() - 20: bad.end() + 20]))
        if key.endswith("json"):
            assert "\\u202e" in text and "\\u001b" in text, key  # escaped, value kept
        else:
            shown = text.replace("&lt;", "<").replace("&gt;", ">").replace("\\", "")
            assert "<U+202E>" in shown, key  # the override is shown, not obeyed


def test_rich_markup_in_a_name_prints_literally() -> None:
    for width in (80, 160):
        text = render_report(hostile_report("[red]x[/red]"), "table", width=width)
        assert "[red]x[/red]" in text
    checks = render_check_results([{**CHECK_ROWS[0], "error": "[bold]boom[/bold] :smile:"}])
    assert "[bold]boom[/bold] :smile:" in checks


LONG = "Very Long Client Name Incorporated International Holdings GmbH & Co. KG"


@pytest.mark.parametrize("name", ["ACME Corp", LONG, "x" * 60, TERMINAL, "宇宙株式会社" * 4])
def test_every_table_line_fits_80_columns(name: str) -> None:
    report = hostile_report(name)
    report["probes"][0]["unknown_seconds"] = 2_000_000.0  # "23d 03h 33m 20s"
    rows = copy.deepcopy(INCIDENT_ROWS)
    rows[0]["client_name"] = name
    texts = [
        render_report(report, "table", width=80),
        render_incidents(rows, "table", width=80, timezone="Europe/Berlin"),
        render_check_results([{**CHECK_ROWS[1], "client_name": name, "error": name * 3}],
                             width=80),
    ]
    from rich.cells import cell_len

    for text in texts:
        for line in text.splitlines():
            assert cell_len(line) <= 80, line
