"""Latency digests (nearest rank exact on small data, within 0.5 % on large) and the split of
eligible time into aligned rollup blocks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slaprobe.hours import hours_intervals
from slaprobe.latency_digest import (
    ALPHA,
    DAY_MS,
    HOUR_MS,
    LatencyDigest,
    bucket_of,
    bucket_value,
    decompose,
    month_start_ms,
    next_month_ms,
)


def nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, -(-p * len(ordered) // 100)) - 1]


# ---------------------------------------------------------------- digest

def test_small_data_gives_the_exact_nearest_rank():
    d = LatencyDigest.of([30.0, 10.0, 20.0])
    assert [d.quantile(p) for p in (50, 95, 99)] == [20.0, 30.0, 30.0]
    assert LatencyDigest().quantile(50) is None
    # two values in one bucket: rank 1 is its min, rank 2 its max
    d = LatencyDigest.of([100.0, 100.3])
    assert bucket_of(100.0) == bucket_of(100.3)
    assert (d.quantile(50), d.quantile(99)) == (100.0, 100.3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 12.5, 12.5, 99.0, 100.0, 250.0, 4000.0]),
                min_size=1, max_size=200))
def test_discrete_data_is_exact(values):
    d = LatencyDigest.of(values)
    for p in (1, 50, 95, 99, 100):
        assert d.quantile(p) == nearest_rank(values, p)
    for t in (0.0, 1.0, 12.5, 100.0, 3000.0):
        assert d.count_at_most(t) == sum(v <= t for v in values)


@pytest.mark.parametrize("seed", range(20))
def test_large_data_within_half_a_percent_and_merge_is_exact(seed):
    rnd = random.Random(seed)
    values = [round(rnd.lognormvariate(3, 0.6), 3) for _ in range(rnd.randint(500, 5000))]
    d = LatencyDigest.of(values)
    for p in (50, 95, 99):
        exact = nearest_rank(values, p)
        assert abs(d.quantile(p) - exact) <= ALPHA * exact
    # any split, merged (through encode/decode), is the same digest
    k = rnd.randint(0, len(values))
    parts = [LatencyDigest.decode(LatencyDigest.of(values[:k]).encode()),
             LatencyDigest.of(values[k:])]
    merged = LatencyDigest.merged(parts)
    assert merged.encode() == d.encode()
    assert [merged.quantile(p) for p in (50, 95, 99)] == [d.quantile(p) for p in (50, 95, 99)]
    for t in (5.0, 20.0, 60.0):
        exact = sum(v <= t for v in values)
        inside = sum(bucket_of(v) == bucket_of(t) for v in values)
        assert abs(d.count_at_most(t) - exact) <= inside // 2 + 1
        assert merged.count_at_most(t) == d.count_at_most(t)


def test_minus_then_merge_gives_the_whole():
    rnd = random.Random(3)
    old = [rnd.uniform(5, 50) for _ in range(300)]
    new = old + [rnd.uniform(1, 80) for _ in range(50)]
    parent = LatencyDigest.of(old + [7.0, 70.0])  # a day holding the old hour and more
    delta = LatencyDigest.of(new).minus(LatencyDigest.of(old))
    assert delta.n == 50
    assert LatencyDigest.merged((parent, delta)).encode() == \
        LatencyDigest.of(new + [7.0, 70.0]).encode()


def test_coarse_digests_answer_with_representatives():
    values = [10.0, 10.02, 10.04, 55.0]
    full = LatencyDigest.of(values)
    blob = full.encode(extremes=False)
    coarse = LatencyDigest.decode(blob)
    assert coarse.coarse and not full.coarse
    assert coarse.n == 4
    assert coarse.quantile(50) == bucket_value(bucket_of(10.02))
    assert abs(coarse.quantile(50) - 10.02) <= ALPHA * 10.02
    assert coarse.count_at_most(100.0) == 4 and coarse.count_at_most(1.0) == 0
    # merged with a full digest, the result is coarse (no exact extremes to keep)
    assert LatencyDigest.merged((coarse, full)).coarse
    assert len(blob) < len(full.encode())


def test_encoding_is_deterministic_and_compact():
    rnd = random.Random(1)
    values = [rnd.lognormvariate(3, 0.3) for _ in range(1440)]
    a = LatencyDigest.of(values).encode()
    assert a == LatencyDigest.of(reversed(values)).encode()
    assert LatencyDigest.decode(a).encode() == a
    assert len(LatencyDigest.of(values).encode(extremes=False)) < 600
    big = LatencyDigest.of([5.0] * 70000)  # counts past 16 bits
    assert LatencyDigest.decode(big.encode()).n == 70000
    with pytest.raises(ValueError):
        LatencyDigest.decode(b"\x07\x00")


def test_edge_values():
    d = LatencyDigest.of([0.0, 0.0005, 1e13])
    assert (d.quantile(1), d.quantile(50), d.quantile(100)) == (0.0, 0.0005, 1e13)
    assert d.count_at_most(0.0) == 1


# ---------------------------------------------------------------- aligned blocks

def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def s(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def covered(blocks) -> list[tuple[int, int]]:
    """The blocks as sorted, merged [lo, hi) millisecond ranges."""
    spans = [(m, next_month_ms(m)) for m in blocks.months]
    spans += [(d, d + DAY_MS) for d in blocks.days] + [(h, h + HOUR_MS) for h in blocks.hours]
    spans += list(blocks.raw)
    for _level, _start, hours, inside in blocks.holed:  # the block less its hours
        for a, b in inside:
            for h in hours:
                if a < h < b:
                    spans.append((a, h))
                    a = h
                if a < h + HOUR_MS <= b and a >= h:
                    a = h + HOUR_MS
                elif a >= h and a < h + HOUR_MS:
                    a = min(b, h + HOUR_MS)
            if a < b:
                spans.append((a, b))
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        assert not out or lo >= out[-1][1], "blocks overlap"
        if out and lo == out[-1][1]:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def test_a_utc_month_is_one_block():
    b = decompose([(s("2026-10-01T00:00+00:00"), s("2026-11-01T00:00+00:00"))],
                  ms("2026-11-05T00:00+00:00"))
    assert b.months == [ms("2026-10-01T00:00+00:00")]
    assert not b.days and not b.hours and not b.raw


def test_a_berlin_month_across_dst_is_hours_days_and_no_raw():
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 1, tzinfo=zone).timestamp()  # 2026-09-30T22:00Z
    end = datetime(2026, 11, 1, tzinfo=zone).timestamp()  # 2026-10-31T23:00Z (after DST)
    b = decompose([(start, end)], ms("2026-12-01T00:00+00:00"), holes=False)
    assert b.months == [] and b.raw == [] and b.holed == []
    assert b.days == list(range(ms("2026-10-01T00:00+00:00"), ms("2026-10-31T00:00+00:00"),
                                DAY_MS))
    assert len(b.hours) == 2 + 23
    assert covered(b) == [(int(start * 1000), int(end * 1000))]
    # with holes: October less its last hour, and the two hours of September 30
    b = decompose([(start, end)], ms("2026-12-01T00:00+00:00"))
    assert b.months == b.days == b.raw == []
    assert b.hours == [ms("2026-09-30T22:00+00:00"), ms("2026-09-30T23:00+00:00")]
    assert [(lvl, m, hours) for lvl, m, hours, _ in b.holed] == [
        (2, ms("2026-10-01T00:00+00:00"), [ms("2026-10-31T23:00+00:00")])]
    assert covered(b) == [(int(start * 1000), int(end * 1000))]


def test_a_maintenance_window_makes_a_holed_month():
    month = (s("2026-10-01T00:00+00:00"), s("2026-11-01T00:00+00:00"))
    window = (s("2026-10-04T02:00+00:00"), s("2026-10-04T02:30+00:00"))
    ivs = [(month[0], window[0]), (window[1], month[1])]
    b = decompose(ivs, ms("2026-11-05T00:00+00:00"))
    assert [(lvl, hours) for lvl, _, hours, _ in b.holed] == [
        (2, [ms("2026-10-04T02:00+00:00")])]
    assert b.raw == [(ms("2026-10-04T02:30+00:00"), ms("2026-10-04T03:00+00:00"))]
    assert covered(b) == [(int(a * 1000), int(e * 1000)) for a, e in ivs]


def test_half_hour_offsets_leave_sub_hour_raw_edges():
    zone = ZoneInfo("Asia/Kolkata")  # +05:30
    hours = hours_intervals("Mon-Fri 09:00-17:00", "Asia/Kolkata",
                            datetime(2026, 11, 2, tzinfo=zone).timestamp(),
                            datetime(2026, 11, 9, tzinfo=zone).timestamp())
    b = decompose(hours, ms("2026-12-01T00:00+00:00"))
    assert len(hours) == 5
    assert b.raw[0] == (ms("2026-11-02T03:30+00:00"), ms("2026-11-02T04:00+00:00"))
    assert len(b.raw) == 10 and all(hi - lo == HOUR_MS // 2 for lo, hi in b.raw)
    assert len(b.hours) == 5 * 7
    assert covered(b) == [(int(a * 1000), int(e * 1000)) for a, e in hours]


def test_time_not_rolled_up_is_raw():
    b = decompose([(s("2026-11-01T00:00+00:00"), s("2026-11-25T12:34:56+00:00"))],
                  ms("2026-11-25T10:00+00:00"))
    assert b.raw == [(ms("2026-11-25T10:00+00:00"), ms("2026-11-25T12:34:56+00:00"))]
    assert len(b.days) == 24 and len(b.hours) == 10
    assert decompose([(0.0, 7200.5)], None).raw == [(0, 7_200_500)]


def test_pruned_time_rounds_to_whole_days_and_months():
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 1, tzinfo=zone).timestamp()  # 2026-02-28T23:00Z
    end = datetime(2026, 5, 1, tzinfo=zone).timestamp()  # 2026-04-30T22:00Z
    office = hours_intervals("Mon-Fri 08:00-18:00", "Europe/Berlin", start, end)
    fine = ms("2026-04-20T00:00+00:00")
    b = decompose(office, ms("2026-11-01T00:00+00:00"), fine, (start, end))
    # pruned weekdays are whole days (weekends have no eligible time); after `fine`,
    # exact hours
    assert b.months == []
    assert ms("2026-03-02T00:00+00:00") in b.days and ms("2026-03-01T00:00+00:00") not in b.days
    assert ms("2026-04-01T00:00+00:00") in b.days and ms("2026-04-04T00:00+00:00") not in b.days
    assert all(d < fine for d in b.days)
    assert b.hours and all(h >= fine for h in b.hours)
    assert b.raw == []
    # the last day, 22 h inside the period, counts; a day with 1 h inside does not
    b = decompose([(start, end)], ms("2026-11-01T00:00+00:00"), ms("2026-06-01T00:00+00:00"),
                  (start, end))
    assert b.months == [ms("2026-03-01T00:00+00:00"), ms("2026-04-01T00:00+00:00")]
    assert b.days == []


def test_month_arithmetic():
    for y, m in ((2024, 2), (2026, 12), (2000, 1), (1999, 12)):
        start = datetime(y, m, 1, tzinfo=UTC)
        assert month_start_ms(int(start.timestamp() * 1000) + 5 * DAY_MS + 7) == \
            int(start.timestamp() * 1000)
        nxt = (start + timedelta(days=32)).replace(day=1)
        assert next_month_ms(int(start.timestamp() * 1000)) == int(nxt.timestamp() * 1000)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 90 * 24 * 60), st.integers(1, 40 * 24 * 60)),
                min_size=1, max_size=6),
       st.integers(0, 120 * 24), st.booleans(), st.booleans())
def test_blocks_cover_exactly_the_intervals(raw, rolled_h, seconds, holes):
    base = s("2026-01-01T00:00+00:00")
    unit = 1.0 if seconds else 60.0
    ivs = sorted((base + a * unit + 0.25, base + (a + n) * unit) for a, n in raw)
    merged: list[tuple[float, float]] = []
    for a, e in ivs:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((a, e))
    rolled = int(base * 1000) + rolled_h * HOUR_MS
    b = decompose(merged, rolled, holes=holes)
    assert covered(b) == [(int(a * 1000), int(e * 1000)) for a, e in merged]
    assert all(h + HOUR_MS <= rolled for h in b.hours)
    assert all(d + DAY_MS <= rolled for d in b.days)
    assert all(next_month_ms(m) <= rolled for m in b.months)


@pytest.mark.parametrize("n", [3, 15, 16, 60])
def test_decode_merged_of_many_digests_equals_merging_their_decodes(n):
    """Many BLOBs merged at once (counts summed column by column from some number on, u16 and
    u32 counts mixed, different bases, some coarse) give the same digest and the same
    extremes as merging their decodes."""
    rnd = random.Random(n)
    digests = []
    for i in range(n):
        lo = rnd.uniform(1, 50)
        values = [lo * rnd.lognormvariate(0, 0.2) for _ in range(rnd.randint(0, 40))]
        d = LatencyDigest.of(values)
        if i % 7 == 3 and values:  # a count over 65535: stored as u32
            d.merge(LatencyDigest.of([values[0]] * 70000))
        digests.append(d)
    blobs = [d.encode(extremes=i % 5 != 4) for i, d in enumerate(digests)]
    got = LatencyDigest.decode_merged(blobs)
    want = LatencyDigest.merged([LatencyDigest.decode(b) for b in blobs])
    assert (got.base, list(got.counts)) == (want.base, list(want.counts))
    assert got == want
    for key in range(got.base, got.base + len(got.counts)):
        assert got.extremes(key) == want.extremes(key)
