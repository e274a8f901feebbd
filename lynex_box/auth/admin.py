"""Administrative operations on meta.db: orgs, projects, users, API keys, instance settings.

Shared by the CLI (which may run beside the server) and the admin API. Every write is one
transaction on the MetaDB writer. Ids are generated here, never taken from a client, so they are safe
in paths. Secrets (passwords, keys) are returned once to the caller and stored only as hashes.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import apsw
from argon2 import PasswordHasher

from lynex_box.auth.keys import SCOPES, generate_key, hash_key
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB

PROJECT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_hasher = PasswordHasher()
CLI_ACTOR = Actor("system", "cli", "lynex-box command line")


class AdminError(ValueError):
    """A request the operator must fix; the message names the value."""


def _now_us() -> int:
    return time.time_ns() // 1000


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except Exception:
        return False


@dataclass(frozen=True, slots=True)
class CreatedKey:
    api_key: str
    key_id: str
    project_id: str
    scope: str
    prefix: str


def get_setting(db: MetaDB, key: str) -> str | None:
    rows = db.read("SELECT value FROM instance_settings WHERE key = ?", (key,))
    return rows[0][0] if rows else None


def set_setting(conn: apsw.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO instance_settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def create_org(db: MetaDB, name: str) -> str:
    org_id = new_id("org")
    db.write(lambda c: c.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)", (org_id, name, _now_us())))
    return org_id


def create_project(db: MetaDB, name: str, org_id: str | None = None) -> str:
    if not name or len(name) > 200:
        raise AdminError(f"project name {name!r} must be 1..200 characters")
    project_id = new_id("proj")

    def tx(conn: apsw.Connection) -> None:
        org = org_id
        if org is None:
            row = list(conn.execute("SELECT id FROM orgs ORDER BY created_at LIMIT 1"))
            if not row:
                raise AdminError("no organisation exists yet; hint: run `lynex-box init` first")
            org = row[0][0]
        elif not list(conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org,))):
            raise AdminError(f"organisation {org!r} does not exist")
        conn.execute(
            "INSERT INTO projects (id, org_id, name, created_at) VALUES (?, ?, ?, ?)",
            (project_id, org, name, _now_us()),
        )
        audit.record(
            conn,
            CLI_ACTOR,
            "project.created",
            org_id=org,
            project_id=project_id,
            target_type="project",
            target_id=project_id,
            details={"name": name},
        )

    db.write(tx)
    return project_id


def list_projects(db: MetaDB) -> list[dict[str, Any]]:
    rows = db.read(
        "SELECT id, org_id, name, created_at, retention_days, hot_window_s FROM projects ORDER BY created_at"
    )
    keys = ("project_id", "org_id", "name", "created_at", "retention_days", "hot_window_s")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def project_exists(db: MetaDB, project_id: str) -> bool:
    return bool(db.read("SELECT 1 FROM projects WHERE id = ?", (project_id,)))


def create_key(
    db: MetaDB,
    project_id: str,
    scope: str = "admin",
    name: str = "",
    expires_at: int | None = None,
    actor: Actor | None = None,
) -> CreatedKey:
    """A new key (its secret is in the result only); audited as `actor` (the CLI when None)."""
    if scope not in SCOPES:
        raise AdminError(f"scope {scope!r} is not one of {list(SCOPES)}")
    if not project_exists(db, project_id):
        raise AdminError(f"project {project_id!r} does not exist; hint: `lynex-box projects list`")
    key, prefix = generate_key()
    key_id = new_id("key")

    def tx(conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO api_keys (id, project_id, prefix, key_hash, scope, name, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key_id, project_id, prefix, hash_key(key), scope, name, _now_us(), expires_at),
        )
        org = next(iter(conn.execute("SELECT org_id FROM projects WHERE id = ?", (project_id,))))[0]
        details = {"scope": scope, "prefix": prefix, "name": name, "expires_at": expires_at}
        audit.record(
            conn,
            actor or CLI_ACTOR,
            "key.created",
            org_id=org,
            project_id=project_id,
            target_type="api_key",
            target_id=key_id,
            details=details,
        )

    db.write(tx)
    return CreatedKey(api_key=key, key_id=key_id, project_id=project_id, scope=scope, prefix=prefix)


def list_keys(db: MetaDB, project_id: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, project_id, prefix, scope, name, created_at, expires_at, revoked_at, last_used_at FROM api_keys"
    params: tuple[Any, ...] = ()
    if project_id is not None:
        sql += " WHERE project_id = ?"
        params = (project_id,)
    keys = ("key_id", "project_id", "prefix", "scope", "name", "created_at", "expires_at", "revoked_at", "last_used_at")
    return [dict(zip(keys, r, strict=True)) for r in db.read(sql + " ORDER BY created_at", params)]


def revoke_key(db: MetaDB, key_id: str, project_id: str | None = None, actor: Actor | None = None) -> bool:
    """Revoke by key id (or prefix); scoped to `project_id` when given. False if nothing matched."""

    def tx(conn: apsw.Connection) -> int:
        sql = (
            "SELECT k.id, k.project_id, p.org_id, k.prefix FROM api_keys k JOIN projects p ON p.id = k.project_id "
            "WHERE (k.id = ? OR k.prefix = ?) AND k.revoked_at IS NULL"
        )
        params: tuple[Any, ...] = (key_id, key_id)
        if project_id is not None:
            sql += " AND k.project_id = ?"
            params += (project_id,)
        found = list(conn.execute(sql, params))
        for kid, pid, org, prefix in found:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (_now_us(), kid))
            audit.record(
                conn,
                actor or CLI_ACTOR,
                "key.revoked",
                org_id=org,
                project_id=pid,
                target_type="api_key",
                target_id=kid,
                details={"prefix": prefix},
            )
        return len(found)

    return db.write(tx) > 0


def create_user(db: MetaDB, email: str, password: str, org_id: str, role: str, must_change: bool = False) -> str:
    """A new account of `org_id`; `must_change` for a password that was printed (its first sign-in must replace it)."""
    if "@" not in email or len(email) > 320:
        raise AdminError(f"email {email!r} is not an email address")
    user_id = new_id("user")
    hashed = hash_password(password)

    def tx(conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, created_at, must_change_password) VALUES (?, ?, ?, ?, ?)",
            (user_id, email, hashed, _now_us(), int(must_change)),
        )
        conn.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)", (org_id, user_id, role))

    db.write(tx)
    return user_id
