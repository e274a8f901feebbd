"""Scores in meta.db (`scores`): upserted by (project, id), listed by trace, span, session or name.

Scores live in SQLite, not in the span segments, because they are the opposite of spans: few, small, and
mutable — Langfuse updates a score by sending it again with the same id, and a reviewer corrects an
annotation — and they must be readable the moment they are acknowledged. The segments are append-only
columnar files built for millions of immutable rows; SQLite gives the upsert, the indexes by trace and name,
and a durable commit (synchronous=full) before the answer. Every statement here is scoped by project id,
which the caller takes from the API key, never from the score.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from lynex_box.meta.db import MetaDB
from lynex_box.scores.model import Score

_COLUMNS = (
    "id", "trace_id", "span_id", "session_id", "dataset_run_id", "name", "data_type", "value", "string_value",
    "comment", "source", "metadata", "environment", "config_id", "timestamp",
)  # fmt: skip
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM scores"


def upsert_scores(db: MetaDB, project_id: str, scores: Sequence[Score]) -> None:
    """Store each score under `project_id`, replacing one with the same id there; one transaction."""
    if not scores:
        return
    now = time.time_ns() // 1000
    names = ", ".join(_COLUMNS)
    marks = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
    sql = (
        f"INSERT INTO scores (project_id, {names}, created_at, updated_at) VALUES (?, {marks}, ?, ?) "
        f"ON CONFLICT (project_id, id) DO UPDATE SET {updates}, updated_at = excluded.updated_at"
    )

    def write(conn: apsw.Connection) -> None:
        for s in scores:
            conn.execute(
                sql,
                (project_id, s.id, s.trace_id, s.span_id, s.session_id, s.dataset_run_id, s.name, s.data_type,
                 s.value, s.string_value, s.comment, s.source, s.metadata, s.environment, s.config_id,
                 s.timestamp_us, now, now),
            )  # fmt: skip

    db.write(write)


def _score(row: tuple[Any, ...]) -> Score:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["timestamp_us"] = values.pop("timestamp")
    return Score(**values)


@dataclass(frozen=True, slots=True)
class ScoreFilter:
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    name: str | None = None


def list_scores(
    db: MetaDB, project_id: str, where: ScoreFilter, limit: int, before: tuple[int, str] | None = None
) -> list[Score]:
    """Newest first; `before` = (timestamp µs, id) of the last score of the previous page."""
    conds = ["project_id = ?"]
    params: list[Any] = [project_id]
    for column in ("trace_id", "span_id", "session_id", "name"):
        value = getattr(where, column)
        if value is not None:
            conds.append(f"{column} = ?")  # a column from the tuple above, never from the client
            params.append(value)
    if before is not None:
        conds.append("(timestamp < ? OR (timestamp = ? AND id < ?))")
        params.extend((before[0], before[0], before[1]))
    params.append(limit)
    rows = db.read(f"{_SELECT} WHERE {' AND '.join(conds)} ORDER BY timestamp DESC, id DESC LIMIT ?", tuple(params))
    return [_score(r) for r in rows]


def scores_for_trace(db: MetaDB, project_id: str, trace_id: str) -> list[Score]:
    """Every score of one trace (its spans' included), oldest first, as a trace view shows them."""
    rows = db.read(f"{_SELECT} WHERE project_id = ? AND trace_id = ? ORDER BY timestamp, id", (project_id, trace_id))
    return [_score(r) for r in rows]
