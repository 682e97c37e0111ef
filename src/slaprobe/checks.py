"""One check: the unit slaprobe records, exports and computes availability from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

# Short, stable error kinds a failed check carries (SPEC section 5, rule 1).
ERROR_KINDS = (
    "timeout", "refused", "dns", "tls", "status", "body", "slow", "loss",
    "reset", "protocol", "permission", "error",
)


def error_kind(error: str | None) -> str:
    """The kind of a failed check's error text: before the first colon, else "error"."""
    head = (error or "").split(":", 1)[0].strip()
    return head if head in ERROR_KINDS else "error"


@dataclass(frozen=True, slots=True)
class Check:
    probe: str
    ts: float  # seconds since the epoch, UTC: when the check started
    ok: bool
    latency_ms: float | None = None
    error: str | None = None  # "kind: message", kind from ERROR_KINDS
    interval_s: float = 30.0  # the interval in force when it ran
    agent: str = ""
    cert_days: float | None = None  # HTTPS: days until the certificate expires

    @property
    def error_kind(self) -> str | None:
        """The stable kind before the first colon of `error` (None when ok)."""
        return None if self.error is None else error_kind(self.error)


def ts_to_iso(ts: float) -> str:
    """Epoch seconds -> "2026-11-03T10:00:00.000Z" (SPEC section 4)."""
    dt = datetime.fromtimestamp(round(ts, 3), tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")
_NO_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?")


def iso_to_ts(text: str) -> float:
    """RFC 3339 with an offset (or Z) -> epoch seconds; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 time string, got {type(text).__name__}")
    s = text.strip()
    if not _RFC3339.fullmatch(s):  # fromisoformat also takes week dates and compact forms
        if _NO_OFFSET.fullmatch(s):
            raise ValueError(f"time {text!r} has no UTC offset; add one, e.g. Z or +01:00")
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2026-11-03T10:00:00Z")
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s).timestamp()
