"""Saved views: a user's named filter states of one project (`saved_views` in meta.db), listed, opened, deleted.

A view is the query string of a UI page's URL (time range, filters, facets, search) under a name; the UI restores
the page from it, so the server never interprets it beyond its size. Every statement is scoped by project AND user:
another member of the same project never sees, replaces or deletes someone else's views. Blocking SQLite calls:
the routes (`api/admin/saved_views.py`) run them in a worker thread.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any, Final

import apsw

from lynex_box.meta.db import MetaDB

PAGES: Final = ("traces", "spans", "sessions", "users", "overview")
MAX_VIEWS: Final = 200  # per user and project
_COLUMNS: Final = "id, project_id, name, page, query, created_at, updated_at"


class TooManyViews(Exception):
    """The user already has MAX_VIEWS views in the project."""


@dataclass(frozen=True, slots=True)
class SavedView:
    id: str
    project_id: str
    name: str
    page: str
    query: str
    created_at: int  # epoch µs
    updated_at: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SavedViews:
    """The saved views of (project, user) pairs."""

    def __init__(self, db: MetaDB) -> None:
        self._db = db

    def list(self, project_id: str, user_id: str) -> list[SavedView]:
        rows = self._db.read(
            f"SELECT {_COLUMNS} FROM saved_views WHERE project_id = ? AND user_id = ? ORDER BY name, id",
            (project_id, user_id),
        )
        return [SavedView(*r) for r in rows]

    def save(self, project_id: str, user_id: str, name: str, page: str, query: str) -> SavedView:
        """Store a view, or replace the query of the user's view of the same name in the project."""
        now = time.time_ns() // 1000

        def write(conn: apsw.Connection) -> SavedView:
            same = list(conn.execute(
                "SELECT id, created_at FROM saved_views WHERE project_id = ? AND user_id = ? AND name = ?",
                (project_id, user_id, name),
            ))  # fmt: skip
            if same:
                view_id, created = str(same[0][0]), int(same[0][1])
                conn.execute(
                    "UPDATE saved_views SET page = ?, query = ?, updated_at = ? WHERE id = ?",
                    (page, query, now, view_id),
                )
                return SavedView(view_id, project_id, name, page, query, created, now)
            sql = "SELECT count(*) FROM saved_views WHERE project_id = ? AND user_id = ?"
            count = int(conn.execute(sql, (project_id, user_id)).fetchall()[0][0] or 0)
            if count >= MAX_VIEWS:
                raise TooManyViews(f"{count} saved views in this project already; delete some (at most {MAX_VIEWS})")
            view_id = f"view_{secrets.token_hex(8)}"
            conn.execute(
                "INSERT INTO saved_views (id, project_id, user_id, name, page, query, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (view_id, project_id, user_id, name, page, query, now, now),
            )
            return SavedView(view_id, project_id, name, page, query, now, now)

        return self._db.write(write)

    def delete(self, project_id: str, user_id: str, view_id: str) -> bool:
        """Delete the user's view of the project; False when there is none with that id (or it is someone else's)."""

        def write(conn: apsw.Connection) -> bool:
            sql = "DELETE FROM saved_views WHERE id = ? AND project_id = ? AND user_id = ?"
            conn.execute(sql, (view_id, project_id, user_id))
            return conn.changes() > 0

        return self._db.write(write)
