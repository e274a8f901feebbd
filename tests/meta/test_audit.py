"""The audit log is append-only, keeps no secrets, and pages newest first by cursor."""

from __future__ import annotations

import apsw
import pytest

from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB

ACTOR = Actor("user", "user_1", "a@b.io", "10.0.0.1")


def test_update_and_delete_are_refused_by_the_database(db: MetaDB) -> None:
    audit.record_now(db, ACTOR, "login", target_type="user", target_id="user_1")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        db.write(lambda c: c.execute("UPDATE audit_log SET actor_id = 'someone else'"))
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        db.write(lambda c: c.execute("DELETE FROM audit_log"))
    assert db.read("SELECT actor_id FROM audit_log") == [("user_1",)]


def test_details_that_name_a_secret_are_dropped(db: MetaDB) -> None:
    details = {"scope": "read", "password": "p", "api_key": "lx_x", "reset_token": "t", "key_hash": "h"}
    audit.record_now(db, ACTOR, "key.created", project_id="p1", details=details)
    items, _ = audit.list_entries(db, project_id="p1")
    assert items[0]["details"] == {"scope": "read"}


def test_unknown_actions_are_refused(db: MetaDB) -> None:
    with pytest.raises(ValueError, match="not one of"):
        audit.record_now(db, ACTOR, "key.stolen")


def test_cursor_pages_newest_first_and_stays_in_its_project(db: MetaDB) -> None:
    for i in range(7):
        audit.record_now(db, ACTOR, "key.created", project_id="p1", target_id=f"k{i}")
    audit.record_now(db, ACTOR, "key.created", project_id="p2", target_id="other")
    seen: list[str] = []
    cursor = None
    while True:
        items, next_cursor = audit.list_entries(db, project_id="p1", before_id=audit.decode_cursor(cursor), limit=3)
        seen += [i["target_id"] for i in items]
        if next_cursor is None:
            break
        cursor = next_cursor
    assert seen == [f"k{i}" for i in reversed(range(7))]
    with pytest.raises(ValueError):
        audit.decode_cursor("not-a-cursor")


def test_org_view_has_its_entries_and_logins_of_its_members(db: MetaDB, org: dict[str, str]) -> None:
    audit.record_now(db, ACTOR, "project.created", org_id=org["org"], project_id=org["project"])
    audit.record_now(db, Actor("user", org["admin"], "admin@acme.io"), "login", target_type="user",
                     target_id=org["admin"])  # fmt: skip
    audit.record_now(db, Actor("user", "stranger", "s@x.io"), "login", target_type="user", target_id="stranger")
    audit.record_now(db, ACTOR, "project.created", org_id="org_other", project_id="p9")
    items, _ = audit.list_entries(db, org_id=org["org"])
    items = [i for i in items if i["actor_type"] != "system"]  # the fixture's projects, created "by the CLI"
    assert [i["action"] for i in items] == ["login", "project.created"]
    assert items[0]["target_id"] == org["admin"]
