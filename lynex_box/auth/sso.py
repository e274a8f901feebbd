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

from lynex_box.auth import memberships, users
from lynex_box.auth.errors import Conflict, Denied
from lynex_box.auth.oidc import role_for_groups
from lynex_box.config import OidcSettings
from lynex_box.meta.audit import Actor

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


def sign_in(
    conn: apsw.Connection, claims: dict[str, Any], settings: OidcSettings, group_roles: dict[str, str]
) -> users.User | None:
    """The signed-in user, or None when they are left with no role (the role sync is kept either way)."""
    user_id, email, name = _account(conn, claims, settings)
    role = role_for_groups(claims.get(settings.groups_claim), group_roles, settings.default_role)
    if role is not None or group_roles:
        memberships.apply_managed_role(conn, SSO_ACTOR, _org(conn, settings.org_id), user_id, role, "group mapping")
    has_role = memberships.has_any_role(conn, user_id)
    return users.User(user_id, email, name, "", False, 0) if has_role else None
