"""What queries must not see: spans past their project's retention and spans of a pending deletion.

The same predicate hides rows from queries at once (a `Restriction` applied inside the query engine's `spans`
relation) and removes them from files later (compaction and the rewrites keep only rows it leaves visible), so a
file rewrite never changes a query result. Reads meta.db on each call, so a retention change or a deletion made
by the CLI in another process takes effect on the next query. It must never write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import Restriction

US_PER_DAY: Final = 86_400_000_000
KIND_COLUMNS: Final = {"trace": "trace_id", "session": "session_id", "user": "user_id"}


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


def deleted_condition(tombstones: Iterable[Tombstone]) -> tuple[str | None, dict[str, Any]]:
    """SQL that is true for rows any of `tombstones` deletes (None when there are none), with its parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    tombs = list(tombstones)
    for kind, column in KIND_COLUMNS.items():
        values = sorted({t.value for t in tombs if t.kind == kind})
        if values:
            name = f"lx_del_{kind}"
            parts.append(f"coalesce(list_contains(${name}, {column}), false)")
            params[name] = values
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
        condition, params = deleted_condition(read_tombstones(self.db, project_id))
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
