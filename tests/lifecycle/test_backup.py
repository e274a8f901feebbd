"""Backup and restore: backup -> wipe -> restore -> the same query results, from the bucket or a directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from lynex_box.lifecycle.backup import RestoreError, list_backups, restore, scan_backups
from lynex_box.lifecycle.deletion import delete
from lynex_box.meta.migrations import META_SCHEMA_VERSION
from lynex_box.objstore import LocalStore, ObjectMeta
from lynex_box.versions import BUCKET_FORMAT, FormatTooNew
from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, now_ms, rows, s3_bucket
from tests.objstore.conftest import MotoServer


def fill(engine: Any) -> list[dict[str, Any]]:
    add_segment(engine, "p1", "old", 20, now_ms() - 5 * DAY_MS)
    add_segment(engine, "p1", "new", 20, now_ms() - DAY_MS // 4)
    add_segment(engine, "p2", "other", 5, now_ms() - DAY_MS // 4)
    delete(engine.meta, "p1", "user", "user-2", 3600)  # pending: the restored node still hides it
    return rows(engine) + rows(engine, "p2")


def test_backup_to_the_bucket_then_restore_into_a_new_data_dir(
    open_engine: Any, tmp_path: Path, moto_server: MotoServer, bucket: str
) -> None:
    settings = {"bucket": s3_bucket(moto_server, bucket), "offload": {"hot_window_s": 2 * 86_400}}
    engine = open_engine(**settings)
    expected = fill(engine)
    engine.lifecycle.offload()  # one remote segment, two local ones: both kinds are in the backup
    manifest = engine.lifecycle.backup()
    assert len(manifest.segments) == 3 and manifest.node_id == engine.lifecycle.ctx.node_id
    node = engine.lifecycle.ctx.node_id
    engine.close()
    shutil.rmtree(tmp_path / "data")  # the disk is lost

    restored = restore(engine.lifecycle.bucket, tmp_path / "new", from_bucket=True)
    assert restored.name == manifest.name
    engine = open_engine(tmp_path / "new", **settings)
    assert engine.lifecycle.ctx.node_id == node
    assert all(e.location == "remote" for e in engine.store.segment_entries())
    assert rows(engine) + rows(engine, "p2") == expected
    engine.meta.write(lambda c: c.execute("INSERT INTO pinned_ranges (project_id, from_us, to_us, created_at) "
                                          "VALUES ('p1', 0, 9e18, 0)"))  # fmt: skip
    engine.lifecycle.offload()  # rehydrates the pinned project back to local disk
    assert {e.location for e in engine.store.segment_entries("p1")} == {"local"}
    assert rows(engine) + rows(engine, "p2") == expected


def test_backup_to_a_directory_is_incremental_rotated_and_restorable_without_a_bucket(
    open_engine: Any, tmp_path: Path
) -> None:
    engine = open_engine()
    expected = fill(engine)
    target = tmp_path / "backups"
    first = engine.lifecycle.backup(target, keep=2)
    files_after_first = sorted(p.name for p in target.rglob("*.parquet"))
    second = engine.lifecycle.backup(target, keep=2)
    assert sorted(p.name for p in target.rglob("*.parquet")) == files_after_first  # segments copied once
    add_segment(engine, "p1", "later", 5, now_ms())
    engine.lifecycle.compact()
    third = engine.lifecycle.backup(target, keep=2)
    names = [m.name for m in list_backups(LocalStore(target))]
    assert names == [second.name, third.name] and first.name not in names
    engine.close()

    with pytest.raises(RestoreError, match="new, empty data dir"):
        restore(LocalStore(target), tmp_path / "data", from_bucket=False)
    restore(LocalStore(target), tmp_path / "copy", from_bucket=False, name=second.name)
    engine = open_engine(tmp_path / "copy")
    assert all(e.location == "local" for e in engine.store.segment_entries())
    assert rows(engine) + rows(engine, "p2") == expected


def test_a_remote_segment_is_copied_into_a_directory_backup(open_engine: Any, tmp_path: Path) -> None:
    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 0})
    add_segment(engine, "p1", "x", 10, now_ms() - DAY_MS)
    expected = rows(engine)
    engine.lifecycle.offload()
    engine.lifecycle.backup(tmp_path / "dir")
    engine.close()
    restore(LocalStore(tmp_path / "dir"), tmp_path / "copy", from_bucket=False)
    assert rows(open_engine(tmp_path / "copy")) == expected


class RotatedWhileListed(LocalStore):
    """A directory store on which a rotation (another process) removes one backup between the listing and the
    reads of its manifests."""

    def __init__(self, root: Path, gone: str) -> None:
        super().__init__(root)
        self.gone = gone

    def list(self, prefix: str = "") -> list[ObjectMeta]:
        listed = super().list(prefix)
        self.delete(self.gone)
        return listed


def test_listing_backups_leaves_out_one_rotated_away_while_it_was_listed(open_engine: Any, tmp_path: Path) -> None:
    engine = open_engine()
    fill(engine)
    target = tmp_path / "backups"
    first = engine.lifecycle.backup(target, keep=3)
    second = engine.lifecycle.backup(target, keep=3)
    engine.close()
    gone = next(m.key for m in LocalStore(target).list("backups") if first.name in m.key and m.key.endswith(".json"))
    assert [m.name for m in list_backups(RotatedWhileListed(target, gone))] == [second.name]


def rewrite_manifest(target: Path, name: str, **changes: Any) -> None:
    """Change backup `name`'s manifest in the directory store `target`, as another release might have written it."""
    store = LocalStore(target)
    [key] = [m.key for m in store.list("backups") if m.key.endswith(f"/{name}/manifest.json")]
    store.put(key, orjson.dumps({**orjson.loads(store.get(key).data), **changes}))


def test_a_backup_of_a_newer_release_is_refused_while_an_older_one_stays_restorable(
    open_engine: Any, tmp_path: Path
) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "x", 10, now_ms() - DAY_MS)
    expected = rows(engine)
    target = tmp_path / "backups"
    older = engine.lifecycle.backup(target, keep=5)
    newer = engine.lifecycle.backup(target, keep=5)
    # a newer release wrote the second one in a newer manifest format (with a field this release does not know)
    rewrite_manifest(target, newer.name, format=BUCKET_FORMAT + 1, shards=[])
    store = LocalStore(target)
    assert [m.name for m in scan_backups(store)[0]] == [older.name]
    with pytest.raises(FormatTooNew, match=r"backup manifest .*manifest\.json has format version 2"):
        list_backups(store)
    engine.close()

    with pytest.raises(FormatTooNew) as info:  # the newest is the newer release's: refused, the older one named
        restore(store, tmp_path / "copy", from_bucket=False)
    assert f"--name {older.name}" in info.value.hint
    with pytest.raises(FormatTooNew):
        restore(store, tmp_path / "copy", from_bucket=False, name=newer.name)
    assert not (tmp_path / "copy" / "meta.db").exists()
    restore(store, tmp_path / "copy", from_bucket=False, name=older.name)  # the way back after an upgrade
    engine = open_engine(tmp_path / "copy")
    assert rows(engine) == expected
    with pytest.raises(FormatTooNew):  # its rotation neither counts nor removes backups it cannot read
        engine.lifecycle.backup(target, keep=1)
    assert {m.name for m in scan_backups(store)[0]} > {older.name}  # the one just made, and the older one
    assert len(scan_backups(store)[1]) == 1


def test_a_manifest_keeps_its_meaning_with_fields_added_and_refuses_a_newer_meta_db(
    open_engine: Any, tmp_path: Path
) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "x", 10, now_ms() - DAY_MS)
    target = tmp_path / "backups"
    made = engine.lifecycle.backup(target)
    engine.close()
    rewrite_manifest(target, made.name, added_by_a_later_release={"x": 1})  # same format: read, the field ignored
    assert [m.name for m in list_backups(LocalStore(target))] == [made.name]
    rewrite_manifest(target, made.name, meta_schema_version=META_SCHEMA_VERSION + 1)
    with pytest.raises(FormatTooNew, match=f"backup meta.db .*{made.name}/meta.db has format version"):
        restore(LocalStore(target), tmp_path / "copy", from_bucket=False)
    assert not (tmp_path / "copy" / "meta.db").exists()  # refused before anything was written
