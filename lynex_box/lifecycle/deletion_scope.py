"""What a user's or a session's deletion covers beyond its own column, found in the stored spans.

Child spans seldom carry `user_id` or `session_id`, yet they hold the user's prompts and answers. So an end user
U's deletion (the GDPR erasure) covers, besides every span naming U:
- the traces of U: every trace with a span naming U;
- the sessions of U: the sessions of spans naming U, and of spans naming no user in the traces of U;
- every trace with a span naming no user in a session of U;
and the spans naming no user in those traces and sessions go with U's own spans. Spans that name another user
stay: they are that user's data. A session's deletion covers every trace with a span in the session.

The scope is found with a query engine that applies no visibility rules (the tombstone hides the very spans the
scope is found from), one window of segments at a time, so that bucket segments pass through the bounded cache.
It is looked up when the deletion is requested, so queries hide the whole of it at once, and again by the purge
once every span acknowledged before the request is in a segment. Values found are added, never removed.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import apsw

from lynex_box.lifecycle.visibility import Tombstone
from lynex_box.meta.catalog import SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import QueryEngine, SpanScope

log = logging.getLogger("lynex.lifecycle.deletion")

USER_SPANS = "SELECT DISTINCT trace_id, session_id FROM spans WHERE user_id = $who"
SESSIONS_OF_TRACES = (
    "SELECT DISTINCT session_id FROM spans WHERE user_id IS NULL AND session_id IS NOT NULL "
    "AND trace_id IN (SELECT unnest($traces::VARCHAR[]))"
)
TRACES_OF_SESSIONS = (
    "SELECT DISTINCT trace_id FROM spans WHERE user_id IS NULL AND session_id IN (SELECT unnest($sessions::VARCHAR[]))"
)
SESSION_TRACES = "SELECT DISTINCT trace_id FROM spans WHERE session_id = $who"


@dataclass(frozen=True, slots=True)
class Found:
    traces: set[str]
    sessions: set[str]


def windows(entries: list[SegmentEntry], budget_bytes: int) -> list[tuple[int | None, int | None]]:
    """Time windows that together cover all time, each overlapping bucket segments of about `budget_bytes` at
    most (local segments cost the cache nothing). The first and last are open, so the head is always read."""
    bounds: list[int] = []
    held = 0
    for entry in sorted(entries, key=lambda e: (e.min_time, e.id)):
        size = entry.bytes if entry.location == "remote" else 0
        if held and held + size > budget_bytes:
            bounds.append(entry.min_time)
            held = 0
        held += size
    edges: list[int | None] = [None, *sorted(set(bounds)), None]
    return list(itertools.pairwise(edges))


def _column(engine: QueryEngine, project_id: str, spans: list[tuple[int | None, int | None]], sql: str,
            params: dict[str, object]) -> list[tuple[str | None, ...]]:  # fmt: skip
    out: list[tuple[str | None, ...]] = []
    for lo, hi in spans:
        table = engine.run(SpanScope(project_id, lo, hi), sql, dict(params))
        out += list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))
    return out


def find(engine: QueryEngine, entries: list[SegmentEntry], tomb: Tombstone, budget_bytes: int) -> Found:
    """The traces and sessions `tomb` covers beyond its own value (empty for a trace tombstone)."""
    spans = windows([e for e in entries if e.project_id == tomb.project_id], budget_bytes)
    pid = tomb.project_id
    if tomb.kind == "session":
        rows = _column(engine, pid, spans, SESSION_TRACES, {"who": tomb.value})
        return Found({r[0] for r in rows if r[0] is not None}, set())
    if tomb.kind != "user":
        return Found(set(), set())
    own = _column(engine, pid, spans, USER_SPANS, {"who": tomb.value})
    traces = {r[0] for r in own if r[0] is not None}
    sessions = {r[1] for r in own if r[1] is not None}
    if traces:
        sessions |= {r[0] for r in _column(engine, pid, spans, SESSIONS_OF_TRACES, {"traces": sorted(traces)})
                     if r[0] is not None}  # fmt: skip
    if sessions:
        traces |= {r[0] for r in _column(engine, pid, spans, TRACES_OF_SESSIONS, {"sessions": sorted(sessions)})
                   if r[0] is not None}  # fmt: skip
    return Found(traces, sessions)


def record(db: MetaDB, tomb: Tombstone, found: Found) -> int:
    """Add what was found to the tombstone's scope (one transaction); returns how many values are new."""
    rows = [(tomb.id, "trace", v) for v in sorted(found.traces)] + [
        (tomb.id, "session", v) for v in sorted(found.sessions)
    ]

    def tx(conn: apsw.Connection) -> int:
        if not list(conn.execute("SELECT 1 FROM tombstones WHERE id = ?", (tomb.id,))):
            return 0  # purged meanwhile: a scope without its tombstone would hide nothing and linger
        before = conn.total_changes()
        conn.executemany(
            "INSERT INTO tombstone_scope (tombstone_id, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows
        )
        return int(conn.total_changes() - before)

    return db.write(tx) if rows else 0


def drop(conn: apsw.Connection, tomb_id: int) -> None:
    conn.execute("DELETE FROM tombstone_scope WHERE tombstone_id = ?", (tomb_id,))
