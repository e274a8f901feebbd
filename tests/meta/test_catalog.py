"""The catalog: migrations, and publishing that refuses a gap or an overlap in the WAL range."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lynex_box.meta.catalog import Catalog, CatalogConflict, SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.meta.migrations import MIGRATIONS, schema_version


def entry(sid: str, wal_from: int, wal_to: int) -> SegmentEntry:
    return SegmentEntry(sid, "p1", f"segments/p1/{sid}.parquet", 1, 2, 3, 4, wal_from=wal_from, wal_to=wal_to)


def test_migrations_run_once_and_set_user_version(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    assert schema_version(db.reader()) == len(MIGRATIONS)
    db.close()
    db = MetaDB(tmp_path / "meta.db")  # re-opening applies nothing twice
    assert schema_version(db.reader()) == len(MIGRATIONS)
    db.close()


def test_publish_advances_the_consumed_position_with_the_rows(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    catalog = Catalog(db)
    catalog.publish([entry("a", 1, 10)], 1, 10)
    catalog.publish([], 11, 12)  # records that produced no span still advance
    assert catalog.consumed_lsn() == 12
    assert [e.id for e in catalog.segments()] == ["a"]
    db.close()


@pytest.mark.parametrize(("wal_from", "kind"), [(12, "gap"), (5, "overlap"), (10, "overlap")])
def test_publish_refuses_gaps_and_overlaps_and_changes_nothing(tmp_path: Path, wal_from: int, kind: str) -> None:
    db = MetaDB(tmp_path / "meta.db")
    catalog = Catalog(db)
    catalog.publish([entry("a", 1, 10)], 1, 10)
    with pytest.raises(CatalogConflict, match=kind):
        catalog.publish([entry("b", wal_from, 20)], wal_from, 20)
    assert catalog.consumed_lsn() == 10
    assert [e.id for e in catalog.segments()] == ["a"]
    db.close()


def test_readers_in_other_threads_see_committed_writes(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    catalog = Catalog(db)
    catalog.publish([entry("a", 1, 1)], 1, 1)
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(catalog.consumed_lsn()))
    thread.start()
    thread.join()
    assert seen == [1]
    db.close()
