"""Who belongs where: org memberships, per-project roles, and the role a user has on a project.

Reads are plain queries; every change runs inside the caller's write transaction, checks the actor's
right to make it against the state in that same transaction (so two admins cannot race past a rule),
and appends its audit entry there too. An org always keeps at least one owner.
"""

from __future__ import annotations

from typing import Any

import apsw

from lynex_box.auth import rbac
from lynex_box.auth.errors import AdminError, Conflict, Denied, NotFound
from lynex_box.meta import audit, tenancy
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB


def org_role(db: MetaDB, user_id: str, org_id: str) -> str | None:
    rows = db.read("SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    return rows[0][0] if rows else None


def project_role(db: MetaDB, user_id: str, project_id: str) -> tuple[str, str | None] | None:
    """(org_id, the user's effective role or None) for an existing project; None if there is no such project."""
    rows = db.read(
        "SELECT p.org_id, om.role, pm.role FROM projects p "
        "LEFT JOIN org_members om ON om.org_id = p.org_id AND om.user_id = ?1 "
        "LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = ?1 WHERE p.id = ?2",
        (user_id, project_id),
    )
    if not rows:
        return None
    org_id, o_role, p_role = rows[0]
    return org_id, rbac.effective_role(o_role, p_role)


def user_orgs(db: MetaDB, user_id: str) -> list[dict[str, Any]]:
    rows = db.read(
        "SELECT o.id, o.name, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id "
        "WHERE m.user_id = ? ORDER BY o.created_at",
        (user_id,),
    )
    return [{"id": r[0], "name": r[1], "role": r[2]} for r in rows]


def user_projects(db: MetaDB, user_id: str) -> list[dict[str, Any]]:
    rows = db.read(
        "SELECT p.id, p.name, p.org_id, om.role, pm.role FROM projects p "
        "LEFT JOIN org_members om ON om.org_id = p.org_id AND om.user_id = ?1 "
        "LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = ?1 "
        "WHERE om.user_id IS NOT NULL OR pm.user_id IS NOT NULL ORDER BY p.created_at, p.id",
        (user_id,),
    )
    out = []
    for pid, name, org_id, o_role, p_role in rows:
        role = rbac.effective_role(o_role, p_role)
        if role is not None:
            out.append({"project_id": pid, "name": name, "org_id": org_id, "role": role})
    return out


def list_org_members(db: MetaDB, org_id: str) -> list[dict[str, Any]]:
    rows = db.read(
        "SELECT u.id, u.email, u.name, m.role, u.disabled FROM org_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.org_id = ? ORDER BY u.email",
        (org_id,),
    )
    return [{"user_id": r[0], "email": r[1], "name": r[2], "role": r[3], "disabled": bool(r[4])} for r in rows]


def list_project_members(db: MetaDB, project_id: str, org_id: str) -> list[dict[str, Any]]:
    rows = db.read(
        "SELECT u.id, u.email, u.name, om.role, pm.role FROM users u "
        "LEFT JOIN org_members om ON om.user_id = u.id AND om.org_id = ? "
        "LEFT JOIN project_members pm ON pm.user_id = u.id AND pm.project_id = ? "
        "WHERE om.user_id IS NOT NULL OR pm.user_id IS NOT NULL ORDER BY u.email",
        (org_id, project_id),
    )
    return [
        {
            "user_id": r[0],
            "email": r[1],
            "name": r[2],
            "role": rbac.effective_role(r[3], r[4]),
            "org_role": r[3],
            "project_role": r[4],
        }
        for r in rows
    ]


def _one(conn: apsw.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    rows = list(conn.execute(sql, params))
    return rows[0][0] if rows else None


def _owners_left(conn: apsw.Connection, org_id: str, without: str) -> int:
    sql = "SELECT count(*) FROM org_members WHERE org_id = ? AND role = 'owner' AND user_id != ?"
    return int(_one(conn, sql, (org_id, without)))


def _need(allowed: bool, what: str) -> None:
    if not allowed:
        raise Denied(f"your role does not allow you to {what}")


def add_org_member(
    conn: apsw.Connection, actor: Actor, actor_role: str | None, org_id: str, user_id: str, role: str
) -> None:
    rbac.check_role(role)
    _need(rbac.can_assign(actor_role, None, role), f"add a member with role {role!r}")
    if _one(conn, "SELECT 1 FROM users WHERE id = ?", (user_id,)) is None:
        raise NotFound("no user with that id")
    if _one(conn, "SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id)) is not None:
        raise Conflict("that user is already a member of this organisation; change the role with PATCH")
    conn.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)", (org_id, user_id, role))
    audit.record(
        conn, actor, "member.added", org_id=org_id, target_type="user", target_id=user_id, details={"role": role}
    )


def change_org_role(
    conn: apsw.Connection, actor: Actor, actor_role: str | None, org_id: str, user_id: str, role: str
) -> None:
    rbac.check_role(role)
    current = _one(conn, "SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    if current is None:
        raise NotFound("that user is not a member of this organisation")
    _need(rbac.can_assign(actor_role, current, role), f"change a {current!r} to {role!r}")
    if current == "owner" and role != "owner" and _owners_left(conn, org_id, user_id) == 0:
        raise Conflict("an organisation must keep at least one owner; make someone else owner first")
    conn.execute("UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ?", (role, org_id, user_id))
    audit.record(
        conn,
        actor,
        "member.role_changed",
        org_id=org_id,
        target_type="user",
        target_id=user_id,
        details={"from": current, "to": role},
    )


def remove_org_member(conn: apsw.Connection, actor: Actor, actor_role: str | None, org_id: str, user_id: str) -> None:
    current = _one(conn, "SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    if current is None:
        raise NotFound("that user is not a member of this organisation")
    _need(rbac.can_assign(actor_role, current, None), f"remove a member with role {current!r}")
    if current == "owner" and _owners_left(conn, org_id, user_id) == 0:
        raise Conflict("an organisation must keep at least one owner")
    conn.execute("DELETE FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    conn.execute(
        "DELETE FROM project_members WHERE user_id = ? AND project_id IN (SELECT id FROM projects WHERE org_id = ?)",
        (user_id, org_id),
    )
    audit.record(
        conn, actor, "member.removed", org_id=org_id, target_type="user", target_id=user_id, details={"role": current}
    )


NOT_A_MEMBER = "no member of this organisation has that email or id; invite them to the organisation instead"


def _project_ties_only(conn: apsw.Connection, user_id: str, org_id: str) -> bool:
    """True when the account is tied to this org's projects or to no org at all, so that a project role given
    directly never reaches into another org's member (who joins only through an invitation)."""
    return not tenancy.belongs_elsewhere(conn, user_id, org_id)


def set_project_role(
    conn: apsw.Connection, actor: Actor, actor_role: str | None, project_id: str, user_id: str, role: str, create: bool
) -> None:
    """Give `user_id` a per-project role (`create`: a new one, 409 if set; else change it, 404 if unset).

    Only members of the project's org, and accounts tied to no org at all, get one directly; an account of
    another org gets the same 404 as an unknown one."""
    rbac.check_role(role)
    row = list(
        conn.execute(
            "SELECT p.org_id, om.role, pm.role, u.id FROM projects p JOIN users u ON u.id = ?1 "
            "LEFT JOIN org_members om ON om.org_id = p.org_id AND om.user_id = ?1 "
            "LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = ?1 WHERE p.id = ?2",
            (user_id, project_id),
        )
    )
    if not row:
        raise NotFound(NOT_A_MEMBER)
    org_id, o_role, p_role, _ = row[0]
    if o_role is None and p_role is None and not _project_ties_only(conn, user_id, org_id):
        raise NotFound(NOT_A_MEMBER)
    if create and p_role is not None:
        raise Conflict("that user already has a role on this project; change it with PATCH")
    if not create and p_role is None and o_role is None:
        raise NotFound("that user is not a member of this project")
    if o_role == "owner":
        raise AdminError("organisation owners are owners of every project; change their organisation role instead")
    current = rbac.effective_role(o_role, p_role)
    _need(rbac.can_assign(actor_role, current, role), f"change a {current!r} to {role!r}")
    conn.execute(
        "INSERT INTO project_members (project_id, user_id, role) VALUES (?, ?, ?) "
        "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        (project_id, user_id, role),
    )
    action = "member.added" if current is None else "member.role_changed"
    audit.record(
        conn,
        actor,
        action,
        org_id=org_id,
        project_id=project_id,
        target_type="user",
        target_id=user_id,
        details={"from": current, "to": role},
    )


def remove_project_role(
    conn: apsw.Connection, actor: Actor, actor_role: str | None, project_id: str, user_id: str
) -> None:
    """Drop a user's per-project role (they keep their org role, if any)."""
    row = list(
        conn.execute(
            "SELECT p.org_id, pm.role FROM projects p JOIN project_members pm ON pm.project_id = p.id "
            "WHERE p.id = ? AND pm.user_id = ?",
            (project_id, user_id),
        )
    )
    if not row:
        raise NotFound("that user has no role of its own on this project")
    org_id, p_role = row[0]
    _need(rbac.can_assign(actor_role, p_role, None), f"remove a member with role {p_role!r}")
    conn.execute("DELETE FROM project_members WHERE project_id = ? AND user_id = ?", (project_id, user_id))
    audit.record(
        conn,
        actor,
        "member.removed",
        org_id=org_id,
        project_id=project_id,
        target_type="user",
        target_id=user_id,
        details={"role": p_role},
    )


def apply_managed_role(
    conn: apsw.Connection, actor: Actor, org_id: str, user_id: str, role: str | None, why: str
) -> None:
    """Set a user's org role as an identity provider dictates (None = no role), inside the caller's transaction.

    Used by single sign-on and SCIM; never leaves an org without an owner; audits each change with `why`.
    """
    current = _one(conn, "SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    if role == current or (current == "owner" and _owners_left(conn, org_id, user_id) == 0):
        return
    target: dict[str, Any] = {"org_id": org_id, "target_type": "user", "target_id": user_id}
    if role is None:
        conn.execute("DELETE FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
        conn.execute(
            "DELETE FROM project_members WHERE user_id = ? AND project_id IN "
            "(SELECT id FROM projects WHERE org_id = ?)",
            (user_id, org_id),
        )
        audit.record(conn, actor, "member.removed", **target, details={"role": current, "by": why})
    elif current is None:
        conn.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)", (org_id, user_id, role))
        audit.record(conn, actor, "member.added", **target, details={"role": role, "by": why})
    else:
        conn.execute("UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ?", (role, org_id, user_id))
        audit.record(conn, actor, "member.role_changed", **target, details={"from": current, "to": role, "by": why})


def has_any_role(conn: apsw.Connection, user_id: str) -> bool:
    sql = "SELECT 1 FROM org_members WHERE user_id = ?1 UNION ALL SELECT 1 FROM project_members WHERE user_id = ?1"
    return bool(list(conn.execute(sql + " LIMIT 1", (user_id,))))
