"""The lifecycle from a CLI process, read-only beside a running server.

`reader` builds the read path only (catalog, published segments, visibility hooks, a bucket cache in a temporary
directory of its own) without taking the data dir's lock, like `lynex-box query`. When no server holds the lock, a
command opens the full engine instead (`lynex_box.engine.engine_or_none`). This module builds from the parts below
the engine and never imports it: the engine builds the lifecycle. It may never touch the running server's cache or
head.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lynex_box import fsutil
from lynex_box.config import Settings
from lynex_box.lifecycle.service import Lifecycle
from lynex_box.meta.catalog import Catalog
from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import QueryEngine
from lynex_box.segments.datakeys import DataKeys
from lynex_box.segments.store import SpanStore


@dataclass(frozen=True, slots=True)
class Reader:
    db: MetaDB
    store: SpanStore
    query: QueryEngine
    lifecycle: Lifecycle
    work_dir: Path  # private (0700), removed on exit


@contextlib.contextmanager
def reader(settings: Settings) -> Iterator[Reader]:
    db = MetaDB(settings.data_dir / "meta.db")
    work = Path(tempfile.mkdtemp(prefix="lynex-cli-"))
    try:
        catalog = Catalog(db)
        store = SpanStore(settings.data_dir, catalog, settings.head, settings.segments)
        store.ciphers = DataKeys.open(settings.encryption, db, settings.data_dir).cipher  # encrypted projects
        spill = fsutil.make_dir(work / "duckdb")  # DuckDB spills apart from a running server's
        query = QueryEngine(store, settings.query, temp_dir=spill)
        lifecycle = Lifecycle(settings, db, catalog, store, query, work_dir=work, temp_dir=spill)
        try:
            yield Reader(db, store, query, lifecycle, work)
        finally:
            lifecycle.close()
            query.close()
    finally:
        db.close()
        shutil.rmtree(work, ignore_errors=True)
