"""The second phase of every replacement: files of catalog rows in state `deleting` are removed after the grace
period, then the rows themselves.

A local file goes once the grace period is over (queries that started before the swap have had that long).
A bucket object goes only when no published row and no kept backup still names it (a rehydrated segment keeps
its bucket copy; backups reference objects, see backup.py). A row stays until all of its files are gone, so a
bucket outage only delays the cleanup. `sweep_bucket` removes objects under this node's segment prefix that no
row and no kept backup names (an upload whose catalog switch never happened: a crash, a refused swap), once
they are older than `min_age_s`. It must never remove anything a published row names.
"""

from __future__ import annotations

import datetime as dt
import logging

from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.objstore import ObjectStoreError

log = logging.getLogger("lynex.lifecycle.janitor")


def janitor_pass(ctx: LifecycleContext, grace_s: float | None = None) -> int:
    """Remove what the grace period allows; returns how many rows were cleared."""
    grace_us = int((ctx.settings.lifecycle.grace_period_s if grace_s is None else grace_s) * 1_000_000)
    horizon = ctx.now_us() - grace_us
    cleared = 0
    for row in ctx.catalog.deleting():
        if row.deleting_at > horizon:
            break  # ordered by deleting_at: the rest are younger
        if row.location == "local":
            (ctx.data_dir / row.path).unlink(missing_ok=True)
        key = row.remote_key or (row.path if row.location == "remote" else None)
        if key is not None and not ctx.catalog.key_in_use(key):
            if ctx.bucket is None:
                log.warning("bucket object not removed: no bucket configured key=%s", key)
                continue
            try:
                ctx.bucket.delete(key)
            except ObjectStoreError as exc:
                log.warning("bucket object not removed yet; retried next pass key=%s error=%s", key, exc.detail)
                continue
        crash_point("lifecycle.janitor.before_forget")  # files gone, the row not yet: removing them again is a no-op
        ctx.catalog.forget(row.id)
        cleared += 1
    if cleared:
        log.info("replaced segments cleared count=%d", cleared)
    return cleared


def sweep_bucket(ctx: LifecycleContext, min_age_s: float = 86_400.0) -> int:
    """Remove this node's segment objects that nothing names any more; returns how many."""
    if ctx.bucket is None:
        return 0
    named = {
        key
        for (key,) in ctx.db.read(
            "SELECT path FROM segments WHERE location = 'remote' UNION SELECT remote_key FROM segments "
            "WHERE remote_key IS NOT NULL UNION SELECT key FROM backup_objects"
        )
    }
    horizon = dt.datetime.fromtimestamp(ctx.clock() - min_age_s, dt.UTC)
    removed = 0
    try:
        for meta in ctx.bucket.list(f"segments/{ctx.node_id}"):
            if meta.key not in named and meta.last_modified < horizon:
                ctx.bucket.delete(meta.key)
                removed += 1
    except ObjectStoreError as exc:
        log.warning("bucket sweep paused; retried next pass error=%s", exc.detail)
    if removed:
        log.info("orphaned bucket objects removed count=%d", removed)
    return removed
