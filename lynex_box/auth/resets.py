"""Password changes, admin-issued password reset links, and reset links requested by email.

An admin never learns or sets a user's password: they get a one-time reset token (shown once, stored
hashed, valid `password_reset_ttl_s`) to hand to the user, who picks the new password. Any password
change ends the user's other sessions. An admin may reset only users of an org they administer whose
role there is not above their own, and who belong to that org alone (meta/tenancy.py): a reset takes over the
whole account, so an org must never reach an account that also holds roles in another org. A reset requested
by email yields a token only for an enabled account with a password, and the caller's answer must not
depend on whether it did.
"""

from __future__ import annotations

import secrets
import time

import apsw

from lynex_box.auth import rbac
from lynex_box.auth.errors import Denied, NotFound
from lynex_box.auth.sessions import token_hash
from lynex_box.auth.users import User, set_password_hash
from lynex_box.meta import audit, tenancy
from lynex_box.meta.audit import Actor


def _now_us() -> int:
    return time.time_ns() // 1000


def issue(
    conn: apsw.Connection, actor: Actor, org_id: str, actor_role: str | None, user_id: str, ttl_s: int
) -> tuple[str, int]:
    """(token, expires_at) of a reset link for `user_id`, who must be a member of `org_id`."""
    rows = list(conn.execute("SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id)))
    if not rows:
        raise NotFound("that user is not a member of this organisation")
    if not rbac.can_assign(actor_role, rows[0][0], None):
        raise Denied(f"your role does not allow you to reset the password of a {rows[0][0]!r}")
    if tenancy.belongs_elsewhere(conn, user_id, org_id):
        raise Denied(
            "this account also belongs to another organisation, so no single organisation may reset it; "
            "its holder can use 'forgot password', or the operator 'lynex-box users reset-password'"
        )
    token = "lxr_" + secrets.token_urlsafe(32)
    now = _now_us()
    expires = now + ttl_s * 1_000_000
    conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (token_hash(token), user_id, actor.id, now, expires),
    )
    audit.record(conn, actor, "password.reset_issued", org_id=org_id, target_type="user", target_id=user_id)
    return token, expires


def redeem(conn: apsw.Connection, token: str, new_hash: str, ip: str) -> str:
    """Set the password of the token's user, end all their sessions; returns the user id."""
    rows = list(
        conn.execute(
            "SELECT r.user_id, u.email FROM password_resets r JOIN users u ON u.id = r.user_id "
            "WHERE r.token_hash = ? AND r.used_at IS NULL AND r.expires_at > ?",
            (token_hash(token), _now_us()),
        )
    )
    if not rows:
        raise NotFound("this reset link is unknown, used or expired; request a new one")
    user_id, email = rows[0]
    conn.execute("UPDATE password_resets SET used_at = ? WHERE token_hash = ?", (_now_us(), token_hash(token)))
    conn.execute("UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", (_now_us(), user_id))
    set_password_hash(conn, user_id, new_hash)
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
    audit.record(conn, Actor("user", user_id, email, ip), "password.reset", target_type="user", target_id=user_id)
    return str(user_id)


def change(conn: apsw.Connection, actor: Actor, user_id: str, new_hash: str, keep_session: str) -> None:
    """A user's own password change; their other sessions end."""
    set_password_hash(conn, user_id, new_hash)
    conn.execute("DELETE FROM sessions WHERE user_id = ? AND id_hash != ?", (user_id, keep_session))
    audit.record(conn, actor, "password.changed", target_type="user", target_id=user_id)


def operator_issue(conn: apsw.Connection, actor: Actor, user_id: str, ttl_s: int) -> tuple[str, int]:
    """A reset link issued by the operator of the machine (the command line): no role check, audited."""
    if not list(conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,))):
        raise NotFound("no user with that id")
    token = "lxr_" + secrets.token_urlsafe(32)
    now = _now_us()
    conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (token_hash(token), user_id, actor.id, now, now + ttl_s * 1_000_000),
    )
    audit.record(conn, actor, "password.reset_issued", target_type="user", target_id=user_id)
    return token, now + ttl_s * 1_000_000


def operator_set(conn: apsw.Connection, actor: Actor, user_id: str, new_hash: str) -> None:
    """Set a password from the command line (lost owner password); ends all the user's sessions. The operator
    knows it, so the user must replace it at the next sign-in."""
    set_password_hash(conn, user_id, new_hash, must_change=True)
    conn.execute("UPDATE users SET disabled = 0 WHERE id = ?", (user_id,))
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
    audit.record(conn, actor, "password.reset", target_type="user", target_id=user_id, details={"by": "cli"})


def email_issue(conn: apsw.Connection, email: str, ip: str, ttl_s: int, allowed: bool) -> tuple[User, str, int] | None:
    """(user, token, expires_at) for a reset link to email to `email`, or None when nothing is to be sent:
    no such account, disabled, password-less (SSO only), or `allowed` is False (over the hourly limit).
    Either way the request is audited, without the typed email unless it names an account."""
    rows = list(
        conn.execute(
            "SELECT id, email, name, password_hash, disabled, created_at FROM users WHERE email = ? COLLATE NOCASE",
            (email.strip(),),
        )
    )
    user = User(rows[0][0], rows[0][1], rows[0][2], rows[0][3], bool(rows[0][4]), rows[0][5]) if rows else None
    if user is None:
        outcome = "no_account"
    elif user.disabled or not user.password_hash:
        outcome = "not_eligible"
    else:
        outcome = "sent" if allowed else "rate_limited"
    actor = Actor("anonymous", "", user.email if user else "", ip)
    target = user.id if user else ""
    audit.record(
        conn,
        actor,
        "password.reset_requested",
        target_type="user" if user else "",
        target_id=target,
        details={"outcome": outcome},
    )
    if user is None or outcome != "sent":
        return None
    token = "lxr_" + secrets.token_urlsafe(32)
    now = _now_us()
    expires = now + ttl_s * 1_000_000
    conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (token_hash(token), user.id, "email", now, expires),
    )
    return user, token, expires
