"""Which steps of an export's time range to read: those that may hold spans, never every step of the range.

An export reads its range one `export_chunk_s` step at a time (that bounds its memory), and a query costs a few
milliseconds even when it finds nothing, so stepping blindly over `1970..2199` would take hours for a handful of
spans. The steps worth reading come from what is known without reading rows: each segment's min and max start
time in the catalog (every step between them may hold rows), and the exact start times of the head. A segment
that spans more steps than it has rows (one span far from the others makes a flushed segment years wide) is
"wide": the caller asks the engine which of its steps hold rows instead (`wide`). The reads then cover the
whole range without a gap, each ending with one step that may hold rows, so rows that arrive while the export
runs are read too, as they were when every step was read. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from lynex_box.meta.catalog import SegmentEntry


@dataclass(slots=True)
class StepPlan:
    """Steps (start time // step) that may hold rows, and the `[lo, hi)` ranges whose steps a query must find."""

    keys: set[int] = field(default_factory=set)
    wide: list[tuple[int, int]] = field(default_factory=list)


def plan_steps(
    entries: Iterable[SegmentEntry], head_starts: pa.ChunkedArray, lo: int, hi: int, step_us: int
) -> StepPlan:
    """The steps of `[lo, hi)` that the segments and the head's start times (epoch µs) may hold rows in."""
    plan = StepPlan()
    wide: list[tuple[int, int]] = []
    for e in entries:
        first, last = max(e.min_time, lo), min(e.max_time, hi - 1)
        if first > last:
            continue
        k0, k1 = first // step_us, last // step_us
        if k1 - k0 + 1 > max(e.row_count, 1):
            wide.append((first, last + 1))
        else:
            plan.keys.update(range(k0, k1 + 1))
    starts = head_starts.to_numpy() if len(head_starts) else np.empty(0, np.int64)
    starts = starts[(starts >= lo) & (starts < hi)]
    plan.keys.update(int(k) for k in np.unique(starts // step_us))
    plan.wide = merge_ranges(wide)
    return plan


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`[lo, hi)` ranges with the overlapping and touching ones joined, in order."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def step_ranges(keys: Iterable[int], lo: int, hi: int, step_us: int) -> list[tuple[int, int]]:
    """Consecutive `[start, end)` ranges from `lo` to `hi`, one per step in `keys`: each ends where its step ends
    (the last at `hi`), so the empty steps before a step are read with it. No keys: nothing to read."""
    ranges: list[tuple[int, int]] = []
    start = lo
    for key in sorted(keys):
        end = min((key + 1) * step_us, hi)
        if end <= start or key * step_us >= hi:  # a step before the range, or one already read
            continue
        ranges.append((start, end))
        start = end
        if end >= hi:
            break
    if ranges and ranges[-1][1] < hi:
        ranges[-1] = (ranges[-1][0], hi)
    return ranges
