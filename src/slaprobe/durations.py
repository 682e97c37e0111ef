"""Duration strings of probes.toml ("500ms", "30s", "5m", "2h", "1d") and their display."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Return seconds for "1h30m", "500ms", "30s"...; raise ValueError with a reason.

    >>> parse_duration("1m30s")
    90.0
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as \"30s\", got {text!r}")
    s = text.strip().lower()
    if s.startswith("-"):
        raise ValueError(f"duration {text!r} is negative")
    pos, total = 0, 0.0
    if not s:
        raise ValueError("empty duration; write e.g. \"30s\"")
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(
                f"bad duration {text!r}; use a number and a unit ms, s, m, h, d, e.g. \"30s\""
            )
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not math.isfinite(total):
        raise ValueError(f"duration {text!r} is too large")
    return total


def format_duration(seconds: float | None) -> str:
    """Human form for reports: "1h 02m 03s", "45s", "0s", "-1m 05s"."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    if 0 < abs(seconds) < 0.9995:
        return f"{sign}{abs(seconds) * 1000:.0f}ms"
    total = int(round(abs(seconds)))
    d, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{sign}{d}d {h:02d}h {m:02d}m {s:02d}s"
    if h:
        return f"{sign}{h}h {m:02d}m {s:02d}s"
    if m:
        return f"{sign}{m}m {s:02d}s"
    return f"{sign}{s}s"
