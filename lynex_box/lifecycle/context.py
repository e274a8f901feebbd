"""What every lifecycle pass works with, and the one operation they share: rewriting one segment.

`LifecycleContext` holds the catalog, the span store's in-memory view, meta.db, the visibility rules, the bucket
(or None), this node's id, the bucket cache and a DuckDB connection for rewrites. `swap` is the only way a pass
changes what queries see: one `Catalog.replace` transaction, then the same change in the store's view. Passes
run one at a time (the service's work lock), so the DuckDB connection is never shared between threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from ulid import ULID

from lynex_box.config import Settings
from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.bucket import segment_key, upload_verified
from lynex_box.lifecycle.cache import SegmentCache
from lynex_box.lifecycle.rewrite import new_entry, rewrite_files
from lynex_box.lifecycle.visibility import Visibility
from lynex_box.meta.catalog import Catalog, SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from lynex_box.segments.encryption import ProjectCipher
from lynex_box.segments.store import SpanStore

log = logging.getLogger("lynex.lifecycle")


@dataclass(slots=True)
class LifecycleContext:
    settings: Settings
    data_dir: Path
    db: MetaDB
    catalog: Catalog
    store: SpanStore
    visibility: Visibility
    bucket: ObjectStore | None
    node_id: str
    cache: SegmentCache | None
    duck: duckdb.DuckDBPyConnection
    work_dir: Path
    clock: Callable[[], float] = time.time
    stopping: threading.Event = field(default_factory=threading.Event)  # set on shutdown: passes end early

    @property
    def scratch(self) -> Path:
        """Temporary files of lifecycle work (emptied on start)."""
        path = self.work_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def swap(self, old: list[SegmentEntry], new: list[SegmentEntry]) -> None:
        """Replace `old` by `new` in the catalog (one transaction) and then in the store's view."""
        self.catalog.replace([e.id for e in old], new, self.now_us())
        self.store.replace_entries([e.id for e in old], new)

    def cipher(self, project_id: str) -> ProjectCipher | None:
        """The project's segment key when it is encrypted (raises KeyUnavailable when it is locked on this node)."""
        ciphers = self.store.ciphers
        return ciphers(project_id) if ciphers is not None else None

    def new_local(self, project_id: str) -> tuple[str, str, Path]:
        """A fresh segment id, its path relative to the data dir, and the absolute path."""
        segment_id = str(ULID())
        rel = f"segments/{project_id}/{segment_id}.parquet"
        return segment_id, rel, self.data_dir / rel

    @contextlib.contextmanager
    def readable(self, entries: list[SegmentEntry]) -> Iterator[list[Path]]:
        """Local paths of `entries`, fetching remote ones through the cache for the duration."""
        remote = [e for e in entries if e.location == "remote"]
        if remote and self.cache is None:
            raise RuntimeError("segments are in the bucket but no bucket is configured; hint: set [bucket]")
        with contextlib.ExitStack() as stack:
            fetched = stack.enter_context(self.cache.acquire(remote)) if remote and self.cache else []
            fetched_by_id = dict(zip((e.id for e in remote), fetched, strict=True))
            yield [fetched_by_id[e.id] if e.location == "remote" else self.data_dir / e.path for e in entries]


def open_duck(threads: int, memory_limit_mb: int) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": f"{memory_limit_mb}MB"})
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def rewrite_segment(ctx: LifecycleContext, entry: SegmentEntry) -> SegmentEntry | None:
    """Rewrite one segment keeping only the rows queries may see; returns its replacement (None: no rows left).

    A local segment is rewritten in place of itself; a remote one is fetched, rewritten in the scratch dir,
    uploaded under a new key and verified before the swap. The old file goes after the grace period.
    """
    keep, params = ctx.visibility.keep_condition(entry.project_id)
    segment_id, rel, final = ctx.new_local(entry.project_id)
    remote = entry.location == "remote"
    out = ctx.scratch / f"{segment_id}.parquet" if remote else final
    with ctx.readable([entry]) as paths:
        written = rewrite_files(
            ctx.duck, paths, out, keep, params, ctx.settings.segments, cipher=ctx.cipher(entry.project_id)
        )
    key = segment_key(ctx.node_id, entry.project_id, segment_id)
    uploaded = False
    try:
        replacement: SegmentEntry | None = None
        if written is not None and remote:
            assert ctx.bucket is not None
            uploaded = True
            checksum = upload_verified(ctx.bucket, key, out, ctx.scratch)
            replacement = new_entry(
                entry.project_id, segment_id, key, written, entry.level,
                location="remote", remote_key=key, checksum=checksum,
            )  # fmt: skip
        elif written is not None:
            replacement = new_entry(entry.project_id, segment_id, rel, written, entry.level)
        ctx.swap([entry], [replacement] if replacement else [])
        # Swapped: the old file is `deleting` and still on disk until the janitor's turn.
        crash_point("lifecycle.rewrite.after_swap")
    except Exception:
        if not remote:
            out.unlink(missing_ok=True)  # never published: nothing can be reading it
        if uploaded and ctx.bucket is not None:
            with contextlib.suppress(Exception):
                ctx.bucket.delete(key)  # best effort: an unpublished object no row names
        raise
    finally:
        if remote:
            out.unlink(missing_ok=True)
    log.info(
        "segment rewritten id=%s project=%s rows_before=%d rows_after=%d location=%s",
        entry.id, entry.project_id, entry.row_count, written.rows if written else 0, entry.location,
    )  # fmt: skip
    return replacement
