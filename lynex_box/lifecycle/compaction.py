"""Compaction: a project's small segments of one time window merged into one larger file, level by level.

Segments under `[compaction] small_bytes` are grouped by (project, window of their first start time, level); a
group of at least `min_segments` becomes one file of the next level (up to `max_bytes` of input each), sorted by
start time, with duplicates by `event_id` dropped and deleted or expired rows left out.
Merging only equal levels keeps write amplification logarithmic. The merge is the shared segment rewrite
(rewrite.py: `stage`, then `commit`, one `Catalog.replace` refused if an input was replaced meanwhile); the inputs
are removed by the janitor after the grace period, so a query that started before the swap still reads them.
Only local segments are compacted; in cluster mode, level-0 segments handed over to cross-node compaction
(segments/handoff.py) are left to the `compaction` lease holder (cluster/compactor.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from lynex_box.config import CompactionSettings
from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.lifecycle.rewrite import stage
from lynex_box.meta.catalog import CatalogConflict, SegmentEntry
from lynex_box.segments.handoff import kept_off

log = logging.getLogger("lynex.lifecycle.compaction")
US = 1_000_000


def plan(
    entries: list[SegmentEntry], settings: CompactionSettings, now_us: int = 0, handoff_after_s: float | None = None
) -> list[list[SegmentEntry]]:
    """The merges due now: lists of segments, each becoming one file; segments handed over to cross-node
    compaction at `now_us` (cluster mode, segments/handoff.py) are left to the `compaction` lease holder. Pure."""
    groups: dict[tuple[str, int, int], list[SegmentEntry]] = defaultdict(list)
    window_us = settings.window_s * US
    for e in entries:
        if kept_off(e, now_us, handoff_after_s):
            continue
        if e.location == "local" and e.bytes < settings.small_bytes:
            groups[(e.project_id, e.min_time // window_us, e.level)].append(e)
    merges: list[list[SegmentEntry]] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda e: (e.min_time, e.id))
        if len(group) < settings.min_segments:
            continue
        chunk: list[SegmentEntry] = []
        size = 0
        for e in group:
            if chunk and size + e.bytes > settings.max_bytes:
                merges.append(chunk)
                chunk, size = [], 0
            chunk.append(e)
            size += e.bytes
        if len(chunk) >= 2:
            merges.append(chunk)
    return [m for m in merges if len(m) >= 2]


def merge(ctx: LifecycleContext, inputs: list[SegmentEntry]) -> SegmentEntry | None:
    """Merge `inputs` (one project, all local) into one new segment and swap it in; returns it."""
    level = max(e.level for e in inputs) + 1
    staged = stage(ctx, inputs, dedupe=True, level=level)
    # The merged file is durable under its final name but no row names it: a crash here leaves an orphan that
    # start-up sweeps, and the inputs stay published. After the swap the inputs are `deleting`.
    crash_point("lifecycle.compaction.before_swap")
    staged.commit()  # refused (CatalogConflict): the merged file is removed and the error raised
    crash_point("lifecycle.compaction.after_swap")
    written = staged.written
    log.info(
        "segments compacted project=%s inputs=%d rows_in=%d rows_out=%d level=%d bytes_in=%d bytes_out=%d",
        inputs[0].project_id, len(inputs), sum(e.row_count for e in inputs), written.rows if written else 0, level,
        sum(e.bytes for e in inputs), written.bytes if written else 0,
    )  # fmt: skip
    return staged.new


def compaction_pass(ctx: LifecycleContext, max_bytes_out: int | None = None) -> int:
    """Run every merge due now; returns how many merges were made. `max_bytes_out` bounds the input of one pass
    (the disk guard passes the free space it can spare)."""
    done = 0
    budget = max_bytes_out
    after_s = ctx.settings.cluster.handoff_after_s()
    for inputs in plan(ctx.store.segment_entries(), ctx.settings.compaction, ctx.now_us(), after_s):
        if ctx.stopping.is_set():
            break
        size = sum(e.bytes for e in inputs)
        if budget is not None and size > budget:
            continue
        try:
            merge(ctx, inputs)
        except CatalogConflict as exc:
            log.info("compaction skipped a replaced group error=%s", exc)
            continue
        done += 1
        if budget is not None:
            budget -= size
    return done
