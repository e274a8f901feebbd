"""Export planning: which steps of a range are read (those that may hold rows), and the queries that read them."""

from __future__ import annotations

import itertools

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from lynex_box.lifecycle.export_plan import merge_ranges, plan_steps, step_ranges
from lynex_box.meta.catalog import SegmentEntry

H = 3_600_000_000  # one step: an hour in µs


def seg(min_time: int, max_time: int, rows: int) -> SegmentEntry:
    return SegmentEntry("s", "p1", "x.parquet", min_time, max_time, rows, 1)


def starts(*values: int) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values, pa.int64())])


def test_a_narrow_segment_offers_each_of_its_steps_and_the_head_its_exact_ones() -> None:
    plan = plan_steps([seg(10 * H + 5, 12 * H + 1, 100)], starts(50 * H + 7, 50 * H + 9, 70 * H), 0, 60 * H, H)
    assert plan.keys == {10, 11, 12, 50} and plan.wide == []  # 70 H is past the range's end


def test_a_segment_wider_than_its_rows_is_left_to_a_query_clipped_to_the_range() -> None:
    far = 1_000_000 * H  # a span a century away makes a flushed segment that wide
    plan = plan_steps([seg(5 * H, far, 2), seg(6 * H, 7 * H, 2)], starts(), H, 2 * far, H)
    assert plan.keys == {6, 7} and plan.wide == [(5 * H, far + 1)]
    assert plan_steps([seg(5 * H, far, 2)], starts(), 0, 9 * H, H).wide == [(5 * H, 9 * H)]


def test_segments_outside_the_range_offer_nothing() -> None:
    plan = plan_steps([seg(0, H, 10), seg(90 * H, 91 * H, 10)], starts(), 10 * H, 20 * H, H)
    assert plan.keys == set() and plan.wide == []


def test_reads_cover_the_range_without_a_gap_one_step_each() -> None:
    assert step_ranges({3, 7}, 0, 100 * H, H) == [(0, 4 * H), (4 * H, 100 * H)]
    assert step_ranges({3}, 3 * H + 10, 3 * H + 20, H) == [(3 * H + 10, 3 * H + 20)]
    assert step_ranges(set(), 0, 100 * H, H) == []


def test_touching_ranges_merge() -> None:
    assert merge_ranges([(5, 9), (0, 3), (3, 4), (8, 12)]) == [(0, 4), (5, 12)]


@given(
    keys=st.sets(st.integers(0, 500), max_size=40),
    lo=st.integers(0, 200 * 1000),
    length=st.integers(1, 400 * 1000),
)
def test_reads_are_contiguous_and_each_holds_a_step(keys: set[int], lo: int, length: int) -> None:
    step, hi = 1000, lo + length
    inside = {k for k in keys if k * step < hi and (k + 1) * step > lo}
    ranges = step_ranges(keys, lo, hi, step)
    assert len(ranges) == len(inside)
    if ranges:
        assert ranges[0][0] == lo and ranges[-1][1] == hi
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        for start, end in ranges:
            assert start < end and any(start < (k + 1) * step and k * step < end for k in inside)
