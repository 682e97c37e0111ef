"""Latency digests: mergeable log-bucket histograms with each bucket's exact min and max.

A digest counts values (latencies in ms) in buckets of relative width: bucket k
holds the values in ``(GAMMA**(k-1), GAMMA**k]`` with ``GAMMA = 1.005 / 0.995``
(DDSketch's layout), so the bucket's representative ``2 * GAMMA**k / (GAMMA + 1)``
is within ``ALPHA`` = 0.5 % of every value in it. Each bucket also keeps the
exact smallest and largest value seen in it ("extremes"); a *coarse* digest
(after retention) keeps counts only.

Pure: no I/O. Digests are merged exactly (counts add, extremes take min/max),
so one digest of a set of values equals the merge of digests of any split of
the set, and a report reads the same figures from rollups as from raw checks.

- `quantile(p)`: nearest rank (SPEC 5.8), rank ``k = ceil(p/100 x n)``; in the
  bucket holding rank k: its exact min when k is the bucket's first rank, its
  exact max when k is its last rank or min == max, else the representative
  clamped to [min, max]. So data with at most two values per bucket (every
  small or discrete set) gives the exact nearest-rank value; otherwise the
  value is within 0.5 %. A coarse bucket answers with its representative.
  A digest of more than EXACT_UP_TO values (a month of checks at 60 s) does not
  search a holed block (`holed`) for the extremes a taken-away part may have
  held: that bucket answers with its representative, unless it holds one
  repeated value (then exact), so a year's report stays cheap.
- `count_at_most(t)`: exact for buckets wholly on one side of t; in the one
  bucket that holds t: all of it when its max <= t, none when its min > t,
  else an estimate, linear between min and max (rounded half up, kept between 1
  and count - 1 since min <= t < max); a coarse bucket interpolates linearly
  between its bounds.
- `encode()`/`decode()`: a compact, deterministic BLOB, little-endian:
  ``version u8 | flags u8 | base i32 | span u32 | counts u16 or u32 x span |``
  ``mins f64 x nnz | maxs f64 x nnz``; flags bit 0: extremes present, bit 1:
  counts are u32; counts are dense from bucket `base`, extremes are listed for
  the non-empty buckets only, in bucket order.

Merging is done on the dense count arrays (C-speed slices); the extremes of a
merged digest are looked up lazily in the parts it was made from, so a report
that merges many rollups only looks at the few buckets it answers from.

Usage: ``d = LatencyDigest.of([12.0, 15.5]); d.merge(LatencyDigest.decode(blob)); d.quantile(95)``
"""

from __future__ import annotations

import functools
import math
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from operator import add
from typing import Protocol

ALPHA = 0.005  # relative accuracy of a bucket's representative
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
_INV_LOG_GAMMA = 1.0 / _LOG_GAMMA
LOW, HIGH = 1e-3, 1e12  # values outside go to the edge buckets (extremes stay exact)
VERSION = 1
EXACT_UP_TO = 50_000  # values: a larger digest does not search a holed block for extremes
_HEAD = struct.Struct("<BBiI")
_BIG = sys.byteorder == "big"
_INF = float("inf")


def bucket_of(value: float) -> int:
    """The bucket key of a latency in ms: ceil(log_GAMMA(value)), values clamped to [LOW, HIGH]."""
    v = LOW if not value > LOW else (min(value, HIGH))  # NaN -> LOW
    return math.ceil(math.log(v) * _INV_LOG_GAMMA)


def bucket_value(key: int) -> float:
    """A bucket's representative: within ALPHA of every value in ``(GAMMA**(key-1), GAMMA**key]``."""
    return 2.0 * GAMMA ** key / (GAMMA + 1.0)


class _Part:
    """One digest as built or decoded: dense counts and, unless coarse, extremes per non-empty
    bucket (in bucket order). A decoded part reads single extremes from its BLOB when asked."""

    __slots__ = ("_at", "_blob", "_nnz", "base", "counts", "maxs", "mins")

    def __init__(self, base: int, counts: Sequence[int], mins: Sequence[float] | None,
                 maxs: Sequence[float] | None, blob: bytes | None = None, at: int = 0):
        self.base, self.counts, self.mins, self.maxs = base, counts, mins, maxs
        self._blob, self._at = blob, at
        self._nnz = -1

    def _load(self) -> None:
        blob, at = self._blob, self._at
        self._blob = None
        assert blob is not None
        nnz = len(self.counts) - self.counts.count(0)  # type: ignore[attr-defined]
        mins, maxs = array("d"), array("d")
        mins.frombytes(blob[at:at + 8 * nnz])
        maxs.frombytes(blob[at + 8 * nnz:at + 16 * nnz])
        if _BIG:
            mins.byteswap()
            maxs.byteswap()
        if len(maxs) != nnz:
            raise ValueError("latency digest: truncated")
        self.mins, self.maxs = mins, maxs

    @property
    def coarse(self) -> bool:
        return self.mins is None and self._blob is None

    def extremes(self, key: int) -> tuple[float, float] | None | bool:
        """(min, max) of bucket `key`; None when coarse; False when the part has none there."""
        i = key - self.base
        counts = self.counts
        if i < 0 or i >= len(counts) or not counts[i]:
            return False
        j = i - counts[:i].count(0)  # type: ignore[attr-defined]
        blob = self._blob
        if blob is not None:
            nnz = self._nnz
            if nnz < 0:
                nnz = self._nnz = len(counts) - counts.count(0)  # type: ignore[attr-defined]
            at = self._at + 8 * j
            return _D.unpack_from(blob, at)[0], _D.unpack_from(blob, at + 8 * nnz)[0]
        if self.mins is None or self.maxs is None:
            return None
        return self.mins[j], self.maxs[j]


_D = struct.Struct("<d")


class _BlobParts:
    """Many encoded digests (e.g. a month of hour rollups) merged at once: only their counts
    are decoded; a bucket's extremes are read from the BLOBs that hold it, when asked.
    Answers as the merge of their `LatencyDigest.decode`s would, with one object per read."""

    __slots__ = ("base", "counts", "items")

    def __init__(self, base: int, counts: list[int],
                 items: list[tuple[int, Sequence[int], bytes | None, int, int]]):
        # items: (base, counts, blob or None when coarse, offset of the mins, non-empty buckets)
        self.base, self.counts, self.items = base, counts, items

    @property
    def coarse(self) -> bool:
        return any(blob is None for _, _, blob, _, _ in self.items)

    def extremes(self, key: int) -> tuple[float, float] | None | bool:
        lo, hi, found = _INF, -_INF, False
        unpack = _D.unpack_from
        for base, counts, blob, at, nnz in self.items:
            i = key - base
            if i < 0 or i >= len(counts) or not counts[i]:
                continue
            if blob is None:
                return None
            a = at + 8 * (i - counts[:i].count(0))  # type: ignore[attr-defined]
            v = unpack(blob, a)[0]
            w = unpack(blob, a + 8 * nnz)[0]
            if v < lo:
                lo = v
            if w > hi:
                hi = w
            found = True
        return (lo, hi) if found else False


class HasExtremes(Protocol):
    """Exact (min, max) per bucket. It may also have `extremes_knowing(key, lo, hi)`: the
    same, told the side(s) already known exactly (None where not), so only the other is
    looked for."""

    def extremes(self, key: int) -> tuple[float, float] | None: ...


class _HoledPart:
    """A rollup block less a few hour digests inside it (the time that is not eligible).

    Counts subtract exactly. The extremes of a bucket are the block's when no hole
    holds the block's min or max there (a hole value equal to it might be it);
    else they come from `fine()`, the exact digest of the eligible part of the
    block built from hours and raw checks (asked for once, and rarely).
    """

    __slots__ = ("_fine", "base", "block", "counts", "fine", "holes")
    coarse = False

    def __init__(self, base: int, counts: list[int], block: LatencyDigest,
                 holes: list[LatencyDigest], fine: Callable[[], HasExtremes]):
        self.base, self.counts, self.block, self.holes, self.fine = base, counts, block, holes, fine
        self._fine: HasExtremes | None = None

    def extremes(self, key: int, deep: bool = True) -> tuple[float, float] | None | bool:
        i = key - self.base
        if i < 0 or i >= len(self.counts) or not self.counts[i]:
            return False
        e = self.block.extremes(key)
        known: tuple[float | None, float | None] = (None, None)
        if e is not None:
            lo, hi = e
            if lo == hi:
                return lo, hi
            lo_ok = hi_ok = True
            for h in self.holes:
                x = h.extremes(key)
                if x is not None:
                    if x[0] <= lo:
                        lo_ok = False
                    if x[1] >= hi:
                        hi_ok = False
            if lo_ok and hi_ok:
                return lo, hi
            # a side no hole can hold is exact already: only the other is looked for
            known = (lo if lo_ok else None, hi if hi_ok else None)
        if not deep:
            return None
        if self._fine is None:
            self._fine = self.fine()
        one_side = getattr(self._fine, "extremes_knowing", None)
        if one_side is not None and known != (None, None):
            return one_side(key, *known)  # type: ignore[no-any-return]
        return self._fine.extremes(key)


class LatencyDigest:
    """A multiset of latencies, bucketed (see the module doc). Mutable by `merge`/`add`."""

    __slots__ = ("_cum", "_ext", "_parts", "base", "counts")

    def __init__(self) -> None:
        self.base = 0
        self.counts: list[int] = []  # dense, from bucket `base`
        self._parts: list[_Part] = []  # where extremes are looked up
        self._cum: list[int] | None = None
        self._ext: dict[int, tuple[float, float] | None] | None = None  # by bucket key

    # -- building --------------------------------------------------------------------
    @classmethod
    def of(cls, values: Iterable[float]) -> LatencyDigest:
        """The digest of `values` (latencies in ms)."""
        d = cls()
        part = _part_of(values)
        if part is not None:
            d.base, d.counts, d._parts = part.base, list(part.counts), [part]
        return d

    @classmethod
    def merged(cls, digests: Iterable[LatencyDigest]) -> LatencyDigest:
        """One digest of all of `digests` (none is changed)."""
        items = [d for d in digests if d.counts]
        out = cls()
        if not items:
            return out
        lo = min(d.base for d in items)
        hi = max(d.base + len(d.counts) for d in items)
        acc = [0] * (hi - lo)
        for d in items:
            off = d.base - lo
            n = len(d.counts)
            acc[off:off + n] = map(add, acc[off:off + n], d.counts)
            out._parts.extend(d._parts)
        out.base, out.counts = lo, acc
        return out

    @classmethod
    def holed(cls, block: LatencyDigest, holes: list[LatencyDigest],
              fine: Callable[[], HasExtremes]) -> LatencyDigest:
        """`block` less the values of `holes` (each a sub-multiset of it); `fine()` gives the
        same digest's exact extremes, found another way (a LatencyDigest, or anything with
        its `extremes(key)`), for the bucket whose extremes the subtraction cannot tell
        (see `_HoledPart`)."""
        out = cls()
        if not block.counts:
            return out
        counts = list(block.counts)
        for h in holes:
            _take_away(counts, block.base, h)
        out.base, out.counts = block.base, counts
        out._parts = [_HoledPart(block.base, counts, block, holes, fine)]  # type: ignore[list-item]
        out._trim()
        return out

    def merge(self, other: LatencyDigest) -> LatencyDigest:
        """Add `other`'s values to this digest; returns self."""
        if not other.counts:
            return self
        if not self.counts:
            self.base, self.counts = other.base, list(other.counts)
            self._parts = list(other._parts)
            self._cum = self._ext = None
            return self
        m = LatencyDigest.merged((self, other))
        self.base, self.counts, self._parts, self._cum = m.base, m.counts, m._parts, None
        self._ext = None
        return self

    def add(self, values: Iterable[float]) -> LatencyDigest:
        """Add raw values; returns self."""
        return self.merge(LatencyDigest.of(values))

    def minus(self, other: LatencyDigest) -> LatencyDigest:
        """The counts of self less those of `other` (a sub-multiset of self), with self's
        extremes: merged into a digest that already holds `other`, it gives exactly the
        digest of self. Negative differences (not a sub-multiset) are floored at 0."""
        out = LatencyDigest()
        if not self.counts:
            return out
        counts = list(self.counts)
        _take_away(counts, self.base, other)  # what is not in self: nothing to take away
        out.base, out.counts, out._parts = self.base, counts, list(self._parts)
        out._trim()
        return out

    def _trim(self) -> None:
        c = self.counts
        lo, hi = 0, len(c)
        while lo < hi and not c[lo]:
            lo += 1
        while hi > lo and not c[hi - 1]:
            hi -= 1
        if lo or hi < len(c):
            self.counts = c[lo:hi]
            self.base += lo
        if not self.counts:
            self._parts = []
        self._cum = self._ext = None

    # -- reading ---------------------------------------------------------------------
    @property
    def n(self) -> int:
        cum = self._cumulative()
        return cum[-1] if cum else 0

    def __len__(self) -> int:
        return self.n

    def __bool__(self) -> bool:
        return self.n > 0

    @property
    def coarse(self) -> bool:
        """Whether some values have no exact extremes (a digest kept past retention)."""
        return any(p.coarse for p in self._parts)

    def _cumulative(self) -> list[int]:
        if self._cum is None:
            self._cum = list(accumulate(self.counts))
        return self._cum

    def extremes(self, key: int) -> tuple[float, float] | None:
        """Exact (min, max) of bucket `key`, or None when unknown (coarse) or empty."""
        cache = self._ext
        if cache is None:
            cache = self._ext = {}
        if key not in cache:
            self._find_extremes((key,))
        return cache[key]

    def _find_extremes(self, keys: Iterable[int]) -> None:
        """Look the extremes of `keys` up in every part, in one pass over the parts."""
        cache = self._ext
        if cache is None:
            cache = self._ext = {}
        # per key: [min, max, state]; state 0 none seen, 1 found, 2 unknown (coarse part)
        want: dict[int, list[float]] = {k: [_INF, -_INF, 0] for k in keys if k not in cache}
        if not want:
            return
        deep = self.n <= EXACT_UP_TO
        for p in self._parts:
            base, n = p.base, len(p.counts)
            for k, acc in want.items():
                if acc[2] == 2 or not 0 <= k - base < n:
                    continue
                e = p.extremes(k, deep) if isinstance(p, _HoledPart) else p.extremes(k)
                if e is False:
                    continue
                if e is None or e is True:
                    acc[2] = 2
                    continue
                acc[2] = 1
                acc[0] = min(acc[0], e[0])
                acc[1] = max(acc[1], e[1])
        for k, (lo, hi, state) in want.items():
            cache[k] = (lo, hi) if state == 1 else None

    def _rank_key(self, k: int) -> int | None:
        cum = self._cumulative()
        if not cum or k < 1 or k > cum[-1]:
            return None
        return self.base + bisect_left(cum, k)

    def prepare(self, percentiles: Iterable[float] = (), thresholds: Iterable[float] = ()) -> None:
        """Look up at once the extremes that these quantiles and counts will need (speed only)."""
        n = self.n
        if not n:
            return
        keys = set()
        for p in percentiles:
            key = self._rank_key(max(1, _rank(p, n)))
            if key is not None:
                keys.add(key)
        keys.update(bucket_of(t) for t in thresholds)
        self._find_extremes(keys)

    def value_at_rank(self, k: int) -> float | None:
        """The k-th smallest value (1-based), exact or within ALPHA (see the module doc)."""
        cum = self._cumulative()
        if not cum or k < 1 or k > cum[-1]:
            return None
        i = bisect_left(cum, k)
        first = cum[i - 1] + 1 if i else 1
        last = cum[i]
        key = self.base + i
        e = self.extremes(key)
        if e is None:
            return bucket_value(key)
        lo, hi = e
        if k == first:
            return lo
        if k == last or lo == hi:
            return hi
        return min(max(bucket_value(key), lo), hi)

    def quantile(self, p: float) -> float | None:
        """Nearest-rank percentile p (0 < p <= 100): rank ceil(p/100 x n); None when empty."""
        n = self.n
        if not n:
            return None
        return self.value_at_rank(max(1, _rank(p, n)))

    def count_at_most(self, threshold: float) -> int:
        """How many values are <= threshold (see the module doc for the bucket holding it)."""
        cum = self._cumulative()
        if not cum:
            return 0
        key = bucket_of(threshold)
        i = key - self.base
        if i < 0:
            return 0
        if i >= len(cum):
            return cum[-1]
        below = cum[i - 1] if i else 0
        c = self.counts[i]
        if not c:
            return below
        e = self.extremes(key)
        if e is None:
            lo, hi = GAMMA ** (key - 1), GAMMA ** key
            frac = (threshold - lo) / (hi - lo) if hi > lo else 1.0
            return below + min(c, max(0, int(c * frac + 0.5)))
        lo, hi = e
        if hi <= threshold:
            return below + c
        if lo > threshold:
            return below
        est = int(c * (threshold - lo) / (hi - lo) + 0.5)
        return below + min(c - 1, max(1, est))

    def values_summary(self) -> tuple[int, float | None, float | None]:
        """(n, smallest, largest) for tests and logs (extremes None when coarse)."""
        if not self.counts:
            return 0, None, None
        lo = self.extremes(self.base)
        hi = self.extremes(self.base + len(self.counts) - 1)
        return self.n, lo[0] if lo else None, hi[1] if hi else None

    def buckets(self) -> list[tuple[int, int]]:
        """(key, count) of the non-empty buckets, in key order."""
        return [(self.base + i, c) for i, c in enumerate(self.counts) if c]

    # -- storing ---------------------------------------------------------------------
    def encode(self, *, extremes: bool = True) -> bytes:
        """The BLOB (see the module doc); `extremes=False` (or a coarse digest) keeps counts only."""
        self._trim()
        counts = self.counts
        span = len(counts)
        with_ext = extremes and not self.coarse and span > 0
        wide = span > 0 and max(counts) > 0xFFFF
        flags = (1 if with_ext else 0) | (2 if wide else 0)
        out = [_HEAD.pack(VERSION, flags, self.base, span), self._pack_counts(counts)]
        if with_ext:
            mins, maxs = self._all_extremes()
            out += [_le(mins), _le(maxs)]
        return b"".join(out)

    @staticmethod
    def _pack_counts(counts: Sequence[int]) -> bytes:
        """Dense counts as u16 (u32 when one exceeds 65535), little-endian."""
        wide = bool(counts) and max(counts) > 0xFFFF
        arr = array("I" if wide else "H", counts)
        if arr.itemsize != (4 if wide else 2):  # platforms where I is not 32 bits
            arr = array("L" if wide else "H", counts)
        return _le(arr)

    def _all_extremes(self) -> tuple[array, array]:  # type: ignore[type-arg]
        """Exact min and max of every non-empty bucket, in bucket order (not coarse)."""
        if len(self._parts) == 1 and isinstance(self._parts[0], _Part) \
                and self._parts[0].base == self.base \
                and list(self._parts[0].counts) == list(self.counts):
            p = self._parts[0]
            if p._blob is not None:
                p._load()
            return array("d", p.mins), array("d", p.maxs)  # type: ignore[arg-type]
        lo: dict[int, float] = {}
        hi: dict[int, float] = {}
        for p in self._parts:
            if not isinstance(p, _Part):
                for i, c in enumerate(p.counts):
                    e = p.extremes(p.base + i) if c else False
                    if e:
                        k = p.base + i
                        lo[k] = min(lo.get(k, _INF), e[0])  # type: ignore[index]
                        hi[k] = max(hi.get(k, -_INF), e[1])  # type: ignore[index]
                continue
            if p._blob is not None:
                p._load()
            pmins, pmaxs = p.mins, p.maxs
            assert pmins is not None and pmaxs is not None
            j = 0
            for i, c in enumerate(p.counts):
                if not c:
                    continue
                k = p.base + i
                v, w = pmins[j], pmaxs[j]
                j += 1
                if v < lo.get(k, _INF):
                    lo[k] = v
                if w > hi.get(k, -_INF):
                    hi[k] = w
        mins, maxs = array("d"), array("d")
        for i, c in enumerate(self.counts):
            if c:
                k = self.base + i
                mins.append(lo[k])
                maxs.append(hi[k])
        return mins, maxs

    @classmethod
    def decode(cls, blob: bytes, *, exact: bool = True) -> LatencyDigest:
        """The digest of an `encode`d BLOB; ValueError when it is not one. `exact=False`:
        without its extremes, as `encode(extremes=False)` would have kept it."""
        if len(blob) < _HEAD.size:
            raise ValueError("latency digest: too short")
        version, flags, base, span = _HEAD.unpack_from(blob)
        if version != VERSION:
            raise ValueError(f"latency digest: unknown version {version}")
        size = 4 if flags & 2 else 2
        counts = array("I" if size == 4 else "H")
        if counts.itemsize != size:
            counts = array("L" if size == 4 else "H")
        end = _HEAD.size + span * size
        counts.frombytes(blob[_HEAD.size:end])
        if _BIG:
            counts.byteswap()
        d = cls()
        if span:
            if flags & 1:
                if len(blob) < end + 16 * (span - counts.count(0)):
                    raise ValueError("latency digest: truncated")
            if flags & 1 and exact:
                part = _Part(base, counts, None, None, blob, end)
            else:
                part = _Part(base, counts, None, None)
            d.base, d.counts, d._parts = base, counts, [part]  # type: ignore[assignment]
        return d

    @classmethod
    def decode_merged(cls, blobs: Iterable[bytes]) -> LatencyDigest:
        """One digest of all the `encode`d BLOBs: the same as merging their `decode`s, at a
        fraction of the cost for many small ones (e.g. ~220 office hours of a month)."""
        items: list[tuple[int, Sequence[int], bytes | None, int, int]] = []
        head, hsize = _HEAD.unpack_from, _HEAD.size
        lo, hi = 2 ** 62, -(2 ** 62)
        for blob in blobs:
            if len(blob) < hsize:
                raise ValueError("latency digest: too short")
            version, flags, base, span = head(blob)
            if version != VERSION:
                raise ValueError(f"latency digest: unknown version {version}")
            if not span:
                continue
            size = 4 if flags & 2 else 2
            counts = array("I" if size == 4 else "H")
            if counts.itemsize != size:
                counts = array("L" if size == 4 else "H")
            end = hsize + span * size
            counts.frombytes(blob[hsize:end])
            if _BIG:
                counts.byteswap()
            nnz = span - counts.count(0)
            if flags & 1:
                if len(blob) < end + 16 * nnz:
                    raise ValueError("latency digest: truncated")
                items.append((base, counts, blob, end, nnz))
            else:
                items.append((base, counts, None, end, nnz))
            if base < lo:
                lo = base
            if base + span > hi:
                hi = base + span
        out = cls()
        if not items:
            return out
        acc = _sum_counts(lo, hi, [(base, counts) for base, counts, _, _, _ in items])
        out.base, out.counts = lo, acc
        out._parts = [_BlobParts(lo, list(acc), items)]  # type: ignore[list-item]
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyDigest):
            return NotImplemented
        return self.encode() == other.encode()

    def __repr__(self) -> str:
        n, lo, hi = self.values_summary()
        return f"LatencyDigest(n={n}, min={lo}, max={hi}, buckets={len(self.buckets())})"


_COLUMNS_FROM = 16  # summing by columns pays from about this many digests on


def _sum_counts(lo: int, hi: int, items: list[tuple[int, Sequence[int]]]) -> list[int]:
    """The bucket-wise sum of dense counts (base, counts), each inside [lo, hi).

    Many (e.g. a month of office hours): each one's counts padded with zeros to the whole
    width, all laid end to end in one array, and summed column by column (C loops), which
    is faster than adding each into the total in turn. Few: added in turn. The same sums."""
    width = hi - lo
    if len(items) < _COLUMNS_FROM:
        acc = [0] * width
        for base, counts in items:
            off = base - lo
            n = len(counts)
            acc[off:off + n] = map(add, acc[off:off + n], counts)
        return acc
    code = "H"
    for _, counts in items:
        if not isinstance(counts, array) or counts.typecode != "H":
            code = "Q"  # sums of u32 counts: any count of digests fits
            break
    one = array(code)
    size = one.itemsize
    zeros = bytes(size * width)
    chunks: list[bytes] = []
    for base, counts in items:
        off = base - lo
        c = counts if isinstance(counts, array) and counts.typecode == code else array(code, counts)
        chunks += (zeros[:size * off], c.tobytes(), zeros[:size * (width - off - len(c))])
    one.frombytes(b"".join(chunks))
    return [sum(one[j::width]) for j in range(width)]


def _take_away(counts: list[int], base: int, other: LatencyDigest) -> None:
    """counts (dense from bucket `base`) less other's counts, bucket by bucket, floored at
    0; other's buckets outside the range are ignored. One slice at a time, not per bucket."""
    lo = max(base, other.base)
    hi = min(base + len(counts), other.base + len(other.counts))
    if lo >= hi:
        return
    a, b = lo - base, lo - other.base
    n = hi - lo
    counts[a:a + n] = [x - y if x > y else 0
                       for x, y in zip(counts[a:a + n], other.counts[b:b + n], strict=True)]


def _rank(p: float, n: int) -> int:
    """ceil(p/100 x n), in exact integer arithmetic for whole percents."""
    if isinstance(p, int):
        return -(-p * n // 100)
    return math.ceil(p * n / 100)


def _le(arr: array) -> bytes:  # type: ignore[type-arg]
    if _BIG:
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _part_of(values: Iterable[float]) -> _Part | None:
    vals = sorted(values)
    if not vals:
        return None
    log, ceil, inv = math.log, math.ceil, _INV_LOG_GAMMA
    keys = [ceil(log(max(LOW, v)) * inv) if v <= HIGH else bucket_of(v) for v in vals]
    base = keys[0]
    counts = [0] * (keys[-1] - base + 1)
    mins, maxs = array("d"), array("d")
    i, n = 0, len(vals)
    while i < n:
        k = keys[i]
        j = bisect_right(keys, k, i)
        counts[k - base] = j - i
        mins.append(vals[i])
        maxs.append(vals[j - 1])
        i = j
    return _Part(base, counts, mins, maxs)


def digest_of(values: Iterable[float] | LatencyDigest) -> LatencyDigest:
    """`values` as a digest (a digest is returned as it is)."""
    return values if isinstance(values, LatencyDigest) else LatencyDigest.of(values)


# -- aligned blocks -----------------------------------------------------------------------
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
LEVELS = ("hour", "day", "month")  # stored as 0, 1, 2


def month_start_ms(ms: int) -> int:
    """The start of the UTC month holding `ms`."""
    days = ms // DAY_MS
    y, m, _ = _civil(days)
    return _days_from_civil(y, m, 1) * DAY_MS


def next_month_ms(month_ms: int) -> int:
    y, m, _ = _civil(month_ms // DAY_MS)
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return _days_from_civil(y, m, 1) * DAY_MS


def _civil(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _first_ms_at_or_after(t: float) -> int:
    """The smallest whole millisecond m with m / 1000 >= t (as float comparison)."""
    m = math.ceil(t * 1000)
    while m / 1000 < t:
        m += 1
    while (m - 1) / 1000 >= t:
        m -= 1
    return m


class Blocks:
    """What `decompose` returns: rollup blocks by level and raw [lo, hi) ms ranges."""

    __slots__ = ("days", "holed", "hours", "months", "raw")

    def __init__(self) -> None:
        self.months: list[int] = []
        self.days: list[int] = []
        self.hours: list[int] = []
        self.raw: list[tuple[int, int]] = []
        # (level, start, hours to take away, the eligible ms ranges inside the block)
        self.holed: list[tuple[int, int, list[int], list[tuple[int, int]]]] = []

    def __repr__(self) -> str:
        return (f"Blocks(months={self.months}, days={self.days}, hours={self.hours}, "
                f"raw={self.raw}, holed={self.holed})")


MONTH_HOLES = 24  # a month less at most this many hours is read as month - hours
DAY_HOLES = 4  # likewise a day


def decompose(intervals: Iterable[tuple[float, float]], rolled_until_ms: int | None,
              fine_from_ms: int | None = None,
              period: tuple[float, float] | None = None, *, holes: bool | int = True) -> Blocks:
    """Split eligible time into aligned rollup blocks plus raw ranges (pure).

    `intervals`: disjoint, sorted [start, end) in epoch seconds. Rollups exist for
    time before `rolled_until_ms` (None: none); hour digests only from
    `fine_from_ms` on (older hours were dropped by retention, and their raw
    successful checks pruned). Returns:

    1. Time at or after `fine_from_ms` and before `rolled_until_ms`: whole UTC
       months, else whole UTC days, else whole UTC hours; what no whole hour
       covers (sub-hour edges) goes to `raw`, in whole milliseconds, so a check
       at ts is read when ``start <= ts < end`` exactly as with float seconds.
    2. Time at or after `rolled_until_ms`: `raw`.
    3. Time before `fine_from_ms` (pruned; `fine_from_ms` is a UTC day boundary):
       whole UTC days, a day counting whole when some of it is eligible and at
       least half of it lies inside `period` (the report's period; default: the
       intervals' hull), so period edges in the client's time zone round to the
       nearest UTC day while SLA hours and maintenance inside a day are ignored;
       runs of whole UTC months are taken as months.
    4. With `holes` (True or 2; 1: days only), a UTC month (day) in rolled-up time
       that is eligible but for
       at most MONTH_HOLES (DAY_HOLES) hours it touches is in `holed` instead:
       the block less those hours, plus their eligible parts as raw ranges.
       A maintenance window or a period edge in the client's time zone then costs
       a few blocks instead of a month of days and hours.
    """
    out = Blocks()
    ivs = [(s, e) for s, e in intervals if e > s]
    if not ivs:
        return out
    none = -(2 ** 62)
    rolled = rolled_until_ms if rolled_until_ms is not None else none
    fine = none
    if fine_from_ms is not None and rolled > none:
        fine = -(-fine_from_ms // DAY_MS) * DAY_MS  # a UTC day boundary
        if fine > rolled:
            fine = rolled - rolled % DAY_MS
    if fine > none:
        p0, p1 = period if period is not None else (ivs[0][0], ivs[-1][1])
        p0_ms, p1_ms = p0 * 1000, p1 * 1000
        old: list[int] = []
        for s, e in ivs:
            lo_ms = _first_ms_at_or_after(s)
            if lo_ms >= fine:
                break
            hi_ms = min(_first_ms_at_or_after(e), fine)
            d = lo_ms - lo_ms % DAY_MS
            while d < hi_ms:
                if (not old or old[-1] != d) and \
                        2 * (min(p1_ms, d + DAY_MS) - max(p0_ms, d)) >= DAY_MS:
                    old.append(d)
                d += DAY_MS
        _runs_of_days(old, out)
    spans: list[tuple[int, int]] = []
    for s, e in ivs:
        lo = max(_first_ms_at_or_after(s), fine)
        hi = _first_ms_at_or_after(e)
        if lo < hi:
            spans.append((lo, hi))
    if holes and spans and rolled > fine:
        spans = _take_holed(spans, fine, rolled, out, 2 if holes is True else int(holes))
    for lo, hi in spans:
        mid = min(hi, rolled)
        if lo < mid:
            h0 = -(-lo // HOUR_MS) * HOUR_MS
            h1 = mid - mid % HOUR_MS
            if h0 < h1:
                if lo < h0:
                    out.raw.append((lo, h0))
                d0 = -(-h0 // DAY_MS) * DAY_MS
                d1 = h1 - h1 % DAY_MS
                if d0 < d1:
                    out.hours.extend(range(h0, d0, HOUR_MS))
                    _days_to_blocks(d0, d1, out)
                    out.hours.extend(range(d1, h1, HOUR_MS))
                else:
                    out.hours.extend(range(h0, h1, HOUR_MS))
                if h1 < mid:
                    out.raw.append((h1, mid))
            else:
                out.raw.append((lo, mid))
        if max(lo, rolled) < hi:
            out.raw.append((max(lo, rolled), hi))
    out.raw = _merge_ranges(out.raw)
    out.hours.sort()
    out.days.sort()
    out.months.sort()
    return out


@functools.lru_cache(maxsize=256)
def decompose_shared(intervals: tuple[tuple[float, float], ...], rolled_until_ms: int | None,
                     fine_from_ms: int | None = None,
                     period: tuple[float, float] | None = None, *, holes: bool | int = True,
                     ) -> Blocks:
    """`decompose`, memoised: every probe with the same eligible time and rollup marks (most
    probes of a report) shares one result, which callers must not change."""
    return decompose(intervals, rolled_until_ms, fine_from_ms, period, holes=holes)


def _clip(spans: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    return [(max(a, lo), min(b, hi)) for a, b in spans if a < hi and b > lo]


def _take_holed(spans: list[tuple[int, int]], fine: int, rolled: int,
                out: Blocks, top: int) -> list[tuple[int, int]]:
    """Months (when `top` is 2), then days, of [fine, rolled) that `spans` cover but for a
    few hours go to `out.holed` (and the eligible parts of those hours to `out.raw`);
    returns the rest."""
    for level, limit in ((2, MONTH_HOLES), (1, DAY_HOLES)):
        if level > top:
            continue
        starts: set[int] = set()
        for a, b in spans:  # only a block holding an edge can be partly covered
            for t in (a, b - 1):
                starts.add(month_start_ms(t) if level == 2 else t - t % DAY_MS)
        taken: list[tuple[int, int]] = []
        for b0 in sorted(starts):
            b1 = next_month_ms(b0) if level == 2 else b0 + DAY_MS
            if b0 < fine or b1 > rolled:
                continue
            inside = _clip(spans, b0, b1)
            if not inside:
                continue
            gaps: list[tuple[int, int]] = []
            t = b0
            for a, b in inside:
                if a > t:
                    gaps.append((t, a))
                t = b
            if t < b1:
                gaps.append((t, b1))
            if not gaps:
                continue
            hours: list[int] = []
            for g0, g1 in gaps:
                h = g0 - g0 % HOUR_MS
                while h < g1:
                    if not hours or hours[-1] != h:
                        hours.append(h)
                    h += HOUR_MS
                if len(hours) > limit:
                    break
            if len(hours) > limit:
                continue
            out.holed.append((level, b0, hours, inside))
            for h in hours:
                out.raw.extend(_clip(inside, h, h + HOUR_MS))
            taken.append((b0, b1))
        if taken:
            rest: list[tuple[int, int]] = []
            for a, b in spans:
                for t0, t1 in taken:
                    if t1 <= a or t0 >= b:
                        continue
                    if a < t0:
                        rest.append((a, t0))
                    a = max(a, t1)
                    if a >= b:
                        break
                if a < b:
                    rest.append((a, b))
            spans = rest
    return spans


def _days_to_blocks(d0: int, d1: int, out: Blocks) -> None:
    """The UTC days [d0, d1) as whole months where they cover one, else days."""
    m = month_start_ms(d0)
    if m < d0:
        m = next_month_ms(m)
        out.days.extend(range(d0, min(m, d1), DAY_MS))
        if m >= d1:
            return
    while True:
        nxt = next_month_ms(m)
        if nxt > d1:
            out.days.extend(range(m, d1, DAY_MS))
            return
        out.months.append(m)
        m = nxt


def _runs_of_days(days: list[int], out: Blocks) -> None:
    """Sorted, distinct day starts -> blocks, run by run of consecutive days."""
    i, n = 0, len(days)
    while i < n:
        j = i + 1
        while j < n and days[j] == days[j - 1] + DAY_MS:
            j += 1
        _days_to_blocks(days[i], days[j - 1] + DAY_MS, out)
        i = j


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out
