"""The client portal's pages as HTML text (pure: Portal in, {relative path: text} out).

Each page carries its CSS and a Content-Security-Policy that allows nothing
else (no script, no request), works without JavaScript, and reflows on a
phone (one column, bars that shrink, tables that scroll sideways). Every
value is made inert (sanitize.inert) and then escaped (html.escape); states
and misses are words, not colours only, so they survive print and screen
readers. The 90-day bar is CSS: one element per day with its date and
figure in a title (a tooltip) and, for those who cannot hover, the same
figures in a table under a <details>.
"""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from .portal import ClientPage, Day, Portal
from .render_cells import DASH, duration, floor3, fmt_number
from .sanitize import inert

STATE_WORDS = {"up": "Operational", "down": "Down", "maintenance": "In maintenance",
               "unknown": "No current data"}
LEVEL_WORDS = {"full": "no downtime", "met": "downtime within objective",
               "missed": "below objective", "none": "no data"}

_CSS = """\
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: #16181d;
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 62rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 0 0 .6rem; }
p { margin: .25rem 0; }
a { color: #0b57d0; }
.muted { color: #5a606b; font-size: .9rem; }
section, .client { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
                   padding: 1rem; margin: 0 0 1rem; }
.state { font-weight: 700; }
.state-up { color: #17692c; } .state-down { color: #b3261e; }
.state-maintenance { color: #7a5a00; } .state-unknown { color: #5a606b; }
.clients { list-style: none; padding: 0; margin: 0; }
.client a { display: block; text-decoration: none; color: inherit; }
.client .name { font-size: 1.15rem; font-weight: 600; color: #0b57d0; overflow-wrap: anywhere; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr));
           gap: .75rem; margin: 0; }
.figures div { background: #f5f6f8; border-radius: 6px; padding: .5rem .75rem; }
.figures dt { font-size: .85rem; color: #5a606b; }
.figures dd { margin: 0; font-size: 1.25rem; font-weight: 600;
              font-variant-numeric: tabular-nums; }
.missed-text { color: #b3261e; }
.bars { display: flex; gap: 2px; height: 2.75rem; margin: .5rem 0; }
.bars span { flex: 1 1 0; min-width: 0; border-radius: 2px; }
.full { background: #2f9e50; } .met { background: #a6cf63; }
.missed { background: #d64541; } .none { background: #c8ccd2; }
.legend { display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .85rem;
          color: #5a606b; margin: .25rem 0; padding: 0; list-style: none; }
.legend i { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px;
            margin-right: .3rem; vertical-align: -1px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e3e6ea;
         vertical-align: top; }
th { border-bottom: 2px solid #9aa0a8; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
details { margin-top: .5rem; }
footer { color: #5a606b; font-size: .85rem; padding: 0 1rem 2rem; max-width: 62rem;
         margin: 0 auto; }
@media (max-width: 40rem) {
  main { padding: .5rem; }
  section, .client { padding: .75rem; }
  .bars { gap: 1px; height: 2.25rem; }
  h1 { font-size: 1.3rem; }
  table.stack thead { position: absolute; left: -9999px; }
  table.stack tr { display: block; border-bottom: 1px solid #e3e6ea; padding: .35rem 0; }
  table.stack td { display: flex; justify-content: space-between; gap: 1rem; border: none;
                   padding: .1rem 0; text-align: right; }
  table.stack td::before { content: attr(data-label); color: #5a606b; text-align: left; }
}
@media print {
  body { background: #fff; }
  section, .client { border: none; padding: 0; }
  .bars span { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""


def _e(value: object) -> str:
    return html.escape(inert(str(value)), quote=True)


def _when(ts: float | None, zone: ZoneInfo) -> str:
    if ts is None:
        return DASH
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M %Z")


def _page(title: str, body: str, portal: Portal) -> str:
    zone = ZoneInfo(portal.timezone)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" "
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'none'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{_e(title)}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{body}</main>\n<footer>Updated {_e(_when(portal.generated_at, zone))}. Times are in "
        f"{_e(portal.timezone)}.</footer>\n</body>\n</html>\n"
    )


def _state(state: str, since: float | None, zone: ZoneInfo) -> str:
    text = STATE_WORDS[state]
    if state == "down" and since is not None:
        text += f" since {_when(since, zone)}"
    return f'<span class="state state-{state}">{_e(text)}</span>'


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{floor3(value)} %"


def _objective(page: ClientPage) -> str:
    return DASH if page.month.objective is None else f"{fmt_number(page.month.objective)} %"


def render_index(portal: Portal) -> str:
    zone = ZoneInfo(portal.timezone)
    month = datetime.fromtimestamp(portal.month_start, zone).strftime("%B %Y")
    items = []
    for page in portal.clients:
        f = page.month
        met = "" if f.met is not False else ' <span class="missed-text">(below objective)</span>'
        items.append(
            f'<li class="client"><a href="clients/{_e(page.slug)}.html">'
            f'<span class="name">{_e(page.client.name)}</span><br>'
            f"{_state(page.state, page.since, zone)}<br>"
            f'<span class="muted">{_e(month)}: </span><span class="avail">'
            f"{_e(_percent(f.availability))}</span>"
            f'<span class="muted"> availability, objective {_e(_objective(page))}</span>'
            f"{met}</a></li>\n")
    body = ("<h1>Service status</h1>\n"
            + (f'<ul class="clients">\n{"".join(items)}</ul>\n' if items
               else "<p>No services are published here.</p>\n"))
    return _page("Service status", body, portal)


def _figures(page: ClientPage, zone: ZoneInfo, month: str) -> str:
    f = page.month
    met = DASH if f.met is None else ("Yes" if f.met else "No")
    left = f.budget_left_seconds
    budget = DASH if left is None else (duration(left) if left >= 0
                                        else f"exceeded by {duration(-left)}")
    cells = [("Availability", _percent(f.availability), "availability"),
             ("Objective", _objective(page), "objective"),
             ("Objective met", met, "met"),
             ("Downtime", duration(f.down_seconds), "downtime"),
             ("Error budget left", budget, "budget")]
    items = "".join(f'<div class="{cls}"><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>'
                    for k, v, cls in cells)
    return (f"<section>\n<h2>{_e(month)} so far</h2>\n<dl class=\"figures\">{items}</dl>\n"
            "</section>\n")


def _bars(days: tuple[Day, ...]) -> str:
    counts = {level: sum(1 for d in days if d.level == level) for level in LEVEL_WORDS}
    label = (f"Daily availability over the last {len(days)} days: "
             + ", ".join(f"{n} {LEVEL_WORDS[k]}" for k, n in counts.items() if n))
    spans = "".join(
        f'<span class="{d.level}" title="{_e(d.date.isoformat())}: '
        f'{_e(_percent(d.availability))}, down {_e(duration(d.down_seconds))}"></span>'
        for d in days)
    legend = "".join(f'<li><i class="{k}"></i>{_e(v)}</li>' for k, v in LEVEL_WORDS.items())
    rows = [[_e(d.date.isoformat()), _e(_percent(d.availability)), _e(duration(d.down_seconds))]
            for d in reversed(days)]
    first, last = days[0].date.isoformat(), days[-1].date.isoformat()
    return (f"<section>\n<h2>Last {len(days)} days</h2>\n"
            f'<div class="bars" role="img" aria-label="{_e(label)}">{spans}</div>\n'
            f'<p class="muted">{_e(first)} to {_e(last)}</p>\n'
            f'<ul class="legend">{legend}</ul>\n'
            "<details><summary>Daily figures</summary>\n"
            + _table("days", [("Day", False), ("Availability", True), ("Downtime", True)], rows)
            + "</details>\n</section>\n")


_NUM = ' class="num"'


def _table(css_class: str, columns: list[tuple[str, bool]], rows: list[list[str]]) -> str:
    """A table of escaped cells (HTML strings); on a phone each row becomes a small card
    whose cells are labelled by their column (CSS only)."""
    head = "".join(f'<th class="num">{_e(h)}</th>' if num else f"<th>{_e(h)}</th>"
                   for h, num in columns)
    body = "".join(
        "<tr>" + "".join(f'<td{_NUM if num else ""} data-label="{_e(h)}">{cell}</td>'
                         for (h, num), cell in zip(columns, row, strict=True)) + "</tr>\n"
        for row in rows)
    return (f'<div class="scroll"><table class="{css_class} stack"><thead><tr>{head}</tr>'
            f"</thead>\n<tbody>\n{body}</tbody></table></div>\n")


def _incidents(page: ClientPage, zone: ZoneInfo) -> str:
    if not page.incidents:
        return (f"<section>\n<h2>Incidents</h2>\n<p>No incidents in the last "
                f"{len(page.days)} days.</p>\n</section>\n")
    rows = [[_e(_when(i.start, zone)), _e("ongoing" if i.end is None else _when(i.end, zone)),
             _e(duration(i.seconds)), _e(duration(i.maintenance_seconds))]
            for i in page.incidents]
    columns = [("Start", False), ("End", False), ("Duration", True),
               ("In planned maintenance", True)]
    return "<section>\n<h2>Incidents</h2>\n" + _table("incidents", columns, rows) + "</section>\n"


def _planned(page: ClientPage, zone: ZoneInfo) -> str:
    if not page.planned:
        return ("<section>\n<h2>Planned maintenance</h2>\n"
                "<p>No maintenance planned in the next 30 days.</p>\n</section>\n")
    rows = [[_e(_when(w.start, zone)), _e(_when(w.end, zone)), _e(duration(w.end - w.start)),
             _e(w.scope), _e(w.category)] for w in page.planned]
    columns = [("Start", False), ("End", False), ("Duration", True), ("Affects", False),
               ("Kind", False)]
    more = (f"<p class=\"muted\">And {page.more_planned} more windows.</p>\n"
            if page.more_planned else "")
    return ("<section>\n<h2>Planned maintenance</h2>\n" + _table("planned", columns, rows)
            + more + "</section>\n")


def _public(page: ClientPage, zone: ZoneInfo) -> str:
    if not page.public:
        return ""
    rows = [[_e(p.id), _state(p.state, p.since, zone), _e(_percent(p.availability))]
            for p in page.public]
    columns = [("Service", False), ("State", False), ("This month", True)]
    return "<section>\n<h2>Services</h2>\n" + _table("services", columns, rows) + "</section>\n"


def render_client(portal: Portal, page: ClientPage) -> str:
    zone = ZoneInfo(portal.timezone)
    month = datetime.fromtimestamp(portal.month_start, zone).strftime("%B %Y")
    body = (
        '<p><a href="../index.html">All services</a></p>\n'
        f"<h1>{_e(page.client.name)}</h1>\n"
        f"<p class=\"now\">Now: {_state(page.state, page.since, zone)}</p>\n"
        + _figures(page, zone, month) + _bars(page.days) + _incidents(page, zone)
        + _planned(page, zone) + _public(page, zone))
    return _page(f"{page.client.name}: service status", body, portal)


def render_site(portal: Portal) -> dict[str, str]:
    """{relative path: HTML text} of every page of the site."""
    pages = {"index.html": render_index(portal)}
    for page in portal.clients:
        pages[f"clients/{page.slug}.html"] = render_client(portal, page)
    return pages
