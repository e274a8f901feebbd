"""What every lifecycle pass works with: settings, the catalog and its swap, the bucket, scratch space.

`LifecycleContext` holds the catalog, the span store's in-memory view, meta.db, the visibility rules, the bucket
(or None), this node's id, the bucket cache and a DuckDB connection for rewrites. `swap` is the only way a pass
changes what queries see: one `Catalog.replace` transaction, then the same change in the store's view. Passes
run one at a time (the service's work lock), so the DuckDB connection is never shared between threads. The
segment rewrite the passes share is rewrite.py's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from ulid import ULID

from lynex_box import fsutil
from lynex_box.config import Settings
from lynex_box.lifecycle.cache import SegmentCache
from lynex_box.lifecycle.visibility import Visibility
from lynex_box.meta.catalog import Catalog, CatalogConflict, SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from lynex_box.query.shared import SharedSegments
from lynex_box.segments.encryption import ProjectCipher
from lynex_box.segments.handoff import kept_off
from lynex_box.segments.store import SpanStore


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
    shared: SharedSegments | None = None  # cluster mode: the other nodes' segments (read only, never rewritten)

    @property
    def scratch(self) -> Path:
        """Temporary files of lifecycle work (emptied on start)."""
        return fsutil.make_dir(self.work_dir / "tmp")

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def swap(self, old: list[SegmentEntry], new: list[SegmentEntry], refused: Callable[[], None] | None = None) -> None:
        """Replace `old` by `new` in the catalog (one transaction) and then in the store's view.

        `refused` runs when the transaction raised (a CatalogConflict, or an error of meta.db): it did not commit,
        so no row names `new` and the caller may remove their files. It does not run on an interruption
        (KeyboardInterrupt) while waiting for the writer thread, which may still commit: the files stay, and an
        unpublished one is swept as an orphan.

        In cluster mode a rewrite that writes new rows from a segment handed over to cross-node compaction
        (segments/handoff.py) is refused with a CatalogConflict, as if the input had been replaced meanwhile: only
        the `compaction` lease holder merges it now. Dropping such a segment whole, or moving it unchanged (same
        id), is allowed."""
        try:
            self._check_handoff(old, new)
            self.catalog.replace([e.id for e in old], new, self.now_us())
        except Exception:
            if refused is not None:
                refused()
            raise
        self.store.replace_entries([e.id for e in old], new)

    def _check_handoff(self, old: list[SegmentEntry], new: list[SegmentEntry]) -> None:
        after_s = self.settings.cluster.handoff_after_s()
        if after_s is None or {e.id for e in new} <= {e.id for e in old}:
            return
        now = self.now_us()
        given = [e.id for e in old if kept_off(e, now, after_s)]
        if given:
            raise CatalogConflict(
                f"segment(s) {', '.join(given)} are handed over to cross-node compaction; only the compaction lease "
                "holder merges them now"
            )

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


def open_duck(threads: int, memory_limit_mb: int, temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """The lifecycle's DuckDB for rewrites; it spills to `temp_dir` (DuckDB's default, `.tmp` in the working
    directory, when None)."""
    config: dict[str, str | int] = {"threads": threads, "memory_limit": f"{memory_limit_mb}MB"}
    if temp_dir is not None:
        config["temp_directory"] = str(temp_dir)
    conn = duckdb.connect(":memory:", config=config)
    conn.execute("SET TimeZone = 'UTC'")
    return conn
