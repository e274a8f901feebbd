"""Invitations by link: a one-time token that makes its holder a member of an org (and optionally a project).

The token is shown once to the admin who creates it and stored only as its SHA-256 hash. An invitation
may name an email (then only that account can accept it); it expires after `invitation_ttl_s`, can be
revoked, and is used up by its first acceptance. Accepting never lowers a role the user already has.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import apsw

from lynex_box.auth import rbac
from lynex_box.auth.admin import new_id
from lynex_box.auth.errors import AdminError, Conflict, Denied, NotFound
from lynex_box.auth.sessions import token_hash
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB

_PUBLIC = "i.id, i.org_id, o.name, i.email, i.role, i.project_id, i.project_role, i.created_at, i.expires_at"
_KEYS = ("id", "org_id", "org_name", "email", "role", "project_id", "project_role", "created_at", "expires_at")


_RANK_SQL = "(CASE {} " + " ".join(f"WHEN '{r}' THEN {n}" for r, n in rbac.RANK.items()) + " END)"


def _now_us() -> int:
    return time.time_ns() // 1000


def create(
    conn: apsw.Connection,
    actor: Actor,
    actor_role: str | None,
    org_id: str,
    role: str,
    email: str,
    project_id: str | None,
    project_role: str | None,
    ttl_s: int,
    refuse_members: bool = False,
) -> tuple[str, str, int]:
    """(token, invitation id, expires_at) of a new invitation, inside the caller's transaction.

    `refuse_members`: a Conflict when `email` is already a member of the org (adding a member by email)."""
    rbac.check_role(role)
    if not rbac.can_assign(actor_role, None, role):
        raise Denied(f"your role does not allow you to invite a {role!r}")
    if project_id is not None:
        if project_role is None:
            raise AdminError("project_role is required with project_id")
        rbac.check_role(project_role)
        if not rbac.can_assign(actor_role, None, project_role):
            raise Denied(f"your role does not allow you to invite a project {project_role!r}")
        if not list(conn.execute("SELECT 1 FROM projects WHERE id = ? AND org_id = ?", (project_id, org_id))):
            raise NotFound("no project with that id in this organisation")
    if refuse_members and email and _is_member_email(conn, org_id, email):
        raise Conflict("that address is already a member of this organisation; change the role with PATCH")
    token = "lxi_" + secrets.token_urlsafe(32)
    invitation_id = new_id("inv")
    now = _now_us()
    expires = now + ttl_s * 1_000_000
    conn.execute(
        "INSERT INTO invitations (id, token_hash, org_id, email, role, project_id, project_role, created_by, "
        "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (invitation_id, token_hash(token), org_id, email, role, project_id, project_role, actor.id, now, expires),
    )
    audit.record(
        conn,
        actor,
        "invitation.created",
        org_id=org_id,
        project_id=project_id,
        target_type="invitation",
        target_id=invitation_id,
        details={"role": role, "email": email, "project_role": project_role},
    )
    return token, invitation_id, expires


def _is_member_email(conn: apsw.Connection, org_id: str, email: str) -> bool:
    sql = (
        "SELECT 1 FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND u.email = ? COLLATE NOCASE"
    )
    return bool(list(conn.execute(sql, (org_id, email))))


def list_pending(db: MetaDB, org_id: str) -> list[dict[str, Any]]:
    rows = db.read(
        f"SELECT {_PUBLIC} FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.org_id = ? "
        "AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ? ORDER BY i.created_at",
        (org_id, _now_us()),
    )
    return [dict(zip(_KEYS, r, strict=True)) for r in rows]


def revoke(conn: apsw.Connection, actor: Actor, org_id: str, invitation_id: str) -> None:
    conn.execute(
        "UPDATE invitations SET revoked_at = ? WHERE id = ? AND org_id = ? AND accepted_at IS NULL "
        "AND revoked_at IS NULL",
        (_now_us(), invitation_id, org_id),
    )
    if conn.changes() == 0:
        raise NotFound("no pending invitation with that id in this organisation")
    audit.record(conn, actor, "invitation.revoked", org_id=org_id, target_type="invitation", target_id=invitation_id)


def lookup(db: MetaDB, token: str) -> dict[str, Any] | None:
    """The pending invitation a token stands for; None when unknown, used, revoked or expired."""
    if not isinstance(token, str) or not token.startswith("lxi_") or len(token) > 100:
        return None
    rows = db.read(
        f"SELECT {_PUBLIC} FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.token_hash = ? "
        "AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?",
        (token_hash(token), _now_us()),
    )
    return dict(zip(_KEYS, rows[0], strict=True)) if rows else None


def accept(conn: apsw.Connection, token: str, user_id: str, user_email: str, actor: Actor) -> dict[str, Any]:
    """Apply a pending invitation to `user_id`, inside the caller's transaction; returns the invitation."""
    rows = list(
        conn.execute(
            "SELECT id, org_id, email, role, project_id, project_role FROM invitations WHERE token_hash = ? "
            "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
            (token_hash(token), _now_us()),
        )
    )
    if not rows:
        raise NotFound("this invitation is unknown, used, revoked or expired")
    invitation_id, org_id, email, role, project_id, project_role = rows[0]
    if email and email.lower() != user_email.lower():
        raise Denied("this invitation is for another email address")
    current = list(conn.execute("SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id)))
    if not current:
        conn.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)", (org_id, user_id, role))
    elif rbac.RANK[current[0][0]] < rbac.RANK[role]:
        conn.execute("UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ?", (role, org_id, user_id))
    if project_id is not None and project_role is not None:
        conn.execute(  # like the org role, a project role is only ever raised by an invitation
            "INSERT INTO project_members (project_id, user_id, role) VALUES (?, ?, ?) "
            "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role "
            f"WHERE {_RANK_SQL.format('excluded.role')} > {_RANK_SQL.format('project_members.role')}",
            (project_id, user_id, project_role),
        )
    conn.execute(
        "UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE id = ?", (_now_us(), user_id, invitation_id)
    )
    if conn.changes() != 1:
        raise Conflict("this invitation was accepted concurrently")
    audit.record(
        conn,
        actor,
        "invitation.accepted",
        org_id=org_id,
        project_id=project_id,
        target_type="user",
        target_id=user_id,
        details={"invitation_id": invitation_id, "role": role},
    )
    return {"org_id": org_id, "role": role, "project_id": project_id, "project_role": project_role}
