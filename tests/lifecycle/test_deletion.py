"""Deletion of a trace, a session or a user: gone from queries at once, from every file after the purge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lynex_box.lifecycle.deletion import DeletionError, delete, pending, purge_pass
from lynex_box.lifecycle.visibility import deleted_condition, read_tombstones
from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, events, ingest, now_ms, parquet_values, rows


def all_files(engine: Any, bucket_dir: Path | None = None) -> list[Path]:
    """Every Parquet file a catalog row names, local and (for a directory bucket) in the bucket."""
    out = []
    for e in engine.store.segment_entries():
        out.append(bucket_dir / e.path if e.location == "remote" and bucket_dir else engine.data_dir / e.path)
    return out


def test_deleted_rows_disappear_from_queries_at_once_and_from_files_after_the_purge(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "a", 30, now_ms() - DAY_MS)
    add_segment(engine, "p1", "b", 30, now_ms() - DAY_MS // 2)
    ingest(engine, "p1", events("c", 10, now_ms() - 1000))  # still in the head
    engine.catch_up()
    before = rows(engine)
    engine.lifecycle.delete("p1", "user", "user-1", None)  # every span here names a user: only user-1's go
    engine.lifecycle.delete("p1", "trace", "a-t0", None)
    after = rows(engine)
    assert after and all(r["user_id"] != "user-1" and r["trace_id"] != "a-t0" for r in after)
    assert len(after) < len(before)
    assert "user-1" in parquet_values(all_files(engine), "user_id")  # files untouched so far

    engine.flush()  # the head's rows reach a segment
    assert engine.lifecycle.purge_deletions() == 3
    assert read_tombstones(engine.meta) == []
    files = all_files(engine)
    assert "user-1" not in parquet_values(files, "user_id")
    assert "a-t0" not in parquet_values(files, "trace_id")
    assert rows(engine) == after  # dropping the tombstones changed nothing visible
    engine.lifecycle.clean(grace_s=0)
    on_disk = sorted((engine.data_dir / "segments" / "p1").glob("*.parquet"))
    assert "user-1" not in parquet_values(on_disk, "user_id")


def test_a_tombstone_waits_for_rows_still_in_the_head(open_engine: Any) -> None:
    engine = open_engine()
    ingest(engine, "p1", events("h", 10, now_ms()))
    engine.catch_up()
    delete(engine.meta, "p1", "user", "user-0", 3600)
    lsn = engine.wal.durable_lsn
    assert purge_pass(engine.lifecycle.ctx, lambda: lsn) == 0  # stamped; the head is not in a segment yet
    assert [t.wal_lsn for t in pending(engine.meta)] == [lsn]
    assert engine.lifecycle.purge_deletions() == 1  # the engine's purge flushes the head first
    assert pending(engine.meta) == []
    files = [engine.data_dir / e.path for e in engine.store.segment_entries()]
    assert "user-0" not in parquet_values(files, "user_id") and len(parquet_values(files, "user_id")) == 6


def test_deletion_rewrites_bucket_files_too(open_engine: Any, tmp_path: Path) -> None:
    bucket_dir = tmp_path / "bucket"
    engine = open_engine(bucket=directory_bucket(bucket_dir), offload={"hot_window_s": 3600})
    add_segment(engine, "p1", "old", 20, now_ms() - 3 * DAY_MS)
    add_segment(engine, "p1", "other", 20, now_ms() - 3 * DAY_MS, users=1)  # only user-0: the footer rules it out
    assert engine.lifecycle.offload() == 2
    delete(engine.meta, "p1", "user", "user-2", 3600)
    assert engine.lifecycle.purge_deletions() == 1
    engine.lifecycle.clean(grace_s=0)
    remote_files = sorted(bucket_dir.rglob("*.parquet"))
    assert len(remote_files) == 2 and all(e.location == "remote" for e in engine.store.segment_entries())
    assert "user-2" not in parquet_values(remote_files, "user_id")
    assert {r["user_id"] for r in rows(engine)} == {"user-0", "user-1"}


def test_projects_are_separate_and_bad_requests_are_refused(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "a", 10, now_ms())
    add_segment(engine, "p2", "z", 10, now_ms())
    delete(engine.meta, "p1", "user", "user-0", 3600)
    assert {r["user_id"] for r in rows(engine, "p2")} == {"user-0", "user-1", "user-2"}
    with pytest.raises(DeletionError, match="kind"):
        delete(engine.meta, "p1", "org", "x", 3600)
    with pytest.raises(DeletionError, match="non-empty"):
        delete(engine.meta, "p1", "user", "", 3600)


def test_deletion_is_in_the_audit_log(open_engine: Any) -> None:
    engine = open_engine()
    delete(engine.meta, "p1", "session", "sess-9", 3600)
    found = engine.meta.read("SELECT action, project_id, target_type, target_id FROM audit_log")
    assert found == [("data.deleted", "p1", "session", "sess-9")]


def test_the_hiding_condition_is_null_safe() -> None:
    condition, params = deleted_condition([])
    assert condition is None and params == {}


def test_in_cluster_mode_a_purged_tombstone_is_kept_until_its_deadline(open_engine: Any) -> None:
    """Other nodes' copies of the rows are purged by their own passes (each within the deadline) while this node's
    queries read them too: the tombstone that hides them stays until its deadline, then goes."""
    engine = open_engine()
    add_segment(engine, "p1", "a", 30, now_ms() - DAY_MS)
    delete(engine.meta, "p1", "trace", "a-t0", 3600)
    assert purge_pass(engine.lifecycle.ctx, keep_until_due=True) == 1
    assert "a-t0" not in parquet_values(all_files(engine), "trace_id")
    assert [t.value for t in read_tombstones(engine.meta)] == ["a-t0"]  # kept: still hides other nodes' copies
    assert purge_pass(engine.lifecycle.ctx, keep_until_due=True) == 0  # nothing left to rewrite here
    assert [t.value for t in read_tombstones(engine.meta)] == ["a-t0"]
    delete(engine.meta, "p1", "trace", "a-t1", 0)  # its deadline is now
    assert purge_pass(engine.lifecycle.ctx, keep_until_due=True) == 1
    assert [t.value for t in read_tombstones(engine.meta)] == ["a-t0"]  # a-t1's deadline passed: dropped
    assert "a-t1" not in parquet_values(all_files(engine), "trace_id")
