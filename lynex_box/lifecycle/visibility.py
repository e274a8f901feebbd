"""What queries must not see: spans past their project's retention and spans of a pending deletion.

The same predicate hides rows from queries at once (a `Restriction` applied inside the query engine's `spans`
relation) and removes them from files later (compaction and the rewrites keep only rows it leaves visible), so a
file rewrite never changes a query result. Reads meta.db on each call, so a retention change or a deletion made
by the CLI in another process takes effect on the next query. It must never write.

What a deletion hides (docs/api.md): a trace tombstone every span of the trace; a session tombstone every span of
the session and of the traces in it; a user tombstone every span naming the user, and the spans naming no user
in the traces and sessions found to be the user's (`tombstone_scope`, deletion_scope.py). Spans that name
another user are never hidden by a user's deletion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import Restriction

US_PER_DAY: Final = 86_400_000_000
KIND_COLUMNS: Final = {"trace": "trace_id", "session": "session_id", "user": "user_id"}
# Up to this many values a list is tested with list_contains (cheapest for a few); longer lists as a hash
# semi-join (list_contains scans the list for every row: 1,000 trace ids cost seconds per million rows).
INLINE_VALUES: Final = 64


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A deletion of every span of one trace, session or end user of a project, until files no longer hold them.

    `wal_lsn` is stamped by the engine once it has seen the tombstone: every span acknowledged before the deletion
    has an LSN at or below it, so once the catalog has consumed that far, those spans are in segments.
    """

    id: int
    project_id: str
    kind: str
    value: str
    created_at: int
    due_at: int
    wal_lsn: int | None


_TOMBSTONE_COLUMNS = "id, project_id, kind, value, created_at, due_at, wal_lsn"


def read_tombstones(db: MetaDB, project_id: str | None = None) -> list[Tombstone]:
    if project_id is None:
        rows = db.read(f"SELECT {_TOMBSTONE_COLUMNS} FROM tombstones ORDER BY id")
    else:
        rows = db.read(f"SELECT {_TOMBSTONE_COLUMNS} FROM tombstones WHERE project_id = ? ORDER BY id", (project_id,))
    return [Tombstone(*row) for row in rows]


@dataclass(slots=True)
class Scope:
    """The traces and sessions a set of tombstones covers beyond their own values (`tombstone_scope`)."""

    traces: dict[int, set[str]] = field(default_factory=dict)  # tombstone id -> trace ids
    sessions: dict[int, set[str]] = field(default_factory=dict)  # tombstone id -> session ids


def read_scope(db: MetaDB, project_id: str | None = None) -> Scope:
    sql = "SELECT s.tombstone_id, s.kind, s.value FROM tombstone_scope s JOIN tombstones t ON t.id = s.tombstone_id"
    rows = db.read(sql + " WHERE t.project_id = ?", (project_id,)) if project_id is not None else db.read(sql)
    scope = Scope()
    for tomb_id, kind, value in rows:
        (scope.traces if kind == "trace" else scope.sessions).setdefault(int(tomb_id), set()).add(str(value))
    return scope


@dataclass(frozen=True, slots=True)
class Deleted:
    """The values a set of tombstones deletes, by how they match a span."""

    traces: set[str]  # every span of these traces
    sessions: set[str]  # every span of these sessions
    users: set[str]  # every span naming these users
    unowned_traces: set[str]  # spans naming no user, of these traces
    unowned_sessions: set[str]  # spans naming no user, of these sessions


def deleted_values(tombstones: Iterable[Tombstone], scope: Scope | None = None) -> Deleted:
    scope = scope or Scope()
    out = Deleted(set(), set(), set(), set(), set())
    for t in tombstones:
        extra_traces, extra_sessions = scope.traces.get(t.id, set()), scope.sessions.get(t.id, set())
        if t.kind == "trace":
            out.traces.add(t.value)
        elif t.kind == "session":
            out.sessions.add(t.value)
            out.traces.update(extra_traces)
        else:
            out.users.add(t.value)
            out.unowned_traces.update(extra_traces)
            out.unowned_sessions.update(extra_sessions)
    return out


def _member(column: str, name: str, values: set[str], params: dict[str, Any]) -> str:
    params[name] = sorted(values)
    if len(values) <= INLINE_VALUES:
        return f"coalesce(list_contains(${name}, {column}), false)"
    return f"coalesce({column} IN (SELECT unnest(${name}::VARCHAR[])), false)"


def deleted_condition(tombstones: Iterable[Tombstone], scope: Scope | None = None) -> tuple[str | None, dict[str, Any]]:
    """SQL that is true for rows any of `tombstones` deletes (None when there are none), with its parameters.

    Never NULL for a row, so `NOT (...)` keeps exactly the rows it does not delete."""
    d = deleted_values(tombstones, scope)
    params: dict[str, Any] = {}
    parts = [
        _member(column, f"lx_del_{name}", values, params)
        for name, column, values in (
            ("trace", "trace_id", d.traces), ("session", "session_id", d.sessions), ("user", "user_id", d.users)
        )
        if values
    ]  # fmt: skip
    unowned = [
        _member(column, f"lx_del_{name}", values, params)
        for name, column, values in (
            ("utrace", "trace_id", d.unowned_traces), ("usession", "session_id", d.unowned_sessions)
        )
        if values
    ]  # fmt: skip
    if unowned:
        parts.append(f"(user_id IS NULL AND ({' OR '.join(unowned)}))")
    return (" OR ".join(parts) if parts else None), params


def retention_days(db: MetaDB, project_id: str, default_days: int) -> int:
    """The project's own retention, else the default; 0 means forever."""
    rows = db.read("SELECT retention_days FROM projects WHERE id = ?", (project_id,))
    if rows and rows[0][0] is not None:
        return int(rows[0][0])
    return default_days


def cutoff_us(days: int, now_us: int) -> int | None:
    """The oldest start time still kept, or None when data is kept forever."""
    return None if days <= 0 else now_us - days * US_PER_DAY


class Visibility:
    """The query engine's `VisibilityFilter`: retention and tombstones, read fresh for each query."""

    def __init__(self, db: MetaDB, default_days: int, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.default_days = default_days
        self.clock = clock

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def cutoff(self, project_id: str) -> int | None:
        return cutoff_us(retention_days(self.db, project_id, self.default_days), self.now_us())

    def restrict(self, project_id: str) -> Restriction:
        condition, params = deleted_condition(read_tombstones(self.db, project_id), read_scope(self.db, project_id))
        return Restriction(
            min_start_us=self.cutoff(project_id),
            condition=f"NOT ({condition})" if condition else None,
            params=params,
        )

    def keep_condition(self, project_id: str) -> tuple[str, dict[str, Any]]:
        """SQL true for the rows a rewrite of this project's files keeps (the rows queries may see)."""
        restriction = self.restrict(project_id)
        parts = ["TRUE"]
        params = dict(restriction.params)
        if restriction.min_start_us is not None:
            parts.append("epoch_us(start_time) >= $lx_cutoff")
            params["lx_cutoff"] = restriction.min_start_us
        if restriction.condition:
            parts.append(restriction.condition)
        return " AND ".join(parts), params
