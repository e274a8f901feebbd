"""Signing in a user vouched for by the identity provider: find, link or create the account, sync its role.

The account is found by its provider subject (`issuer|sub`); failing that, an account with the same email
is linked only when the provider says the email is verified (and `link_verified_email` allows it);
otherwise a new account without a password is created. With `group_roles` set, the org role follows the
provider's groups at every login (the last owner is never demoted); a user left with no role anywhere
may not log in (the caller refuses them after the role change is committed). Runs inside one write
transaction, with its audit entries.
"""

from __future__ import annotations

from typing import Any

import apsw

from lynex_box.auth import audit, users
from lynex_box.auth.audit import Actor
from lynex_box.auth.errors import Conflict, Denied
from lynex_box.auth.oidc import role_for_groups
from lynex_box.config import OidcSettings

SSO_ACTOR = Actor("system", "oidc", "single sign-on")


def _org(conn: apsw.Connection, configured: str) -> str:
    sql, params = (
        ("SELECT id FROM orgs WHERE id = ?", (configured,))
        if configured
        else ("SELECT id FROM orgs ORDER BY created_at LIMIT 1", ())
    )
    rows = list(conn.execute(sql, params))
    if not rows:
        raise Denied("single sign-on is configured for an organisation that does not exist")
    return str(rows[0][0])


def _account(conn: apsw.Connection, claims: dict[str, Any], settings: OidcSettings) -> tuple[str, str, str]:
    """(user id, email, name) for the claims, linking or creating the account."""
    subject = f"{claims['iss']}|{claims['sub']}"
    rows = list(conn.execute("SELECT id, email, name, disabled FROM users WHERE oidc_subject = ?", (subject,)))
    if not rows:
        email = claims.get("email")
        if not isinstance(email, str):
            raise Denied("the identity provider did not share an email address (scope 'email')")
        email = users.clean_email(email)
        name = claims.get("name") if isinstance(claims.get("name"), str) else ""
        found = list(conn.execute("SELECT id FROM users WHERE email = ? COLLATE NOCASE", (email,)))
        if found:
            if claims.get("email_verified") is not True or not settings.link_verified_email:
                raise Conflict("an account with this email exists and the provider did not verify the email")
            user_id = found[0][0]
        else:
            user_id = users.insert_user(conn, email, "", str(name))
        conn.execute("UPDATE users SET oidc_subject = ? WHERE id = ?", (subject, user_id))
        rows = list(conn.execute("SELECT id, email, name, disabled FROM users WHERE id = ?", (user_id,)))
    user_id, email, name, disabled = rows[0]
    if disabled:
        raise Denied("this account is disabled")
    return user_id, email, name


def _sync_role(conn: apsw.Connection, user_id: str, org_id: str, role: str | None, managed: bool) -> None:
    rows = list(conn.execute("SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id)))
    current = rows[0][0] if rows else None
    if role == current or (role is None and not managed):
        return
    sql = "SELECT count(*) FROM org_members WHERE org_id = ? AND role = 'owner' AND user_id != ?"
    owners = next(iter(conn.execute(sql, (org_id, user_id))))[0]
    if current == "owner" and owners == 0:
        return  # never leave an org without an owner
    target = {"org_id": org_id, "target_type": "user", "target_id": user_id}
    if role is None:
        conn.execute("DELETE FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
        audit.record(conn, SSO_ACTOR, "member.removed", **target, details={"role": current, "by": "group mapping"})
    elif current is None:
        conn.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)", (org_id, user_id, role))
        audit.record(conn, SSO_ACTOR, "member.added", **target, details={"role": role, "by": "group mapping"})
    else:
        conn.execute("UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ?", (role, org_id, user_id))
        audit.record(
            conn,
            SSO_ACTOR,
            "member.role_changed",
            **target,
            details={"from": current, "to": role, "by": "group mapping"},
        )


def sign_in(
    conn: apsw.Connection, claims: dict[str, Any], settings: OidcSettings, group_roles: dict[str, str]
) -> users.User | None:
    """The signed-in user, or None when they are left with no role (the role sync is kept either way)."""
    user_id, email, name = _account(conn, claims, settings)
    role = role_for_groups(claims.get(settings.groups_claim), group_roles, settings.default_role)
    _sync_role(conn, user_id, _org(conn, settings.org_id), role, managed=bool(group_roles))
    has_role = list(
        conn.execute(
            "SELECT 1 FROM org_members WHERE user_id = ?1 UNION ALL SELECT 1 FROM project_members WHERE user_id = ?1 "
            "LIMIT 1",
            (user_id,),
        )
    )
    return users.User(user_id, email, name, "", False, 0) if has_role else None
