"""Where things are in probes.toml: line numbers that tomllib does not keep.

tomllib returns plain dicts and lists, so a problem found while validating a
value cannot say on which line that value was written. `LineMap.scan` walks
the same text once more and remembers the first line of every table header,
every `key =` and every array element, keyed by the path a validator uses:

    ("agent", "interval")                  the `interval =` line in [agent]
    ("probes", 2)                          the third [[probes]] header
    ("probes", 2, "headers", "X-Token")    a key inside an inline table
    ("sla", "gold", "credits", 1)          the second element of an array

The scan runs only after tomllib accepted the text, so it may assume valid
TOML; anything it does not understand just ends the scan early (best effort).
`Report` turns a path and a message into "probes.toml:LINE: message", and
`Table` reads typed values out of one table, reporting what is wrong where.
"""

from __future__ import annotations

import bisect
import difflib
import math
import re
import sys
import tomllib
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, time
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from .durations import parse_duration

Key = tuple[str | int, ...]

MISSING: Any = object()  # a key absent from its table

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")
# Most lines are `key = "text"` or `key = 30`: one match instead of the walk.
_SIMPLE_PAIR = re.compile(r'([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9_:.+-]+)'
                          r'(?=[ \t]*(?:#[^\n]*)?(?:\r?\n|$))')
_BLANK = {True: re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*"), False: re.compile(r"(?:[ \t]+|#[^\n]*)*")}


class _Stop(Exception):
    """The scanner met something it does not understand: keep what it found."""


class LineMap:
    """Paths in the TOML document -> the line (1-based) where they were written."""

    def __init__(self, lines: dict[Key, int] | None = None):
        self._lines = dict(lines or {})

    @classmethod
    def scan(cls, text: str) -> LineMap:
        """Map every header, key and array element of (valid) TOML `text`."""
        scanner = _Scanner(text)
        try:
            scanner.document()
        except (_Stop, IndexError, tomllib.TOMLDecodeError):
            pass
        return cls(scanner.lines)

    def line_of(self, path: Key) -> int | None:
        """The line of `path`, else of its nearest ancestor that has one."""
        for n in range(len(path), 0, -1):
            line = self._lines.get(path[:n])
            if line is not None:
                return line
        return None


class _Scanner:
    """A recursive-descent walk over valid TOML that records positions, not values."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.lines: dict[Key, int] = {}
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        self._array_counts: dict[Key, int] = {}

    # -- positions -------------------------------------------------------

    def line(self) -> int:
        return bisect.bisect_left(self._newlines, self.pos) + 1

    def record(self, path: Key, line: int) -> None:
        """Remember `line` for `path` and for its ancestors not seen before."""
        for n in range(1, len(path) + 1):
            self.lines.setdefault(path[:n], line)

    def at(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def expect(self, token: str) -> None:
        if not self.at(token):
            raise _Stop
        self.pos += len(token)

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces and comments, and line ends too when `newlines`."""
        self.pos = _BLANK[newlines].match(self.text, self.pos).end()  # type: ignore[union-attr]

    # -- grammar ---------------------------------------------------------

    def document(self) -> None:
        table: Key = ()
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            line = self.line()
            if self.at("[["):
                self.pos += 2
                keys = self.key_path()
                self.expect("]]")
                array = self.resolve(keys[:-1]) + keys[-1:]
                count = self._array_counts.get(array, 0)
                self._array_counts[array] = count + 1
                table = array + (count,)
                self.record(table, line)
            elif self.at("["):
                self.pos += 1
                keys = self.key_path()
                self.expect("]")
                table = self.resolve(keys)
                self.record(table, line)
            else:
                self.key_value(table)

    def resolve(self, keys: Key) -> Key:
        """[probes.headers] after [[probes]] means the latest element's headers."""
        out: list[str | int] = []
        for key in keys:
            out.append(key)
            count = self._array_counts.get(tuple(out))
            if count:
                out.append(count - 1)
        return tuple(out)

    def key_value(self, table: Key) -> None:
        line = self.line()
        simple = _SIMPLE_PAIR.match(self.text, self.pos)
        if simple:
            self.record((*table, simple.group(1)), line)
            self.pos = simple.end()
            return
        path = table + self.key_path()
        self.skip_blank(newlines=False)
        self.expect("=")
        self.skip_blank(newlines=False)
        self.record(path, line)
        self.value(path)

    def key_path(self) -> Key:
        keys: list[str | int] = []
        while True:
            self.skip_blank(newlines=False)
            if self.at('"') or self.at("'"):
                start = self.pos
                self.single_line_string()
                keys.append(tomllib.loads("k = " + self.text[start : self.pos])["k"])
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if not match:
                    raise _Stop
                keys.append(match.group())
                self.pos = match.end()
            self.skip_blank(newlines=False)
            if not self.at("."):
                return tuple(keys)
            self.pos += 1

    def value(self, path: Key) -> None:
        start = self.pos
        if self.at('"""') or self.at("'''"):
            self.multi_line_string()
        elif self.at('"') or self.at("'"):
            self.single_line_string()
        elif self.at("["):
            self.array(path)
        elif self.at("{"):
            self.inline_table(path)
        else:
            match = _SCALAR.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos
        if self.pos == start:
            raise _Stop

    def array(self, path: Key) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.at("]"):
                self.pos += 1
                return
            self.record(path + (index,), self.line())
            self.value(path + (index,))
            index += 1
            self.skip_blank(newlines=True)
            if self.at(","):
                self.pos += 1

    def inline_table(self, path: Key) -> None:
        self.pos += 1
        while True:
            self.skip_blank(newlines=True)
            if self.at("}"):
                self.pos += 1
                return
            self.key_value(path)
            self.skip_blank(newlines=True)
            if self.at(","):
                self.pos += 1

    def single_line_string(self) -> None:
        quote = self.text[self.pos]
        i = self.pos + 1
        while self.text[i] != quote:
            i += 2 if quote == '"' and self.text[i] == "\\" else 1
        self.pos = i + 1

    def multi_line_string(self) -> None:
        quote = self.text[self.pos] * 3
        i = self.pos + 3
        while not self.text.startswith(quote, i):
            i += 2 if quote == '"""' and self.text[i] == "\\" else 1
        i += 3
        for _ in range(2):  # up to two quotes may close the content: """a"""""
            if self.text.startswith(quote[0], i):
                i += 1
        self.pos = i


class Report:
    """Collects problems (or warnings) as "NAME:LINE: message", sorted by line."""

    def __init__(self, name: str, lines: LineMap):
        self.name = name
        self.lines = lines
        self._items: list[tuple[int, int, str]] = []

    def add(self, where: Key, message: str) -> None:
        line = self.lines.line_of(where)
        text = f"{self.name}:{line}: {message}" if line else f"{self.name}: {message}"
        self._items.append((line or sys.maxsize, len(self._items), text))

    def messages(self) -> list[str]:
        return [text for _, _, text in sorted(self._items)]

    def __bool__(self) -> bool:
        return bool(self._items)


# ---------------------------------------------------------------------------
# Typed reads of one table: each records a problem and returns a default


def describe(value: Any, show: bool = True) -> str:
    """What the operator wrote, in TOML words: "the string '5'", "true".

    show=False names only the type, for values that may be secrets.
    """
    if isinstance(value, bool):
        return ("true" if value else "false") if show else "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}" if show else "a number"
    if isinstance(value, str):
        return f"the string {value!r}" if show else "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time of day"
    return type(value).__name__


def did_you_mean(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def zone_problem(name: str) -> str | None:
    """None when `name` is a time zone zoneinfo knows, else why not."""
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for "../x", ...
        return f"unknown time zone {name!r}; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
    return None


class Table:
    """One TOML table under validation.

    Every read returns a usable default after recording a problem instead of
    raising, so a single pass reports every mistake in the file.
    """

    def __init__(self, report: Report, data: dict[str, Any], where: Key, subject: str):
        self.report = report
        self.data = data
        self.where = where
        self.subject = subject  # "probe 'web'", "[agent]", ...
        self.misspelt: set[str] = set()  # keys an unknown key probably meant

    def error(self, key: str | int, message: str, *, at: Key = ()) -> None:
        """A problem with one field: "probe 'web' field 'port': message"."""
        self.report.add(self.where + (key,) + at, f"{self.subject} field {key!r}: {message}")

    def problem(self, message: str, key: str | None = None) -> None:
        """A problem with the table itself, located at `key` when given."""
        self.report.add(self.where + ((key,) if key else ()), f"{self.subject}: {message}")

    def check_keys(self, allowed: Collection[str], elsewhere: Mapping[str, str] | None = None,
                   ) -> None:
        """Unknown keys are errors; `elsewhere` explains keys valid in another context.

        Call before the reads: a key reported as a likely misspelling of a
        required one is not reported as missing a second time.
        """
        for key in self.data:
            if key in allowed:
                continue
            if elsewhere and key in elsewhere:
                self.problem(f"key {key!r} {elsewhere[key]}", key)
                continue
            close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
            if close:
                self.misspelt.add(close[0])
                self.problem(f"unknown key {key!r} (did you mean {close[0]!r}?)", key)
            else:
                self.problem(f"unknown key {key!r}", key)

    def raw(self, key: str, required: bool) -> Any:
        if key in self.data:
            return self.data[key]
        if required and key not in self.misspelt:
            self.problem(f"missing required key {key!r}")
        return MISSING

    def text(self, key: str, default: Any = None, *, required: bool = False,
             choices: Collection[str] | None = None) -> Any:
        value = self.raw(key, required)
        if value is MISSING:
            return default
        if not isinstance(value, str):
            self.error(key, f"expected a string, got {describe(value)}")
            return default
        if not value.strip():
            self.error(key, "must not be empty")
            return default
        if choices is not None and value not in choices:
            options = ", ".join(choices)
            self.error(key, f"{value!r} is not one of {options}{did_you_mean(value, choices)}")
            return default
        return value

    def integer(self, key: str, default: Any, lo: int, hi: int | None = None, *,
                required: bool = False) -> Any:
        value = self.raw(key, required)
        if value is MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"expected a whole number, got {describe(value)}")
            return default
        if value < lo or (hi is not None and value > hi):
            bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.error(key, f"must be {bounds}, got {value}")
            return default
        return value

    def number(self, key: str, default: Any, lo: float, hi: float, *, lo_open: bool = False,
               required: bool = False, at: Key = ()) -> Any:
        value = self.raw(key, required)
        if value is MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(key, f"expected a number, got {describe(value)}", at=at)
            return default
        if not math.isfinite(value):
            self.error(key, f"must be a finite number, got {value}", at=at)
            return default
        if value < lo or value > hi or (lo_open and value == lo):
            low = f"above {lo:g}" if lo_open else f"at least {lo:g}"
            self.error(key, f"must be {low} and at most {hi:g}, got {value:g}", at=at)
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, False)
        if value is MISSING:
            return default
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, got {describe(value)}")
            return default
        return value

    def duration(self, key: str, default: Any, *, allow_zero: bool = False,
                 required: bool = False) -> Any:
        value = self.raw(key, required)
        if value is MISSING:
            return default
        if not isinstance(value, str):
            self.error(key, f'expected a duration string such as "30s", got {describe(value)}')
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as e:
            self.error(key, str(e))
            return default
        if seconds == 0 and not allow_zero:
            self.error(key, f"must be longer than zero, got {value!r}")
            return default
        return seconds

    def zone(self, key: str, default: str) -> str:
        name = self.text(key, None)
        if name is None:
            return default
        why = zone_problem(name)
        if why:
            self.error(key, why)
            return default
        return name

    def id_list(self, key: str) -> tuple[str, ...]:
        value = self.raw(key, False)
        if value is MISSING:
            return ()
        if not isinstance(value, list):
            self.error(key, f"expected an array of ids, got {describe(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                out.append(item)
            else:
                self.error(key, f"element {i + 1}: expected an id, got {describe(item)}", at=(i,))
        return tuple(out)

    def moment(self, key: str) -> datetime | None:
        """An aware date-time: a TOML offset date-time or an RFC 3339 string."""
        value = self.raw(key, False)
        if value is MISSING:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                self.error(key, f"{value!r} is not an RFC 3339 time such as "
                                "\"2026-11-29T02:00:00+01:00\"")
                return None
        if not isinstance(value, datetime):
            self.error(key, f"expected a date-time with an offset, got {describe(value)}")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.error(key, f"{value.isoformat()} needs an offset, e.g. "
                            f"{value.isoformat()}+01:00 or {value.isoformat()}Z")
            return None
        return value


def sub_table(report: Report, value: Any, where: Key, subject: str) -> Table | None:
    """A Table for `value`, or None (with a problem) when it is not a table."""
    if isinstance(value, dict):
        return Table(report, value, where, subject)
    report.add(where, f"{subject} must be a table, got {describe(value)}")
    return None


class _Identified(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def line(self) -> int | None: ...


T = TypeVar("T", bound=_Identified)


def unique_tables(report: Report, entries: list[Any], section: str, subject: str,
                  build: Callable[[Table, int], T | None], *, noun: str) -> dict[str, T]:
    """Each [[section]] table built by `build`, by id; a repeated id is a problem.

    `subject` names one entry in messages ("maintenance 'w'", "maintenance #3"
    before the id is known), `noun` the one that took an id first ("already
    used by the window at line 12"). `build` gets the table and its index;
    built items need `id` and `line`. Entries that are not tables, or that `build` refuses (it has
    reported why), are left out, so every problem of the file is still found.
    """
    out: dict[str, T] = {}
    for i, entry in enumerate(entries):
        ident = entry.get("id") if isinstance(entry, dict) else None
        named = f"{subject} {ident!r}" if isinstance(ident, str) else f"{subject} #{i + 1}"
        t = sub_table(report, entry, (section, i), named)
        if t is None:
            continue
        item = build(t, i)
        if item is None:
            continue
        if item.id in out:
            t.error("id", f"{item.id!r} is already used by the {noun} at line "
                          f"{out[item.id].line}")
            continue
        out[item.id] = item
    return out


def table_array(report: Report, data: dict[str, Any], name: str) -> list[Any]:
    """[[name]] entries; a problem when `name = ...` is not an array of tables."""
    value = data.get(name, [])
    if not isinstance(value, list):
        report.add((name,), f"{name} must be written as [[{name}]] tables, got {describe(value)}")
        return []
    return value
