"""Retention: spans older than their project's retention leave local disk and the bucket.

Queries already hide them (visibility.py) from the moment they expire; this pass makes it true on disk. A
segment wholly older than the cutoff is dropped from the catalog in one transaction (its files go after the
grace period); a segment that straddles the cutoff is rewritten without its expired rows, local or remote.
Retention days come from the project (`projects.retention_days`, set by the API or `lynex-box projects
set-retention`), else from `[retention] days`; 0 keeps data forever.
"""

from __future__ import annotations

import logging

from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.lifecycle.rewrite import rewrite_segment
from lynex_box.meta.catalog import CatalogConflict
from lynex_box.segments.handoff import kept_off

log = logging.getLogger("lynex.lifecycle.retention")


def retention_pass(ctx: LifecycleContext) -> dict[str, int]:
    """Apply retention to every project with segments; returns counts of dropped and rewritten segments."""
    dropped = rewritten = 0
    entries = ctx.store.segment_entries()
    now, after_s = ctx.now_us(), ctx.settings.cluster.handoff_after_s()
    for project_id in sorted({e.project_id for e in entries}):
        cutoff = ctx.visibility.cutoff(project_id)
        if cutoff is None:
            continue
        mine = [e for e in entries if e.project_id == project_id]
        expired = [e for e in mine if e.max_time < cutoff]
        if expired:
            try:
                ctx.swap(expired, [])
                crash_point("lifecycle.retention.after_drop")  # dropped, straddling segments not yet rewritten
                dropped += len(expired)
            except CatalogConflict as exc:
                log.info("retention skipped replaced segments project=%s error=%s", project_id, exc)
        for e in mine:
            if kept_off(e, now, after_s):
                continue  # handed over to cross-node compaction: its rows past the cutoff stay hidden until merged
            if e.min_time < cutoff <= e.max_time:
                try:
                    rewrite_segment(ctx, e)
                    rewritten += 1
                except CatalogConflict as exc:
                    log.info("retention skipped a replaced segment id=%s error=%s", e.id, exc)
        if expired:
            log.info("retention applied project=%s cutoff_us=%d dropped=%d", project_id, cutoff, len(expired))
    return {"dropped": dropped, "rewritten": rewritten}
