"""What moved between a frozen statement and the same month computed again (pure).

`changes(old, new)` compares two report dicts (SPEC 6, as `report_to_dict`
makes them) figure by figure and returns each difference as a `Change`;
`describe(changes)` writes them for people, one line per probe, client or
window, e.g. ``acme-web availability 99.95 -> 99.80; down_seconds 1296 -> 5184``.

Figures are compared exactly: the same checks, windows and terms give the
same floats, so any difference is a real one. Numbers are shown with just
enough decimals to tell the two apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TypeVar

K = TypeVar("K")

# Not figures: who the entry is, and lists compared on their own.
_SKIP = frozenset({"id", "name", "client", "client_name", "probes", "incidents"})
# Figures that come from latency samples, which retention leaves as day and month digests.
LATENCY_FIGURES = ("latency_ms.", "latency_objective.attained", "latency_objective.met",
                   "apdex.score")
_WINDOW_FIGURES = ("category", "reason", "ticket", "end", "seconds", "probes", "retroactive",
                   "first_seen", "excluded_down_seconds")


@dataclass(frozen=True)
class Change:
    subject: str  # "acme-web", "client acme", "window m1 2026-10-05T02:00:00+00:00"
    figure: str  # dotted: "availability", "kpis.mttr_seconds", "added", "removed"
    old: Any
    new: Any

    @property
    def latency_only(self) -> bool:
        return self.figure.startswith(LATENCY_FIGURES)


def _flat(entry: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if not prefix and key in _SKIP:
            continue
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _entry_changes(subject: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    a, b = _flat(old), _flat(new)
    if "excluded_seconds" in old or "excluded_seconds" in new:  # a category gone reads as 0
        for key in {k for k in (*a, *b) if k.startswith("excluded_seconds.")}:
            a.setdefault(key, 0.0)
            b.setdefault(key, 0.0)
    out = [Change(subject, k, a.get(k), b.get(k)) for k in _keys(b, a) if a.get(k) != b.get(k)]
    oi, ni = old.get("incidents") or [], new.get("incidents") or []
    if len(oi) != len(ni):
        out.append(Change(subject, "incidents", len(oi), len(ni)))
    elif oi != ni:
        first = next(i for i, (x, y) in enumerate(zip(oi, ni, strict=True)) if x != y)
        diff = [k for k in (*ni[first],) if oi[first].get(k) != ni[first].get(k)]
        out.append(Change(subject, f"incident {oi[first].get('start')}", ", ".join(diff),
                          "changed"))
    return out


def _keys(first: Mapping[K, Any], second: Mapping[K, Any]) -> list[K]:
    return [*first, *(k for k in second if k not in first)]


def _by_id(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(e.get("id")): e for e in entries}


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every figure that differs between the statement `old` and the recomputed `new`.

    1. Probes, then clients, by id: each figure (nested ones dotted), the
       number of incidents, or the first incident that changed; an entry only
       on one side is "added" or "removed".
    2. Window occurrences by (id, start): added, removed, or their fields.
    """
    out: list[Change] = []
    for section, label in (("probes", ""), ("clients", "client ")):
        a, b = _by_id(old.get(section) or []), _by_id(new.get(section) or [])
        for key in _keys(a, b):
            subject = f"{label}{key}"
            if key not in b:
                out.append(Change(subject, "removed", None, None))
            elif key not in a:
                out.append(Change(subject, "added", None, None))
            else:
                out.extend(_entry_changes(subject, a[key], b[key]))
    wa = {(w.get("id"), w.get("start")): w for w in old.get("windows") or []}
    wb = {(w.get("id"), w.get("start")): w for w in new.get("windows") or []}
    for wk in _keys(wa, wb):
        subject = f"window {wk[0]} {wk[1]}"
        if wk not in wb:
            out.append(Change(subject, "removed", wa[wk].get("category"), None))
        elif wk not in wa:
            w = wb[wk]
            out.append(Change(subject, "added", None, w.get("category")))
            out.append(Change(subject, "excluded_down_seconds", None,
                              w.get("excluded_down_seconds")))
            if w.get("retroactive"):
                out.append(Change(subject, "retroactive", None, True))
        else:
            for f in _WINDOW_FIGURES:
                if wa[wk].get(f) != wb[wk].get(f):
                    out.append(Change(subject, f, wa[wk].get(f), wb[wk].get(f)))
    return out


def _floor(x: float, places: int) -> str:
    return str(Decimal(repr(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR))


def _number_pair(a: float, b: float) -> tuple[str, str]:
    """Both with the fewest decimals (at least 2 unless whole) that tell them apart.

    Floored, as reports floor availability: 99.8991 shows as 99.89, never as
    99.90 next to a missed 99.9 objective.
    """
    if float(a).is_integer() and float(b).is_integer():
        return str(int(a)), str(int(b))
    for places in range(2, 18):
        x, y = _floor(a, places), _floor(b, places)
        if x != y:
            return x, y
    return repr(float(a)), repr(float(b))


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pair(old: Any, new: Any) -> tuple[str, str]:
    numbers = (int, float)
    if (isinstance(old, numbers) and isinstance(new, numbers)
            and not isinstance(old, bool) and not isinstance(new, bool)):
        return _number_pair(float(old), float(new))
    return _text(old), _text(new)


def describe(found: Sequence[Change]) -> list[str]:
    """One line per subject: "acme-web availability 99.95 -> 99.80; down_seconds 1296 -> 5184"."""
    lines: dict[str, list[str]] = {}
    for c in found:
        if c.figure == "added":
            text = f"added ({c.new})" if c.new else "added (not in the statement)"
        elif c.figure == "removed":
            text = f"removed ({c.old})" if c.old else "removed (not reported now)"
        else:
            a, b = _pair(c.old, c.new)
            text = f"{c.figure} {a} -> {b}"
        lines.setdefault(c.subject, []).append(text)
    return [f"{subject} {'; '.join(parts)}" for subject, parts in lines.items()]
