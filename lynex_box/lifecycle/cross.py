"""The storage side of cross-node compaction (cluster mode): the `compaction` lease holder's merge of segments
several nodes handed over, and an owner's drop of its segments that such a merge replaced.

`merge_shared` rewrites the given segments (read from the bucket through the cache, whichever node owns them) into
one new segment of this node, uploaded under this node's prefix and verified before any row names it, then swaps it
into this node's catalog as a bucket segment, retiring the inputs this node owns in the same transaction. From then
on it is this node's own segment: retention, deletions, offload's cache and the janitor treat it as any other. The
other owners' inputs are not touched here: each owner drops them itself (`drop_replaced`) when asked
(cluster/compactor.py). `drop_replaced` retires rows without a replacement in this catalog; the janitor removes
their files and bucket copies after the grace period, as after a local rewrite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.lifecycle.rewrite import stage
from lynex_box.meta.catalog import SegmentEntry

log = logging.getLogger("lynex.lifecycle.cross")


def merge_shared(
    ctx: LifecycleContext,
    inputs: list[SegmentEntry],
    own_ids: list[str],
    before_swap: Callable[[SegmentEntry], bool],
) -> SegmentEntry | None:
    """Merge `inputs` (one project; bucket segments as manifests list them) into a new segment of this node and swap
    it in, retiring `own_ids` (those of `inputs` in this node's catalog). `before_swap(new)` is asked once the new
    segment is uploaded and verified: False (the lease was lost meanwhile) discards it and nothing changes. Returns
    the new segment, or None when nothing was swapped in (no visible row left, or refused). Raises CatalogConflict
    when one of `own_ids` was replaced meanwhile (the new object is removed)."""
    level = max(e.level for e in inputs) + 1
    staged = stage(ctx, inputs, dedupe=True, level=level)
    new = staged.new
    if new is None:  # every row is hidden (expired, deleted): nothing to publish; the owners' passes drop them
        return None
    if not before_swap(new):
        staged.discard()
        return None
    try:
        ctx.catalog.replace(own_ids, [new], ctx.now_us())
    except Exception:
        staged.discard()
        raise
    ctx.store.replace_entries(own_ids, [new])
    log.info(
        "segments merged across nodes project=%s inputs=%d own=%d rows_in=%d rows_out=%d level=%d bytes_out=%d",
        new.project_id, len(inputs), len(own_ids), sum(e.row_count for e in inputs), new.row_count, level, new.bytes,
    )  # fmt: skip
    return new


def drop_replaced(ctx: LifecycleContext, ids: set[str]) -> int:
    """Retire this node's published segments among `ids` (another node's merge holds their rows); returns how many.
    Their files and bucket copies go after the grace period (janitor)."""
    gone = [e for e in ctx.store.segment_entries() if e.id in ids]
    if gone:
        ctx.swap(gone, [])
        log.info("segments dropped, merged by the compaction lease holder count=%d", len(gone))
    return len(gone)
