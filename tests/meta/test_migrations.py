"""meta.db's migrations: an older meta.db is brought up to date step by step; a newer one is refused untouched."""

from __future__ import annotations

import threading
from pathlib import Path

import apsw
import pytest

from lynex_box.meta.db import MetaDB
from lynex_box.meta.migrations import META_SCHEMA_VERSION, MIGRATIONS, pending, schema_version
from lynex_box.versions import FormatTooNew


def user_version(path: Path) -> int:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return int(conn.pragma("user_version"))
    finally:
        conn.close()


def test_every_migration_has_a_name_and_the_schema_version_is_their_count() -> None:
    assert len(MIGRATIONS) == META_SCHEMA_VERSION
    names = [m.name for m in MIGRATIONS]
    assert all(names) and len(set(names)) == len(names)
    assert pending(META_SCHEMA_VERSION) == []
    assert pending(META_SCHEMA_VERSION - 2) == [
        (META_SCHEMA_VERSION - 1, MIGRATIONS[-2].name),
        (META_SCHEMA_VERSION, MIGRATIONS[-1].name),
    ]


def test_an_older_meta_db_gets_the_pending_migrations(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    conn = apsw.Connection(str(path))
    for number, migration in enumerate(MIGRATIONS[:5], 1):  # as a release with five migrations left it
        with conn:
            conn.execute(migration.sql)
            conn.pragma("user_version", number)
    conn.close()
    db = MetaDB(path)
    assert schema_version(db.reader()) == META_SCHEMA_VERSION
    db.close()


def test_a_meta_db_of_a_newer_release_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    MetaDB(path).close()
    conn = apsw.Connection(str(path))
    conn.pragma("user_version", META_SCHEMA_VERSION + 1)  # a newer release migrated it one step further
    conn.close()
    before = path.read_bytes()
    threads = threading.active_count()
    with pytest.raises(FormatTooNew) as info:
        MetaDB(path)
    assert (info.value.what, info.value.where) == ("meta.db", str(path))
    assert (info.value.found, info.value.supported) == (META_SCHEMA_VERSION + 1, META_SCHEMA_VERSION)
    message = str(info.value)
    assert f"has format version {META_SCHEMA_VERSION + 1}, newer than this Lynex Box reads" in message
    assert f"(version {META_SCHEMA_VERSION} and older)" in message
    assert "hint: run the Lynex Box release that wrote it" in message
    assert user_version(path) == META_SCHEMA_VERSION + 1 and path.read_bytes() == before
    assert threading.active_count() == threads  # no writer thread left behind
