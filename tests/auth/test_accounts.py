"""Memberships, invitations, password resets and sessions against a real meta.db."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lynex_box.auth import invitations, memberships, resets, users
from lynex_box.auth.admin import hash_password
from lynex_box.auth.errors import AdminError, Conflict, Denied, NotFound
from lynex_box.auth.sessions import SessionStore
from lynex_box.config import AuthSettings
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB


def actor(user_id: str) -> Actor:
    return Actor("user", user_id, "x@acme.io", "127.0.0.1")


def run(db: MetaDB, fn: Any) -> Any:
    return db.write(fn)


def test_an_org_keeps_one_owner(db: MetaDB, org: dict[str, str]) -> None:
    owner = org["owner"]
    with pytest.raises(Conflict, match="at least one owner"):
        run(db, lambda c: memberships.change_org_role(c, actor(owner), "owner", org["org"], owner, "admin"))
    with pytest.raises(Conflict):
        run(db, lambda c: memberships.remove_org_member(c, actor(owner), "owner", org["org"], owner))
    run(db, lambda c: memberships.change_org_role(c, actor(owner), "owner", org["org"], org["admin"], "owner"))
    run(db, lambda c: memberships.change_org_role(c, actor(owner), "owner", org["org"], owner, "admin"))
    assert memberships.org_role(db, owner, org["org"]) == "admin"


def test_admins_cannot_touch_owners_or_grant_owner(db: MetaDB, org: dict[str, str]) -> None:
    a = org["admin"]
    with pytest.raises(Denied):
        run(db, lambda c: memberships.change_org_role(c, actor(a), "admin", org["org"], org["member"], "owner"))
    with pytest.raises(Denied):
        run(db, lambda c: memberships.remove_org_member(c, actor(a), "admin", org["org"], org["owner"]))
    with pytest.raises(Denied):
        run(db, lambda c: memberships.change_org_role(c, actor(a), "member", org["org"], org["viewer"], "member"))
    run(db, lambda c: memberships.change_org_role(c, actor(a), "admin", org["org"], org["viewer"], "member"))
    assert memberships.org_role(db, org["viewer"], org["org"]) == "member"


def test_per_project_roles_override_the_org_role_on_that_project_only(db: MetaDB, org: dict[str, str]) -> None:
    p, v = org["project"], org["viewer"]
    run(db, lambda c: memberships.set_project_role(c, actor(org["admin"]), "admin", p, v, "admin", create=True))
    assert memberships.project_role(db, v, p) == (org["org"], "admin")
    assert memberships.project_role(db, v, org["other_project"]) == (org["org"], "viewer")
    assert {x["project_id"]: x["role"] for x in memberships.user_projects(db, v)}[p] == "admin"
    with pytest.raises(Conflict):
        run(db, lambda c: memberships.set_project_role(c, actor(org["admin"]), "admin", p, v, "member", create=True))
    with pytest.raises(AdminError, match="owners"):
        run(db, lambda c: memberships.set_project_role(c, actor(org["owner"]), "owner", p, org["owner"], "viewer",
                                                       create=False))  # fmt: skip
    run(db, lambda c: memberships.remove_project_role(c, actor(org["admin"]), "admin", p, v))
    assert memberships.project_role(db, v, p) == (org["org"], "viewer")
    with pytest.raises(NotFound):
        run(db, lambda c: memberships.remove_project_role(c, actor(org["admin"]), "admin", p, v))
    assert memberships.project_role(db, v, "proj_nope") is None


def test_removing_an_org_member_removes_their_project_roles(db: MetaDB, org: dict[str, str]) -> None:
    p, m = org["project"], org["member"]
    run(db, lambda c: memberships.set_project_role(c, actor(org["owner"]), "owner", p, m, "admin", create=True))
    run(db, lambda c: memberships.remove_org_member(c, actor(org["owner"]), "owner", org["org"], m))
    assert memberships.project_role(db, m, p) == (org["org"], None)
    assert memberships.user_projects(db, m) == []


def test_an_invitation_works_once_for_its_email_and_never_lowers_a_role(db: MetaDB, org: dict[str, str]) -> None:
    a = org["admin"]
    with pytest.raises(Denied):
        run(db, lambda c: invitations.create(c, actor(a), "admin", org["org"], "owner", "", None, None, 60))
    token, _, _ = run(db, lambda c: invitations.create(c, actor(a), "admin", org["org"], "member", "new@acme.io",
                                                       org["project"], "admin", 60))  # fmt: skip
    assert invitations.lookup(db, token)["email"] == "new@acme.io"  # type: ignore[index]
    with pytest.raises(Denied, match="another email"):
        run(db, lambda c: invitations.accept(c, token, org["viewer"], "viewer@acme.io", actor(org["viewer"])))
    new = run(db, lambda c: users.insert_user(c, "New@acme.io", hash_password("x" * 12)))
    run(db, lambda c: invitations.accept(c, token, new, "New@acme.io", actor(new)))
    assert memberships.project_role(db, new, org["project"]) == (org["org"], "admin")
    assert memberships.org_role(db, new, org["org"]) == "member"
    assert invitations.lookup(db, token) is None
    with pytest.raises(NotFound):
        run(db, lambda c: invitations.accept(c, token, new, "new@acme.io", actor(new)))
    open_token, _, _ = run(db, lambda c: invitations.create(c, actor(a), "admin", org["org"], "viewer", "", None,
                                                            None, 60))  # fmt: skip
    run(db, lambda c: invitations.accept(c, open_token, org["admin"], "admin@acme.io", actor(a)))
    assert memberships.org_role(db, org["admin"], org["org"]) == "admin"


def test_revoked_and_expired_invitations_do_not_work(db: MetaDB, org: dict[str, str]) -> None:
    a = org["admin"]
    token, inv_id, _ = run(db, lambda c: invitations.create(c, actor(a), "admin", org["org"], "viewer", "", None,
                                                            None, 60))  # fmt: skip
    run(db, lambda c: invitations.revoke(c, actor(a), org["org"], inv_id))
    assert invitations.lookup(db, token) is None
    token2, inv2, _ = run(db, lambda c: invitations.create(c, actor(a), "admin", org["org"], "viewer", "", None,
                                                           None, 60))  # fmt: skip
    db.write(lambda c: c.execute("UPDATE invitations SET expires_at = 1 WHERE id = ?", (inv2,)))
    assert invitations.lookup(db, token2) is None
    assert [i["id"] for i in invitations.list_pending(db, org["org"])] == []


def test_password_reset_by_an_admin_is_bounded_by_rank_and_single_use(db: MetaDB, org: dict[str, str]) -> None:
    a = org["admin"]
    with pytest.raises(Denied):
        run(db, lambda c: resets.issue(c, actor(a), org["org"], "admin", org["owner"], 60))
    token, _ = run(db, lambda c: resets.issue(c, actor(a), org["org"], "admin", org["member"], 60))
    run(db, lambda c: resets.redeem(c, token, hash_password("brand-new-pass"), "127.0.0.1"))
    assert users.verify_login(db, "member@acme.io", "brand-new-pass") is not None
    assert users.verify_login(db, "member@acme.io", "member" * 4) is None
    with pytest.raises(NotFound):
        run(db, lambda c: resets.redeem(c, token, hash_password("again-again"), "127.0.0.1"))


def test_sessions_resolve_until_logout_expiry_idle_or_disable(db: MetaDB, org: dict[str, str]) -> None:
    store = SessionStore(db, AuthSettings(session_ttl_s=60, session_idle_s=60))
    new = db.write(lambda c: store.create_in(c, org["member"], "1.2.3.4", "ua"))
    session = store.resolve(new.token)
    assert session is not None and session.user_id == org["member"] and session.email == "member@acme.io"
    assert session.csrf_ok(new.csrf_token) and not session.csrf_ok("nope") and not session.csrf_ok(None)
    assert store.resolve(new.token + "x") is None and store.resolve(None) is None
    assert db.read("SELECT count(*) FROM sessions WHERE id_hash = ?", (new.token,)) == [(0,)]  # stored hashed
    db.write(lambda c: store.end(c, session.id_hash))
    assert store.resolve(new.token) is None
    old = db.write(lambda c: store.create_in(c, org["member"], "", ""))
    db.write(lambda c: c.execute("UPDATE sessions SET last_seen_at = ?", (time.time_ns() // 1000 - 61_000_000,)))
    assert store.resolve(old.token) is None
    live = db.write(lambda c: store.create_in(c, org["member"], "", ""))
    db.write(lambda c: c.execute("UPDATE users SET disabled = 1 WHERE id = ?", (org["member"],)))
    assert store.resolve(live.token) is None


def test_login_verification(db: MetaDB, org: dict[str, str]) -> None:
    assert users.verify_login(db, "VIEWER@acme.io", "viewer" * 4) is not None
    assert users.verify_login(db, "viewer@acme.io", "wrong") is None
    assert users.verify_login(db, "ghost@acme.io", "viewer" * 4) is None
    with pytest.raises(AdminError, match="at least 10"):
        users.check_password_policy("short", 10)
    with pytest.raises(AdminError, match="email"):
        users.check_password_policy("me@acme.io", 5, "me@acme.io")
