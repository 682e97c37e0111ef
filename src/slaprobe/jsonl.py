"""Raw checks as JSON Lines (SPEC section 4): what `export` writes and `import` reads.

Reading is strict because an import is a contract: a bad line aborts the whole
file with ``FILE:LINE: what is wrong`` and nothing is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import IO, Any

from .checks import Check, iso_to_ts
from .errors import InputError
from .sanitize import json_inert

MAX_LINE_BYTES = 1 << 20  # a check is ~150 bytes; a longer line is an error, not a memory spike
_MIN_TS = 0.0  # 1970-01-01: nothing was probed before the epoch
_MIN_INTERVAL = 0.001  # the store keeps milliseconds: a shorter interval would read back as 0
_MAX_TS = 253402300799.0  # 9999-12-31T23:59:59Z
_KNOWN = {"probe", "ts", "ok", "latency_ms", "error", "interval_s", "agent", "cert_days"}


def _number_out(x: float) -> float | int:
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else x


def _iso_ms(ts: float) -> str:
    """Epoch seconds -> "2026-11-03T10:00:00.000Z", from whole milliseconds: the store keeps
    milliseconds, and a float of a far-future time read back through datetime can come
    out a millisecond short, which import would then store as another check."""
    ms = round(ts * 1000)
    day = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return day.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def encode_check(check: Check) -> str:
    """One check as a JSON line (without the newline)."""
    obj: dict[str, Any] = {
        "probe": check.probe,
        "ts": _iso_ms(check.ts),
        "ok": check.ok,
        "latency_ms": None if check.latency_ms is None else round(check.latency_ms, 3),
        "error": check.error,
        "interval_s": _number_out(check.interval_s),
        "agent": check.agent,
    }
    if check.cert_days is not None:
        obj["cert_days"] = round(check.cert_days, 3)
    # Error texts come from servers: bidi and C1 controls are escaped (same value).
    return json_inert(json.dumps(obj, ensure_ascii=False, allow_nan=False))


def write_jsonl(checks: Iterable[Check], out: IO[str]) -> int:
    n = 0
    for c in checks:
        out.write(encode_check(c))
        out.write("\n")
        n += 1
    return n


class _LineError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise _LineError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _reject_constant(name: str) -> Any:
    raise _LineError(f"{name} is not a number JSON allows")


def _text(obj: dict[str, Any], key: str) -> str | None:
    """A string field; a lone surrogate ("\\ud800") is not text SQLite can store."""
    v = obj.get(key)
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise _LineError(f"{key!r} holds an unpaired surrogate (not valid Unicode)") from None
    return v


def _finite(obj: dict[str, Any], key: str, *, minimum: float, positive: bool = False) -> float | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _LineError(f"{key!r} must be a number or null, got {type(v).__name__}")
    try:
        f = float(v)
    except OverflowError:
        raise _LineError(f"{key!r} is too large") from None
    if not math.isfinite(f) or f > 1e12:
        raise _LineError(f"{key!r} is too large")
    if f < minimum or (positive and f <= 0):
        raise _LineError(f"{key!r} must be {'> 0' if positive else f'>= {minimum:g}'}, got {v}")
    return f


def parse_check(line: str, *, probes: Iterable[str] | dict[str, float], default_agent: str,
                default_interval: float = 30.0) -> Check:
    """One JSON line -> Check; ValueError with the reason. `probes` maps id -> interval."""
    try:
        obj = json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _LineError:
        raise
    except (json.JSONDecodeError, RecursionError) as e:
        raise _LineError(f"not valid JSON: {getattr(e, 'msg', e)}") from None
    except ValueError as e:  # int too large to convert, etc.
        raise _LineError(f"not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise _LineError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _KNOWN)
    if unknown:
        raise _LineError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    probe = obj.get("probe")
    if not isinstance(probe, str):
        raise _LineError("'probe' is required and must be a string")
    intervals = probes if isinstance(probes, dict) else None
    if (intervals is not None and probe not in intervals) or (
        intervals is None and probe not in set(probes)
    ):
        raise _LineError(f"probe {probe!r} is not in the configuration")
    if "ts" not in obj:
        raise _LineError("'ts' is required")
    try:
        ts = iso_to_ts(obj["ts"])
    except (ValueError, OverflowError, OSError) as e:
        raise _LineError(f"'ts' is not an RFC 3339 time with an offset: {e}") from None
    if not (_MIN_TS <= ts <= _MAX_TS):
        raise _LineError(f"'ts' {obj['ts']!r} is outside 1970..9999")
    ok = obj.get("ok")
    if not isinstance(ok, bool):
        raise _LineError("'ok' is required and must be true or false")
    latency = _finite(obj, "latency_ms", minimum=0.0)
    error = _text(obj, "error")
    if error is not None and not isinstance(error, str):
        raise _LineError("'error' must be a string or null")
    if error is not None and len(error) > 4096:
        error = error[:4096]
    interval = _finite(obj, "interval_s", minimum=_MIN_INTERVAL)
    if interval is None:
        interval = intervals.get(probe, default_interval) if intervals is not None else default_interval
    agent = _text(obj, "agent") if "agent" in obj else default_agent
    if agent is None:
        agent = default_agent
    if not isinstance(agent, str) or not agent.strip() or len(agent) > 200:
        raise _LineError("'agent' must be a non-empty string of at most 200 characters")
    cert_days = _finite(obj, "cert_days", minimum=-1e6)
    return Check(probe, ts, ok, latency, error, interval, agent, cert_days)


def read_jsonl(stream: IO[bytes], filename: str, *, probes: dict[str, float],
               default_agent: str) -> Iterator[Check]:
    """Parse a whole file of checks; raise InputError("FILE:LINE: ...") at the first bad line."""
    lineno = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise InputError(f"{filename}:{lineno}: line longer than {MAX_LINE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{filename}:{lineno}: not UTF-8 ({e.reason} at byte {e.start})") from None
        if not text.strip():
            continue
        try:
            yield parse_check(text, probes=probes, default_agent=default_agent)
        except _LineError as e:
            raise InputError(f"{filename}:{lineno}: {e}") from None
