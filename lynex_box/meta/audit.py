"""The audit log: who did what to which target, when and from where; append-only.

Entries are written in the same transaction as the change they describe (`record(conn, ...)`), so a
change without its entry cannot be committed. SQLite triggers refuse UPDATE and DELETE on the table
(migration 5). Nothing secret may be written here: `details` drops any key that names a secret, and
callers pass ids, emails and prefixes, never passwords, keys or tokens.

It lives in meta/ because it is a meta.db table that every layer writes to (accounts, encryption, the lifecycle,
alerts): they import it from here, so storage never imports the accounts domain.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any, Final

import apsw
import orjson

from lynex_box.meta.db import MetaDB
from lynex_box.meta.tenancy import SOLE_MEMBERS_SQL

ACTIONS: Final = (
    "login",
    "login.failed",
    "logout",
    "password.changed",
    "password.reset_issued",
    "password.reset_requested",
    "password.reset",
    "key.created",
    "key.revoked",
    "member.added",
    "member.removed",
    "member.role_changed",
    "invitation.created",
    "invitation.revoked",
    "invitation.accepted",
    "org.created",
    "scim.token_created",
    "scim.token_revoked",
    "scim.user_created",
    "scim.user_updated",
    "scim.user_deactivated",
    "scim.group_changed",
    "project.created",
    "project.settings_changed",
    "data.deleted",
    "data.exported",
    "data.repriced",
    "alert_rule.created",
    "alert_rule.updated",
    "alert_rule.deleted",
    "jwt_trust.set",
    "jwt_trust.deleted",
    "project_plugin.set",
    "project_plugin.deleted",
    "monitor.created",
    "monitor.updated",
    "monitor.deleted",
    "monitor.run",
    "dashboard.saved",
)
_SECRET_WORDS: Final = ("password", "secret", "token", "api_key", "hash", "cookie")
MAX_PAGE: Final = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user (id, email), an API key (id, prefix), the system, or nobody yet (a failed login)."""

    type: str
    id: str
    label: str
    ip: str = ""


def _clean(details: dict[str, Any] | None) -> str:
    safe = {k: v for k, v in (details or {}).items() if not any(w in k.lower() for w in _SECRET_WORDS)}
    return orjson.dumps(safe).decode()


def record(
    conn: apsw.Connection,
    actor: Actor,
    action: str,
    *,
    org_id: str | None = None,
    project_id: str | None = None,
    target_type: str = "",
    target_id: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's write transaction."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not one of {list(ACTIONS)}")
    if org_id is None and project_id is not None:  # so that the org's view of the log shows project entries too
        org_id = next(iter(conn.execute("SELECT org_id FROM projects WHERE id = ?", (project_id,))), (None,))[0]
    conn.execute(
        "INSERT INTO audit_log (at, actor_type, actor_id, actor_label, action, org_id, project_id, "
        "target_type, target_id, ip, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            time.time_ns() // 1000,
            actor.type,
            actor.id,
            actor.label,
            action,
            org_id,
            project_id,
            target_type,
            target_id,
            actor.ip,
            _clean(details),
        ),
    )


def record_now(db: MetaDB, actor: Actor, action: str, **fields: Any) -> None:
    """Append one entry in a transaction of its own (for events that change nothing else)."""
    db.write(lambda conn: record(conn, actor, action, **fields))


def encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"a{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The entry id a cursor points at; ValueError for anything that is not one of ours."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("cursor is not valid") from None
    if not text.startswith("a") or not text[1:].isascii() or not text[1:].isdigit() or len(text) > 19:
        raise ValueError("cursor is not valid")
    return int(text[1:])


_COLUMNS: Final = (
    "id",
    "at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "org_id",
    "project_id",
    "target_type",
    "target_id",
    "ip",
    "details",
)


# An org's view of the log; every ?1 is the org id (spelled out as plain `?` parameters when used).
_ORG_VIEW_SQL: Final = (
    "(org_id = ?1 OR (org_id IS NULL AND project_id IS NULL AND target_type = 'user' "
    f"AND target_id IN ({SOLE_MEMBERS_SQL}) "
    "AND at >= coalesce((SELECT min(j.at) FROM audit_log j WHERE j.org_id = ?1 AND j.target_type = 'user' "
    "AND j.target_id = audit_log.target_id "
    "AND j.action IN ('member.added', 'invitation.accepted', 'scim.user_created')), 0)))"
)


def list_entries(
    db: MetaDB,
    *,
    project_id: str | None = None,
    org_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    action: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, for one project, or for one org: its own entries, its projects', and the sign-ins and
    password events of members that belong to it alone (meta/tenancy.py), since they joined. A member shared with
    another org keeps those to themselves: their IP addresses and times are not one org's to read."""
    if (project_id is None) == (org_id is None):
        raise ValueError("list_entries needs exactly one of project_id or org_id")
    limit = max(1, min(limit, MAX_PAGE))
    params: list[Any]
    if project_id is not None:
        where, params = ["project_id = ?"], [project_id]
    else:
        where, params = [_ORG_VIEW_SQL.replace("?1", "?")], [org_id] * _ORG_VIEW_SQL.count("?1")
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    if action:
        where.append("action = ?")
        params.append(action)
    sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
    rows = db.read(sql, (*params, limit + 1))
    items = [dict(zip(_COLUMNS, r, strict=True)) for r in rows[:limit]]
    for item in items:
        item["details"] = orjson.loads(item["details"])
    cursor = encode_cursor(items[-1]["id"]) if len(rows) > limit else None
    return items, cursor


class AuditLog:
    """The audit log as the HTTP layer uses it: an entry of its own transaction, and the newest-first pages."""

    def __init__(self, db: MetaDB) -> None:
        self._db = db

    def record(self, actor: Actor, action: str, **fields: Any) -> None:
        """Append one entry in a transaction of its own (blocking: call it in a worker thread)."""
        record_now(self._db, actor, action, **fields)

    def entries(
        self,
        *,
        project_id: str | None = None,
        org_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
        action: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of one project's or one org's entries and the cursor after it (`list_entries`)."""
        return list_entries(
            self._db, project_id=project_id, org_id=org_id, before_id=before_id, limit=limit, action=action
        )
