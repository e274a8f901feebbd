"""`users.list_with_orgs`: what `lynex-box users list` prints, read from meta.db by the package, not the CLI."""

from __future__ import annotations

from lynex_box.auth import users
from lynex_box.auth.admin import create_org, hash_password
from lynex_box.meta.db import MetaDB


def test_every_account_is_listed_oldest_first_with_its_role_in_each_org(db: MetaDB, org: dict[str, str]) -> None:
    other = create_org(db, "Other")
    db.write(lambda c: c.execute("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, 'viewer')",
                                 (other, org["admin"])))  # fmt: skip
    loner = db.write(lambda c: users.insert_user(c, "loner@acme.io", hash_password("x" * 12), "Lone"))
    listed = users.list_with_orgs(db)
    assert [u["email"] for u in listed] == ["owner@acme.io", "admin@acme.io", "member@acme.io", "viewer@acme.io",
                                            "loner@acme.io"]  # fmt: skip
    assert listed[1] == {"user_id": org["admin"], "email": "admin@acme.io", "name": "", "disabled": False,
                         "orgs": {org["org"]: "admin", other: "viewer"}}  # fmt: skip
    assert listed[-1] == {"user_id": loner, "email": "loner@acme.io", "name": "Lone", "disabled": False, "orgs": {}}
