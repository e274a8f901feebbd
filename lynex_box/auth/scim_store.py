"""SCIM resources of one org in meta.db: its token, the users its IdP manages, its groups and their members.

Every function works inside one org (the token's): a SCIM client sees and changes only users it
provisioned into that org (`scim_users`) and that org's groups; member ids of other orgs are refused.
An existing account is taken under management only when it is a member of this org alone, and an account that
later joins another org too is no longer renamed by SCIM: its email is instance-wide (docs/security.md).
After each change the affected users' org role is recomputed from their groups (`[scim] group_roles`,
else `default_role`); a deactivated user loses the org role, and is disabled (sessions ended) when it has
no role anywhere else. Changes run in the caller's write transaction with their audit entries.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import apsw

from lynex_box.auth import memberships, users
from lynex_box.auth.admin import new_id
from lynex_box.auth.oidc import parse_group_roles, role_for_groups
from lynex_box.auth.scim import GROUP_SCHEMA, USER_SCHEMA, GroupPatch, ScimError, UserFields, member_ids
from lynex_box.auth.sessions import token_hash
from lynex_box.config import ScimSettings
from lynex_box.meta import audit, tenancy
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB


def _now_us() -> int:
    return time.time_ns() // 1000


def _provisioned(conn: apsw.Connection, org_id: str, user_id: str) -> bool | None:
    """The user's `active` flag in this org's SCIM users, or None when this org did not provision it."""
    rows = list(conn.execute("SELECT active FROM scim_users WHERE org_id = ? AND user_id = ?", (org_id, user_id)))
    return bool(rows[0][0]) if rows else None


def _audit(
    conn: apsw.Connection, actor: Actor, action: str, org_id: str, target: tuple[str, str], **details: Any
) -> None:
    """One audit entry of a SCIM change in this org; `target` is (type, id)."""
    audit.record(conn, actor, action, org_id=org_id, target_type=target[0], target_id=target[1], details=details)


def org_for_token(db: MetaDB, token: str) -> str | None:
    if not token.startswith("lxscim_") or len(token) > 100:
        return None
    rows = db.read("SELECT org_id FROM scim_tokens WHERE token_hash = ?", (token_hash(token),))
    return str(rows[0][0]) if rows else None


def set_token(conn: apsw.Connection, actor: Actor, org_id: str) -> str:
    """A new SCIM token for the org (replacing any previous one), shown once."""
    token = "lxscim_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO scim_tokens (org_id, token_hash, created_by, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (org_id) DO UPDATE SET token_hash = excluded.token_hash, created_by = excluded.created_by, "
        "created_at = excluded.created_at",
        (org_id, token_hash(token), actor.id, _now_us()),
    )
    _audit(conn, actor, "scim.token_created", org_id, ("org", org_id))
    return token


def revoke_token(conn: apsw.Connection, actor: Actor, org_id: str) -> bool:
    conn.execute("DELETE FROM scim_tokens WHERE org_id = ?", (org_id,))
    if conn.changes() == 0:
        return False
    _audit(conn, actor, "scim.token_revoked", org_id, ("org", org_id))
    return True


# --- users ---------------------------------------------------------------------------------------------

_USER_SQL = (
    "SELECT u.id, u.email, u.name, su.external_id, su.active, su.created_at FROM scim_users su "
    "JOIN users u ON u.id = su.user_id WHERE su.org_id = ?"
)


def _user_resource(conn: apsw.Connection, org_id: str, row: tuple[Any, ...], base: str) -> dict[str, Any]:
    user_id, email, name, external_id, active, _created = row
    groups = list(
        conn.execute(
            "SELECT g.id, g.display_name FROM scim_groups g JOIN scim_group_members m ON m.group_id = g.id "
            "WHERE g.org_id = ? AND m.user_id = ? ORDER BY g.display_name",
            (org_id, user_id),
        )
    )
    out: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": user_id,
        "userName": email,
        "displayName": name,
        "name": {"formatted": name},
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "active": bool(active),
        "groups": [{"value": g, "display": d} for g, d in groups],
        "meta": {"resourceType": "User", "location": f"{base}/Users/{user_id}"},
    }
    if external_id is not None:
        out["externalId"] = external_id
    return out


def get_user(conn: apsw.Connection, org_id: str, user_id: str, base: str) -> dict[str, Any]:
    rows = list(conn.execute(_USER_SQL + " AND su.user_id = ?", (org_id, user_id)))
    if not rows:
        raise ScimError(404, "no such user")
    return _user_resource(conn, org_id, rows[0], base)


def list_users(
    conn: apsw.Connection, org_id: str, flt: tuple[str, str] | None, start: int, count: int, base: str
) -> tuple[list[dict[str, Any]], int]:
    sql, params = _USER_SQL, [org_id]
    if flt is not None:
        column = {"userName": "u.email", "emails.value": "u.email", "externalId": "su.external_id", "id": "u.id"}
        if flt[0] not in column:
            return [], 0
        sql += f" AND {column[flt[0]]} = ? COLLATE NOCASE"
        params.append(flt[1])
    rows = list(conn.execute(sql + " ORDER BY su.created_at, u.id", params))
    chosen = rows[start - 1 : start - 1 + count]
    return [_user_resource(conn, org_id, r, base) for r in chosen], len(rows)


def _sole_member(conn: apsw.Connection, user_id: str, org_id: str) -> bool:
    """True when the account is a member of this org and of no other (meta/tenancy.py)."""
    member = list(conn.execute("SELECT 1 FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id)))
    return bool(member) and not tenancy.belongs_elsewhere(conn, user_id, org_id)


def _check_shared_account(conn: apsw.Connection, org_id: str, user_id: str, fields: UserFields) -> None:
    """Refuse to rename an account that also belongs to another org: its email and name are instance-wide, so
    a change would reach into that org (a new email redirects its password resets)."""
    if fields.email is None and fields.name is None:
        return
    email, name = next(iter(conn.execute("SELECT email, name FROM users WHERE id = ?", (user_id,))))
    renames = (fields.email is not None and fields.email.strip().lower() != str(email).lower()) or (
        fields.name is not None and fields.name[:200] != name
    )
    if renames and tenancy.belongs_elsewhere(conn, user_id, org_id):
        raise ScimError(
            400, "this account also belongs to another organisation; only its holder may change it", "mutability"
        )


def _set_fields(conn: apsw.Connection, user_id: str, fields: UserFields) -> None:
    if fields.email is not None:
        email = users.clean_email(fields.email)
        taken = list(conn.execute("SELECT 1 FROM users WHERE email = ? COLLATE NOCASE AND id != ?", (email, user_id)))
        if taken:
            raise ScimError(409, "another user has that userName", "uniqueness")
        conn.execute("UPDATE users SET email = ? WHERE id = ?", (email, user_id))
    if fields.name is not None:
        conn.execute("UPDATE users SET name = ? WHERE id = ?", (fields.name[:200], user_id))


def create_user(
    conn: apsw.Connection, actor: Actor, org_id: str, fields: UserFields, settings: ScimSettings, base: str
) -> dict[str, Any]:
    """Provision a user; an existing account with that email is taken under this org's management."""
    assert fields.email is not None
    email = users.clean_email(fields.email)
    found = list(conn.execute("SELECT id FROM users WHERE email = ? COLLATE NOCASE", (email,)))
    if found:
        user_id = str(found[0][0])
        if _provisioned(conn, org_id, user_id) is not None:
            raise ScimError(409, "a user with that userName is already provisioned", "uniqueness")
        if not _sole_member(conn, user_id, org_id):
            raise ScimError(
                409,
                "an account with that userName exists outside this organisation; "
                "it joins by accepting an invitation, and is then managed by its own holder",
                "uniqueness",
            )
    else:
        user_id = users.insert_user(conn, email, "", fields.name or "")
    conn.execute(
        "INSERT INTO scim_users (org_id, user_id, external_id, active, created_at) VALUES (?, ?, ?, ?, ?)",
        (org_id, user_id, fields.external_id, int(fields.active is not False), _now_us()),
    )
    _set_fields(conn, user_id, UserFields(name=fields.name or None))
    _audit(conn, actor, "scim.user_created", org_id, ("user", user_id), email=email, linked=bool(found))
    sync_role(conn, actor, org_id, user_id, settings)
    return get_user(conn, org_id, user_id, base)


def update_user(
    conn: apsw.Connection,
    actor: Actor,
    org_id: str,
    user_id: str,
    fields: UserFields,
    settings: ScimSettings,
    base: str,
) -> dict[str, Any]:
    active = _provisioned(conn, org_id, user_id)
    if active is None:
        raise ScimError(404, "no such user")
    _check_shared_account(conn, org_id, user_id, fields)
    _set_fields(conn, user_id, fields)
    if fields.external_id is not None:
        conn.execute(
            "UPDATE scim_users SET external_id = ? WHERE org_id = ? AND user_id = ?",
            (fields.external_id, org_id, user_id),
        )
    if fields.active is not None and fields.active != active:
        conn.execute(
            "UPDATE scim_users SET active = ? WHERE org_id = ? AND user_id = ?", (int(fields.active), org_id, user_id)
        )
        action = "scim.user_updated" if fields.active else "scim.user_deactivated"
        _audit(conn, actor, action, org_id, ("user", user_id), active=fields.active)
    elif fields.email is not None or fields.name is not None:
        _audit(conn, actor, "scim.user_updated", org_id, ("user", user_id))
    sync_role(conn, actor, org_id, user_id, settings)
    return get_user(conn, org_id, user_id, base)


def delete_user(conn: apsw.Connection, actor: Actor, org_id: str, user_id: str, settings: ScimSettings) -> None:
    if _provisioned(conn, org_id, user_id) is None:
        raise ScimError(404, "no such user")
    conn.execute("UPDATE scim_users SET active = 0 WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    sync_role(conn, actor, org_id, user_id, settings)
    conn.execute(
        "DELETE FROM scim_group_members WHERE user_id = ? AND group_id IN "
        "(SELECT id FROM scim_groups WHERE org_id = ?)",
        (user_id, org_id),
    )
    conn.execute("DELETE FROM scim_users WHERE org_id = ? AND user_id = ?", (org_id, user_id))
    _audit(conn, actor, "scim.user_deactivated", org_id, ("user", user_id), deleted=True)


def sync_role(conn: apsw.Connection, actor: Actor, org_id: str, user_id: str, settings: ScimSettings) -> None:
    """Recompute a provisioned user's org role from its groups and active flag; disable it if left with none."""
    active = bool(_provisioned(conn, org_id, user_id))
    role = None
    if active:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT g.display_name FROM scim_groups g JOIN scim_group_members m ON m.group_id = g.id "
                "WHERE g.org_id = ? AND m.user_id = ?",
                (org_id, user_id),
            )
        ]
        role = role_for_groups(names, parse_group_roles(settings.group_roles), settings.default_role)
    memberships.apply_managed_role(conn, actor, org_id, user_id, role, "scim")
    has_role = memberships.has_any_role(conn, user_id)
    conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(not has_role and not active), user_id))
    if not has_role:
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


# --- groups --------------------------------------------------------------------------------------------


def _group_resource(conn: apsw.Connection, row: tuple[Any, ...], base: str, members: bool = True) -> dict[str, Any]:
    group_id, name, external_id = row
    out: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": group_id,
        "displayName": name,
        "meta": {"resourceType": "Group", "location": f"{base}/Groups/{group_id}"},
    }
    if members:
        rows = conn.execute(
            "SELECT u.id, u.email FROM scim_group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ? "
            "ORDER BY u.email",
            (group_id,),
        )
        out["members"] = [{"value": uid, "display": email, "type": "User"} for uid, email in rows]
    if external_id is not None:
        out["externalId"] = external_id
    return out


def get_group(conn: apsw.Connection, org_id: str, group_id: str, base: str) -> dict[str, Any]:
    rows = list(
        conn.execute(
            "SELECT id, display_name, external_id FROM scim_groups WHERE org_id = ? AND id = ?", (org_id, group_id)
        )
    )
    if not rows:
        raise ScimError(404, "no such group")
    return _group_resource(conn, rows[0], base)


def list_groups(
    conn: apsw.Connection, org_id: str, flt: tuple[str, str] | None, start: int, count: int, base: str, members: bool
) -> tuple[list[dict[str, Any]], int]:
    sql, params = "SELECT id, display_name, external_id FROM scim_groups WHERE org_id = ?", [org_id]
    if flt is not None:
        column = {"displayName": "display_name", "externalId": "external_id", "id": "id"}
        if flt[0] not in column:
            return [], 0
        sql += f" AND {column[flt[0]]} = ?"
        params.append(flt[1])
    rows = list(conn.execute(sql + " ORDER BY created_at, id", params))
    chosen = rows[start - 1 : start - 1 + count]
    return [_group_resource(conn, r, base, members) for r in chosen], len(rows)


def _check_members(conn: apsw.Connection, org_id: str, ids: list[str]) -> None:
    for user_id in ids:
        if _provisioned(conn, org_id, user_id) is None:
            raise ScimError(400, "a member is not a user provisioned in this organisation", "invalidValue")


def _members(conn: apsw.Connection, group_id: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT user_id FROM scim_group_members WHERE group_id = ?", (group_id,))}


def _check_name(conn: apsw.Connection, org_id: str, group_id: str, name: str) -> None:
    if not name.strip() or len(name) > 200:
        raise ScimError(400, "displayName must be 1..200 characters", "invalidValue")
    clash = list(
        conn.execute(
            "SELECT 1 FROM scim_groups WHERE org_id = ? AND display_name = ? AND id != ?", (org_id, name, group_id)
        )
    )
    if clash:
        raise ScimError(409, "a group with that displayName exists", "uniqueness")


def _rename(conn: apsw.Connection, org_id: str, group_id: str, name: str) -> None:
    _check_name(conn, org_id, group_id, name)
    conn.execute("UPDATE scim_groups SET display_name = ? WHERE id = ?", (name, group_id))


def _set_members(
    conn: apsw.Connection, actor: Actor, org_id: str, group_id: str, wanted: set[str], settings: ScimSettings
) -> None:
    _check_members(conn, org_id, sorted(wanted))
    before = _members(conn, group_id)
    for user_id in before - wanted:
        conn.execute("DELETE FROM scim_group_members WHERE group_id = ? AND user_id = ?", (group_id, user_id))
    for user_id in wanted - before:
        conn.execute("INSERT INTO scim_group_members (group_id, user_id) VALUES (?, ?)", (group_id, user_id))
    for user_id in sorted(before ^ wanted):
        sync_role(conn, actor, org_id, user_id, settings)


def create_group(
    conn: apsw.Connection, actor: Actor, org_id: str, doc: dict[str, Any], settings: ScimSettings, base: str
) -> dict[str, Any]:
    name = doc.get("displayName")
    if not isinstance(name, str):
        raise ScimError(400, "displayName is required", "invalidValue")
    _check_name(conn, org_id, "", name)
    group_id = new_id("grp")
    external = doc.get("externalId") if isinstance(doc.get("externalId"), str) else None
    conn.execute(
        "INSERT INTO scim_groups (id, org_id, display_name, external_id, created_at) VALUES (?, ?, ?, ?, ?)",
        (group_id, org_id, name, external, _now_us()),
    )
    _set_members(conn, actor, org_id, group_id, set(member_ids(doc.get("members", []))), settings)
    _audit(conn, actor, "scim.group_changed", org_id, ("group", group_id), created=name)
    return get_group(conn, org_id, group_id, base)


def change_group(
    conn: apsw.Connection,
    actor: Actor,
    org_id: str,
    group_id: str,
    patch: GroupPatch,
    settings: ScimSettings,
    base: str,
) -> dict[str, Any]:
    get_group(conn, org_id, group_id, base)  # 404 when not this org's
    if patch.display_name is not None:
        _rename(conn, org_id, group_id, patch.display_name)
    wanted = set() if patch.remove_all else _members(conn, group_id)
    if patch.replace_members is not None:
        wanted = set(patch.replace_members)
    wanted = (wanted | set(patch.add or [])) - set(patch.remove or [])
    _set_members(conn, actor, org_id, group_id, wanted, settings)
    if patch.display_name is not None:  # a rename changes what the group maps to
        for user_id in sorted(wanted):
            sync_role(conn, actor, org_id, user_id, settings)
    _audit(conn, actor, "scim.group_changed", org_id, ("group", group_id))
    return get_group(conn, org_id, group_id, base)


def delete_group(conn: apsw.Connection, actor: Actor, org_id: str, group_id: str, settings: ScimSettings) -> None:
    get_group(conn, org_id, group_id, "")
    _set_members(conn, actor, org_id, group_id, set(), settings)
    conn.execute("DELETE FROM scim_groups WHERE id = ?", (group_id,))
    _audit(conn, actor, "scim.group_changed", org_id, ("group", group_id), deleted=True)
