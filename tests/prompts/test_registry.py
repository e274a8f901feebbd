"""Registered prompt versions: immutable text, next-number versions, per-project isolation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from lynex_box.meta.db import MetaDB
from lynex_box.prompts import registry


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MetaDB]:
    meta = MetaDB(tmp_path / "meta.db")

    def setup(conn: apsw.Connection) -> None:
        conn.execute("INSERT INTO orgs (id, name, created_at) VALUES ('org_1', 'o', 0)")
        for pid in ("proj_a", "proj_b"):
            conn.execute("INSERT INTO projects (id, org_id, name, created_at) VALUES (?, 'org_1', ?, 0)", (pid, pid))

    meta.write(setup)
    yield meta
    meta.close()


def test_versions_default_to_the_next_whole_number(db: MetaDB) -> None:
    first, new1 = registry.register(db, "proj_a", "qa", None, "v1 text")
    second, new2 = registry.register(db, "proj_a", "qa", None, "v2 text")
    named, _ = registry.register(db, "proj_a", "qa", "beta", "beta text")
    third, _ = registry.register(db, "proj_a", "qa", None, "v3 text")
    assert (first.version, second.version, named.version, third.version) == ("1", "2", "beta", "3")
    assert new1 and new2
    assert [v.version for v in registry.versions(db, "proj_a", "qa")] == ["1", "2", "beta", "3"]


def test_same_text_again_is_not_new_and_other_text_is_a_conflict(db: MetaDB) -> None:
    registry.register(db, "proj_a", "qa", "3", "Be brief.")
    again, created = registry.register(db, "proj_a", "qa", "3", "Be brief.")
    assert not created and again.template == "Be brief."
    with pytest.raises(registry.PromptError) as err:
        registry.register(db, "proj_a", "qa", "3", "Be verbose.")
    assert err.value.status == 409
    assert [v.template for v in registry.versions(db, "proj_a", "qa")] == ["Be brief."]


def test_projects_do_not_see_each_others_prompts(db: MetaDB) -> None:
    registry.register(db, "proj_a", "qa", "1", "a")
    registry.register(db, "proj_b", "qa", "1", "b")
    assert [v.template for v in registry.versions(db, "proj_a")] == ["a"]
    assert [v.template for v in registry.versions(db, "proj_b", "qa")] == ["b"]
    assert registry.versions(db, "proj_a", "other") == []


@pytest.mark.parametrize(
    ("name", "version", "template"),
    [("", "1", "t"), (None, "1", "t"), ("x" * 201, "1", "t"), ("qa", "", "t"), ("qa", 1.5, "t"), ("qa", "1", None)],
)
def test_invalid_registrations_are_refused(name: object, version: object, template: object) -> None:
    with pytest.raises(registry.PromptError):
        registry.validate(name, version, template)


def test_whole_number_versions_are_accepted_as_text() -> None:
    assert registry.validate("qa", 3, "t") == ("qa", "3", "t")
    assert registry.validate("qa", None, "") == ("qa", None, "")
