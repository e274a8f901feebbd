"""Offload of cold segments to the bucket, and rehydration (pinning a range back to local disk).

Offload, per segment, oldest first: upload under `segments/<node_id>/<project>/<id>.parquet`, read it back and
compare size and SHA-256 (bucket.upload_verified), then one catalog transaction replaces the local row by a
remote one; the local file goes after the grace period (a query may still be reading it). A bucket error ends
the pass and leaves every not-yet-switched segment local, to be retried next pass: nothing is lost and nothing
but offload waits on the bucket. An object whose upload or read-back was cut off is never switched to (the next
pass uploads under a new key; the janitor removes the orphan). A segment that already has a bucket copy (a
rehydrated or backed-up one) is switched without uploading again only once that copy, downloaded, has the
catalog's size and SHA-256.

The hot window is the project's own (`projects.hot_window_s`, set by the API or `lynex-box projects
set-hot-window`), else `[offload] hot_window_s`.

Rehydration records a pinned range (table `pinned_ranges`): remote segments overlapping it are fetched,
verified and switched back to local (keeping their bucket copy), and offload leaves pinned ranges alone until
they are unpinned. The running server applies new pins on its next offload pass; the CLI applies them at once
when no server holds the data dir.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import apsw
from ulid import ULID

from lynex_box import fsutil
from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.bucket import VerifyFailed, download_verified, has_verified_copy, segment_key, upload_verified
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.meta.catalog import CatalogConflict, SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStoreError
from lynex_box.segments.handoff import kept_off

log = logging.getLogger("lynex.lifecycle.offload")


@dataclass(frozen=True, slots=True)
class Pin:
    id: int
    project_id: str
    from_us: int
    to_us: int


def pin(db: MetaDB, project_id: str, from_us: int, to_us: int, now_us: int) -> int:
    if to_us <= from_us:
        raise ValueError(f"the range is empty: from {from_us} is not before to {to_us}")

    def tx(conn: apsw.Connection) -> int:
        conn.execute(
            "INSERT INTO pinned_ranges (project_id, from_us, to_us, created_at) VALUES (?, ?, ?, ?)",
            (project_id, from_us, to_us, now_us),
        )
        return int(conn.last_insert_rowid())

    return db.write(tx)


def unpin(db: MetaDB, project_id: str) -> int:
    """Release every pinned range of a project; offload may move it again. Returns how many were released."""

    def tx(conn: apsw.Connection) -> int:
        conn.execute("DELETE FROM pinned_ranges WHERE project_id = ?", (project_id,))
        return int(conn.changes())

    return db.write(tx)


def pins(db: MetaDB) -> list[Pin]:
    return [Pin(*row) for row in db.read("SELECT id, project_id, from_us, to_us FROM pinned_ranges ORDER BY id")]


def _pinned(entry: SegmentEntry, ranges: list[Pin]) -> bool:
    return any(
        p.project_id == entry.project_id and entry.min_time < p.to_us and entry.max_time >= p.from_us for p in ranges
    )


def hot_windows(db: MetaDB) -> dict[str, int]:
    """Projects' own hot windows (seconds); a project not listed uses `[offload] hot_window_s`."""
    return {str(p): int(s) for p, s in db.read("SELECT id, hot_window_s FROM projects WHERE hot_window_s IS NOT NULL")}


def offload_pass(ctx: LifecycleContext, urgent: Callable[[], bool] | None = None) -> int:
    """Move segments past their project's hot window to the bucket; returns how many moved.

    With `urgent` (the disk guard), the hot window is ignored and segments go oldest first while it says so.
    """
    if ctx.bucket is None:
        return 0
    now, default, own = ctx.now_us(), ctx.settings.offload.hot_window_s, hot_windows(ctx.db)
    ranges = pins(ctx.db)
    after_s = ctx.settings.cluster.handoff_after_s()  # a segment handed over to cross-node compaction stays put
    local = [
        e for e in ctx.store.segment_entries()
        if e.location == "local" and not _pinned(e, ranges) and not kept_off(e, now, after_s)
    ]  # fmt: skip
    if urgent is None:
        local = [e for e in local if e.max_time < now - own.get(e.project_id, default) * 1_000_000]
    moved = 0
    for entry in sorted(local, key=lambda e: (e.max_time, e.id)):
        if ctx.stopping.is_set() or (urgent is not None and not urgent()):
            break
        try:
            offload_one(ctx, entry)
        except CatalogConflict:
            continue  # compacted or rewritten meanwhile: its replacement is offloaded when due
        except (ObjectStoreError, OSError, VerifyFailed) as exc:
            # A transfer cut off or read back wrong: nothing was switched, so the segment is still only local.
            log.warning("offload paused: the bucket is unavailable; segments stay local and are retried error=%s", exc)
            break
        moved += 1
    if moved:
        log.info("segments offloaded count=%d", moved)
    return moved


def offload_one(ctx: LifecycleContext, entry: SegmentEntry) -> SegmentEntry:
    assert ctx.bucket is not None
    segment_id = str(ULID())
    path = ctx.data_dir / entry.path
    key, checksum = entry.remote_key, entry.checksum
    if key is None or checksum is None or not has_verified_copy(ctx.bucket, key, entry.bytes, checksum, ctx.scratch):
        key = segment_key(ctx.node_id, entry.project_id, segment_id)
        checksum = upload_verified(ctx.bucket, key, path, ctx.scratch)
    remote = dataclasses.replace(
        entry, id=segment_id, path=key, location="remote", remote_key=key, checksum=checksum,
        created_at=ctx.now_us(),
    )  # fmt: skip
    # Uploaded and verified, not yet switched: a crash here leaves the segment local and published, and an
    # object no row names (removed by nobody; harmless, and overwritten by nothing since ids are unique).
    crash_point("lifecycle.offload.before_swap")
    ctx.swap([entry], [remote])
    crash_point("lifecycle.offload.after_swap")  # switched; the local file waits for the janitor
    return remote


def rehydrate_pass(ctx: LifecycleContext) -> int:
    """Fetch remote segments overlapping pinned ranges back to local disk; returns how many."""
    ranges = pins(ctx.db)
    if not ranges or ctx.bucket is None:
        return 0
    remote = [e for e in ctx.store.segment_entries() if e.location == "remote" and _pinned(e, ranges)]
    done = 0
    for entry in sorted(remote, key=lambda e: (e.min_time, e.id)):
        if ctx.stopping.is_set():
            break
        free = shutil.disk_usage(ctx.data_dir).free
        if free - entry.bytes < ctx.settings.lifecycle.disk_pressure_free_bytes:
            log.warning("rehydration paused: not enough free disk free=%d needed=%d", free, entry.bytes)
            break
        try:
            rehydrate_one(ctx, entry)
        except CatalogConflict:
            continue
        done += 1
    if done:
        log.info("segments rehydrated count=%d", done)
    return done


def rehydrate_one(ctx: LifecycleContext, entry: SegmentEntry) -> SegmentEntry:
    assert ctx.bucket is not None
    segment_id, rel, final = ctx.new_local(entry.project_id)
    key = entry.remote_key or entry.path
    tmp = ctx.scratch / f"{segment_id}.parquet"
    try:
        download_verified(ctx.bucket, key, tmp, entry.bytes, entry.checksum)
        fsutil.make_dir(final.parent)
        fsutil.rename_durably(tmp, final)  # same filesystem; the name is made durable before the catalog names it
        local = dataclasses.replace(
            entry, id=segment_id, path=rel, location="local", remote_key=key, created_at=ctx.now_us()
        )
        ctx.swap([entry], [local])
    except BaseException:
        tmp.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise
    return local
