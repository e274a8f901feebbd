"""Organisations: creating one (its creator becomes its first owner).

Who may create an org is an instance-wide rule, decided here: a user who already owns an org (the
operators of the appliance; the first start makes the admin owner of the default org). Everything
inside an org is then governed by its own memberships.
"""

from __future__ import annotations

import time
from typing import Any

import apsw

from lynex_box.auth.admin import new_id
from lynex_box.auth.errors import AdminError, Denied
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB


def name_of(db: MetaDB, org_id: str) -> str:
    """The org's name; "" when there is no org with that id."""
    rows = db.read("SELECT name FROM orgs WHERE id = ?", (org_id,))
    return str(rows[0][0]) if rows else ""


def may_create_org(conn: apsw.Connection, user_id: str) -> bool:
    return bool(
        list(conn.execute("SELECT 1 FROM org_members WHERE user_id = ? AND role = 'owner' LIMIT 1", (user_id,)))
    )


def create(conn: apsw.Connection, actor: Actor, name: object) -> dict[str, Any]:
    """A new org owned by the acting user, inside the caller's transaction."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise AdminError("name must be a string of 1..200 characters")
    if actor.type != "user" or not may_create_org(conn, actor.id):
        raise Denied("only owners of an organisation may create organisations")
    org_id = new_id("org")
    now = time.time_ns() // 1000
    conn.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)", (org_id, name.strip(), now))
    conn.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, 'owner')", (org_id, actor.id))
    audit.record(
        conn, actor, "org.created", org_id=org_id, target_type="org", target_id=org_id, details={"name": name.strip()}
    )
    return {"id": org_id, "name": name.strip(), "role": "owner", "created_at": now}
