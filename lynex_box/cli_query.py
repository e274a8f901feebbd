"""`lynex-box query`: a read-only query over one project's stored segments, beside a running server.

It reads the catalog and the published Parquet files only (not the server's in-memory head), so
it works while the server runs and never takes the data dir's writer lock.
"""

from __future__ import annotations

from typing import Any

from lynex_box.config import Settings
from lynex_box.meta.catalog import Catalog
from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import QueryEngine, SpanScope
from lynex_box.segments.store import SpanStore


def run_query(settings: Settings, project_id: str, sql: str) -> list[dict[str, Any]]:
    lowered = sql.strip().lower()
    if not (lowered.startswith("select") or lowered.startswith("with")) or ";" in sql.strip().rstrip(";"):
        raise ValueError("only a single SELECT statement over `spans` is allowed")
    db = MetaDB(settings.data_dir / "meta.db")
    try:
        store = SpanStore(settings.data_dir, Catalog(db), settings.head, settings.segments)
        engine = QueryEngine(store, settings.query)
        try:
            table = engine.run(SpanScope(project_id), sql)
        finally:
            engine.close()
        return table.to_pylist()
    finally:
        db.close()
