"""Repricing: recompute the cost of a project's stored spans in a time range with the prices of now.

Segments are immutable, so repricing is a rewrite: every file of the project that holds spans of the range is
rewritten through the shared segment rewrite (`rewrite.stage`) with a batch transform that recomputes their
costs, and all the new files replace the old ones in ONE catalog transaction (`rewrite.commit`): a query sees
every old cost or every new one, never a mix. Crash safety is compaction's: new files are durable under their
final names before the swap, a crash before it leaves orphans that start-up (local) or the bucket sweep (remote)
removes, and the replaced files stay for the janitor's grace period. A file in which no cost changes is not replaced.

The rule is the one the pipeline prices spans with (pricing/spans.py, here masked to the range): a span with
`cost_source = 'reported'` keeps its cost; any other span with a model and token counts gets the cost of the
current prices (library + the project's custom prices) and `'computed'`, or no cost and `'none'` when its model
cannot be priced. Cache-write tokens are not stored, so they are priced as plain input (they are counted in
`input_tokens`); the ingest-time price of a span that had them was the exact one. Spans still in the head are
published first (`publish_head`), so they are repriced too. Nothing here may run on the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.lifecycle.rewrite import Staged, commit, stage
from lynex_box.meta.catalog import CatalogConflict, SegmentEntry
from lynex_box.pricing import PriceBook
from lynex_box.pricing.spans import COST_COLUMNS, price_table
from lynex_box.segments.store import SpanStore

log = logging.getLogger("lynex.lifecycle.reprice")

Progress = Callable[[int, int], None]  # (files done, files in range)


class RepriceError(RuntimeError):
    """A repricing that cannot run now; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class RepriceResult:
    """`files` in the range, `rewritten` of them replaced, `spans` whose cost changed, `repriced` spans looked at."""

    files: int
    rewritten: int
    spans: int
    repriced: int

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "rewritten": self.rewritten, "spans_changed": self.spans, "spans": self.repriced}


def reprice_batch(batch: pa.RecordBatch, book: PriceBook, from_us: int, to_us: int) -> tuple[pa.RecordBatch, int, int]:
    """The batch with the costs of its non-reported spans in `[from_us, to_us)` recomputed (the cost rule of
    pricing/spans.py, masked to the range); also how many rows were looked at (in the range, not reported) and
    how many changed. A batch in which nothing changed is returned as it was. Pure."""
    start = batch.column("start_time").cast(pa.int64())
    in_range = pc.and_(pc.greater_equal(start, from_us), pc.less(start, to_us))
    reported = pc.fill_null(pc.equal(batch.column("cost_source"), "reported"), False)
    seen = pc.sum(pc.and_(in_range, pc.invert(reported))).as_py() or 0
    if not seen:
        return batch, 0, 0
    table = pa.Table.from_batches([batch])
    repriced = price_table(table, book, mask=in_range)
    changed = _changed_rows(table, repriced)
    if not changed:
        return batch, seen, 0
    arrays = [column.combine_chunks() for column in repriced.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema), seen, changed


def _changed_rows(before: pa.Table, after: pa.Table) -> int:
    """Rows whose cost columns differ; null equals null, and a NaN left in place equals itself."""
    differs = pa.array(np.zeros(before.num_rows, np.bool_))
    for name in COST_COLUMNS:
        old, new = before[name].combine_chunks(), after[name].combine_chunks()
        same = pc.or_(pc.fill_null(pc.equal(old, new), False), pc.and_(pc.is_null(old), pc.is_null(new)))
        if pa.types.is_floating(old.type):
            same = pc.or_(same, pc.fill_null(pc.and_(pc.is_nan(old), pc.is_nan(new)), False))
        differs = pc.or_(differs, pc.invert(same))
    return int(pc.sum(differs).as_py() or 0)


def publish_head(
    store: SpanStore, durable_lsn: Callable[[], int], flush: Callable[[], object], timeout_s: float = 60.0
) -> None:
    """Publish every span acknowledged until now: wait until the pipeline has taken the WAL up to the durable
    position into the head (it runs on its own task), then flush the head to segments."""
    target = durable_lsn()
    deadline = time.monotonic() + timeout_s
    while store.next_lsn <= target:
        if time.monotonic() > deadline:
            raise RepriceError(
                f"the pipeline has not caught up with the WAL (at {store.next_lsn - 1}, durable {target}) within "
                f"{timeout_s:.0f} s; hint: retry when ingest is quieter"
            )
        time.sleep(0.02)
    flush()


@dataclass(slots=True)
class _Counts:
    seen: int = 0
    changed: int = 0


def _stage(
    ctx: LifecycleContext, entry: SegmentEntry, book: PriceBook, from_us: int, to_us: int
) -> tuple[Staged, _Counts]:
    """Write the repriced copy of one segment (uploaded, for a bucket segment), skipped when no cost changed; and
    how many of its spans were looked at and changed."""
    counts = _Counts()

    def transform(batch: pa.RecordBatch) -> pa.RecordBatch:
        out, seen, changed = reprice_batch(batch, book, from_us, to_us)
        counts.seen += seen
        counts.changed += changed
        return out

    return stage(ctx, [entry], transform=transform, skip_if=lambda: not counts.changed), counts


def reprice_pass(
    ctx: LifecycleContext,
    project_id: str,
    from_us: int,
    to_us: int,
    book: PriceBook,
    progress: Progress | None = None,
) -> RepriceResult:
    """Rewrite the project's segments holding spans of `[from_us, to_us)` with recomputed costs and swap them all
    in at once. Run it under the lifecycle's work lock, after `publish_head`."""
    entries = sorted(
        (e for e in ctx.store.segment_entries(project_id) if e.max_time >= from_us and e.min_time < to_us),
        key=lambda e: (e.min_time, e.id),
    )
    staged: list[Staged] = []
    counts: list[_Counts] = []
    try:
        for done, entry in enumerate(entries, 1):
            if ctx.stopping.is_set():
                raise RepriceError("the server is stopping; nothing was repriced; hint: run it again after the start")
            one, count = _stage(ctx, entry, book, from_us, to_us)
            staged.append(one)
            counts.append(count)
            if progress is not None:
                progress(done, len(entries))
    except BaseException:
        for one in staged:
            one.discard()  # no row names them yet
        raise
    # Every new file is durable under its final name (or verified in the bucket) and no row names it yet: a
    # crash here leaves orphans for start-up / the bucket sweep, and every old file stays published.
    crash_point("lifecycle.reprice.before_swap")
    try:
        commit(ctx, staged)  # every changed file in one transaction; refused: the new files are removed
    except CatalogConflict as exc:
        raise RepriceError(f"a segment was replaced while repricing ({exc}); hint: run it again") from None
    crash_point("lifecycle.reprice.after_swap")
    replaced = sum(not s.skipped for s in staged)
    result = RepriceResult(len(entries), replaced, sum(c.changed for c in counts), sum(c.seen for c in counts))
    log.info(
        "costs repriced project=%s from_us=%d to_us=%d files=%d rewritten=%d spans=%d changed=%d",
        project_id, from_us, to_us, result.files, result.rewritten, result.repriced, result.spans,
    )  # fmt: skip
    return result
