"""`lynex-box query`: a read-only query over one project's stored segments, beside a running server.

It reads the catalog and the published Parquet files only (not the server's in-memory head), so
it works while the server runs and never takes the data dir's writer lock.
"""

from __future__ import annotations

from typing import Any

from lynex_box.config import Settings
from lynex_box.lifecycle.standalone import reader
from lynex_box.query.engine import SpanScope


def run_query(settings: Settings, project_id: str, sql: str) -> list[dict[str, Any]]:
    lowered = sql.strip().lower()
    if not (lowered.startswith("select") or lowered.startswith("with")) or ";" in sql.strip().rstrip(";"):
        raise ValueError("only a single SELECT statement over `spans` is allowed")
    with reader(settings) as read:  # retention, deletions and bucket segments apply as in the server
        rows: list[dict[str, Any]] = read.query.run(SpanScope(project_id), sql).to_pylist()
        return rows
