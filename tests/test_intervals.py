from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slaprobe.intervals import (
    clip,
    complement,
    from_sorted,
    intersect,
    intersection_all,
    normalize,
    subtract,
    total,
    union,
)


@pytest.mark.parametrize("pairs, expected", [
    ([], ()),
    ([(3, 4), (1, 2)], ((1, 2), (3, 4))),
    ([(1, 2), (2, 3)], ((1, 3),)),            # touching half-open intervals join
    ([(1, 5), (2, 3)], ((1, 5),)),            # contained
    ([(1, 1), (2, 1)], ()),                   # empty and reversed pairs vanish
    ([(0, 2), (1, 4), (6, 7)], ((0, 4), (6, 7))),
])
def test_normalize_sorts_merges_and_drops_empty(pairs, expected):
    assert normalize(pairs) == expected


def test_from_sorted_merges_without_sorting():
    assert from_sorted([(0, 1), (1, 2), (3, 3), (4, 5)]) == ((0, 2), (4, 5))


@pytest.mark.parametrize("a, b, expected", [
    (((0, 2),), ((2, 4),), ((0, 4),)),
    (((0, 1), (5, 6)), ((2, 3),), ((0, 1), (2, 3), (5, 6))),
    ((), ((1, 2),), ((1, 2),)),
    (((0, 10),), ((2, 3), (4, 5)), ((0, 10),)),
])
def test_union(a, b, expected):
    assert union(a, b) == expected
    assert union(b, a) == expected


def test_union_of_many_sets():
    assert union(((0, 1),), ((1, 2),), ((5, 6),), ()) == ((0, 2), (5, 6))


@pytest.mark.parametrize("a, b, expected", [
    (((0, 10),), ((2, 3), (5, 12)), ((2, 3), (5, 10))),
    (((0, 2),), ((2, 4),), ()),               # touching is not overlapping
    (((0, 5), (6, 9)), ((4, 7),), ((4, 5), (6, 7))),
    ((), ((0, 1),), ()),
])
def test_intersect(a, b, expected):
    assert intersect(a, b) == expected
    assert intersect(b, a) == expected


@pytest.mark.parametrize("a, b, expected", [
    (((0, 10),), ((2, 3), (5, 6)), ((0, 2), (3, 5), (6, 10))),
    (((0, 10),), ((-5, 15),), ()),
    (((0, 10),), ((10, 12),), ((0, 10),)),
    (((0, 4), (6, 10)), ((3, 7),), ((0, 3), (7, 10))),
    (((0, 4), (6, 10)), ((3, 12),), ((0, 3),)),
    (((0, 4),), (), ((0, 4),)),
])
def test_subtract(a, b, expected):
    assert subtract(a, b) == expected


def test_clip_complement_total():
    a = ((0, 2), (5, 9))
    assert clip(a, 1, 6) == ((1, 2), (5, 6))
    assert clip(a, 6, 6) == ()
    assert complement(a, -1, 10) == ((-1, 0), (2, 5), (9, 10))
    assert total(a) == 6
    assert total(()) == 0


def test_intersection_all_of_nothing_is_empty():
    assert intersection_all([]) == ()
    assert intersection_all([((0, 5),), ((2, 9),), ((3, 4),)]) == ((3, 4),)


_pairs = st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 20)).map(
    lambda p: (float(p[0]), float(p[0] + p[1]))), max_size=8)


def _points(s):
    return {x / 2 for x in range(-120, 160) if any(a <= x / 2 < b for a, b in s)}


@given(_pairs, _pairs)
def test_algebra_matches_point_sets(pa, pb):
    a, b = normalize(pa), normalize(pb)
    pa_, pb_ = _points(a), _points(b)
    assert _points(union(a, b)) == pa_ | pb_
    assert _points(intersect(a, b)) == pa_ & pb_
    assert _points(subtract(a, b)) == pa_ - pb_
    assert total(union(a, b)) == total(a) + total(b) - total(intersect(a, b))
    for out in (union(a, b), intersect(a, b), subtract(a, b)):
        assert out == normalize(out)  # always in normal form


@given(_pairs, st.integers(-60, 60), st.integers(1, 60))
def test_clip_matches_intersect(pa, lo, length):
    a = normalize(pa)
    assert clip(a, float(lo), float(lo + length)) == intersect(a, ((lo, lo + length),))
