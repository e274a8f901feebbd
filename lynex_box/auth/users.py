"""Users: lookup, listing, password policy, login verification and password changes.

Passwords are hashed with argon2 (slow on purpose: callers run these functions in a thread) and
never logged, returned or stored in clear. A login for an unknown email still runs one argon2
verification so that timing does not tell which emails exist.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import apsw

from lynex_box.auth.admin import AdminError, hash_password, new_id, verify_password
from lynex_box.auth.errors import Conflict
from lynex_box.meta.db import MetaDB

MAX_PASSWORD: Final = 1024  # argon2 hashes any length; a bound keeps a huge body from costing CPU
_COLUMNS: Final = "id, email, name, password_hash, disabled, created_at, must_change_password"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str
    disabled: bool
    created_at: int
    must_change_password: bool = False  # a printed password: the next sign-in may only change it

    def public(self) -> dict[str, Any]:
        must_change = self.must_change_password
        return {"id": self.id, "email": self.email, "name": self.name, "must_change_password": must_change}


def _user(row: tuple[Any, ...]) -> User:
    return User(row[0], row[1], row[2], row[3], bool(row[4]), row[5], bool(row[6]))


def clean_email(email: object) -> str:
    if not isinstance(email, str):
        raise AdminError("email must be a string")
    email = email.strip()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or len(email) > 320 or any(c.isspace() for c in email):
        raise AdminError("email is not an email address")
    return email


def check_password_policy(password: object, min_length: int, email: str = "") -> str:
    """The password if acceptable; AdminError naming the rule otherwise (never the password)."""
    if not isinstance(password, str):
        raise AdminError("password must be a string")
    if len(password) < min_length:
        raise AdminError(f"password must be at least {min_length} characters")
    if len(password) > MAX_PASSWORD:
        raise AdminError(f"password must be at most {MAX_PASSWORD} characters")
    if email and password.strip().lower() == email.strip().lower():
        raise AdminError("password must not be the email address")
    return password


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def get_user(db: MetaDB, user_id: str) -> User | None:
    rows = db.read(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
    return _user(rows[0]) if rows else None


def find_by_email(db: MetaDB, email: str) -> User | None:
    rows = db.read(f"SELECT {_COLUMNS} FROM users WHERE email = ? COLLATE NOCASE", (email.strip(),))
    return _user(rows[0]) if rows else None


def list_with_orgs(db: MetaDB) -> list[dict[str, Any]]:
    """Every account, oldest first, with the orgs it belongs to and its role in each (`{org_id: role}`)."""
    rows = db.read(
        "SELECT u.id, u.email, u.name, u.disabled, group_concat(m.org_id || ':' || m.role) FROM users u "
        "LEFT JOIN org_members m ON m.user_id = u.id GROUP BY u.id ORDER BY u.created_at"
    )
    return [
        {
            "user_id": r[0],
            "email": r[1],
            "name": r[2],
            "disabled": bool(r[3]),
            "orgs": dict(x.split(":", 1) for x in (r[4] or "").split(",") if x),
        }
        for r in rows
    ]


def verify_login(db: MetaDB, email: str, password: str) -> User | None:
    """The user if the email and password match an enabled account; None otherwise. Slow (argon2)."""
    user = find_by_email(db, email) if len(email) <= 320 else None
    if user is None or not user.password_hash:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or user.disabled:
        return None
    return user


def insert_user(conn: apsw.Connection, email: str, password_hash: str, name: str = "") -> str:
    """Insert inside the caller's transaction; Conflict when the email is taken."""
    if list(conn.execute("SELECT 1 FROM users WHERE email = ? COLLATE NOCASE", (email,))):
        raise Conflict("an account with that email exists; log in, then accept")
    user_id = new_id("user")
    conn.execute(
        "INSERT INTO users (id, email, password_hash, name, created_at) VALUES (?, ?, ?, ?, ?)",
        (user_id, email, password_hash, name[:200], time.time_ns() // 1000),
    )
    return user_id


def set_password_hash(conn: apsw.Connection, user_id: str, password_hash: str, must_change: bool = False) -> None:
    """Store a new password; `must_change` when someone other than the user chose it (printed by the operator's
    command), so that the user's next sign-in can do nothing but replace it."""
    conn.execute(
        "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?",
        (password_hash, int(must_change), user_id),
    )
