"""Registered prompt versions in meta.db: one immutable template text per (project, name, version).

A version, once registered, never changes: registering the same text again is a no-op, other text is
a conflict. Every function takes the project id from its caller (the authenticated principal), never
from a request body.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import apsw

from lynex_box.meta.db import MetaDB

MAX_NAME = 200
MAX_VERSION = 64
MAX_TEMPLATE = 200_000


class PromptError(ValueError):
    """A registration the client must fix; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PromptVersion:
    name: str
    version: str
    template: str
    created_at: int
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _next_version(conn: apsw.Connection, project_id: str, name: str) -> str:
    rows = conn.execute(
        "SELECT version FROM prompt_versions WHERE project_id = ? AND name = ?", (project_id, name)
    ).fetchall()
    numbers = [int(str(v)) for (v,) in rows if str(v).isascii() and str(v).isdigit() and len(str(v)) <= 18]
    return str(max(numbers, default=0) + 1)


def validate(name: object, version: object, template: object) -> tuple[str, str | None, str]:
    """Checks a registration's fields; version None means 'the next whole number'."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise PromptError(f"name must be a string of 1..{MAX_NAME} characters, got {name!r}"[:300])
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if version is not None and (not isinstance(version, str) or not 1 <= len(version) <= MAX_VERSION):
        raise PromptError(f"version must be a string or a whole number of 1..{MAX_VERSION} characters")
    if not isinstance(template, str) or len(template) > MAX_TEMPLATE:
        raise PromptError(f"template must be a string of at most {MAX_TEMPLATE} characters")
    return name, version, template


def register(
    db: MetaDB, project_id: str, name: str, version: str | None, template: str, created_by: str = ""
) -> tuple[PromptVersion, bool]:
    """Register a version; returns it and whether it is new. Same text again: not new; other text: 409."""

    def tx(conn: apsw.Connection) -> tuple[PromptVersion, bool]:
        ver = version if version is not None else _next_version(conn, project_id, name)
        row = conn.execute(
            "SELECT template, created_at, created_by FROM prompt_versions "
            "WHERE project_id = ? AND name = ? AND version = ?",
            (project_id, name, ver),
        ).fetchone()
        if row is not None:
            if row[0] != template:
                raise PromptError(f"prompt {name!r} version {ver!r} exists with other text; versions never change", 409)
            return PromptVersion(name, ver, template, row[1], row[2]), False
        now = time.time_ns() // 1000
        conn.execute(
            "INSERT INTO prompt_versions (project_id, name, version, template, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, name, ver, template, now, created_by),
        )
        return PromptVersion(name, ver, template, now, created_by), True

    return db.write(tx)


def versions(db: MetaDB, project_id: str, name: str | None = None) -> list[PromptVersion]:
    """Registered versions of one prompt (or of all), by name then creation."""
    sql = "SELECT name, version, template, created_at, created_by FROM prompt_versions WHERE project_id = ?"
    params: tuple[Any, ...] = (project_id,)
    if name is not None:
        sql += " AND name = ?"
        params += (name,)
    rows = db.read(sql + " ORDER BY name, created_at, version", params)
    return [PromptVersion(*row) for row in rows]


class PromptRegistry:
    """A project's registered prompt versions (blocking SQLite: call in a worker thread)."""

    def __init__(self, db: MetaDB) -> None:
        self._db = db

    def versions(self, project_id: str, name: str | None = None) -> list[PromptVersion]:
        """Registered versions of one prompt (or of all), by name then creation."""
        return versions(self._db, project_id, name)

    def register(
        self, project_id: str, name: str, version: str | None, template: str, created_by: str = ""
    ) -> tuple[PromptVersion, bool]:
        """Register a version; returns it and whether it is new (PromptError 409 for other text)."""
        return register(self._db, project_id, name, version, template, created_by)
