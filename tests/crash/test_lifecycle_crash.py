"""Crash safety of the lifecycle's catalog swaps: a real process is SIGKILLed between writing a new file and the
catalog transaction, and right after it. On reopen every span is found exactly once, no temporary or orphaned
file is left, and the next pass completes the work.

And of backups in the bucket: killed after a backup stored its meta.db and protected its segment objects but before
its manifest, or half-way through rotating an old backup out, what it left behind must not outlive the backups
kept: once every backup from before a deletion is rotated out, no object in the bucket may still hold the deleted
spans (docs/format/bucket.md)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from lynex_box.engine import Engine
from lynex_box.lifecycle.backup import list_backups
from lynex_box.lifecycle.deletion import delete
from lynex_box.lifecycle.janitor import sweep_bucket
from lynex_box.query.engine import SpanScope
from lynex_box.wal.records import RecordHeader, RecordType
from tests.crash.harness import reopen, run_once

COUNT = "SELECT count(*) AS n, count(DISTINCT event_id) AS d, sum(input_tokens) AS t FROM spans"


def open_engine(data_dir: Path, bucket_dir: Path) -> Engine:
    return reopen(
        data_dir,
        bucket={"type": "directory", "directory": str(bucket_dir)},
        lifecycle={"grace_period_s": 0.0},
        compaction={"min_segments": 2},
        offload={"hot_window_s": 0},
    )


def prepare(data_dir: Path, bucket_dir: Path) -> dict[str, int]:
    engine = open_engine(data_dir, bucket_dir)
    start = time.time_ns() // 1_000_000 - 86_400_000
    for k in range(3):
        body = orjson.dumps(
            {
                "events": [
                    {"event_id": f"c{k}-{i}", "trace_id": f"t{k}", "span_id": f"s{i}", "type": "llm",
                     "start_time": start + k * 1000 + i, "usage": {"input_tokens": i}}
                    for i in range(20)
                ]
            }
        )  # fmt: skip
        engine.append(RecordType.EVENTS, RecordHeader("p1", time.time_ns() // 1000, "sdk"), body)
        engine.flush()
    counts: dict[str, int] = engine.query.run(SpanScope("p1"), COUNT).to_pylist()[0]
    engine.close()
    return counts


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A data dir with three small segments, made once and copied by each test."""
    root = tmp_path_factory.mktemp("lifecycle-crash")
    counts = prepare(root / "data", root / "bucket")
    return root / "data", counts


def run(data_dir: Path, bucket_dir: Path, action: str, crash_at: str) -> None:
    run_once("lifecycle_proc.py", [str(data_dir), str(bucket_dir), action], crash_at)


@pytest.mark.parametrize(
    ("action", "crash_at"),
    [
        ("compact", "lifecycle.rewrite.before_rename"),  # merged file synced, not renamed
        ("compact", "lifecycle.compaction.before_swap"),  # merged file in place, catalog not swapped
        ("compact", "lifecycle.compaction.after_swap"),  # swapped, old files not yet removed
        ("offload", "lifecycle.offload.before_swap"),  # uploaded and verified, catalog not switched
    ],
)
def test_a_kill_around_a_catalog_swap_keeps_every_span_exactly_once(
    tmp_path: Path, prepared: tuple[Path, dict[str, int]], action: str, crash_at: str
) -> None:
    data_dir, bucket_dir = tmp_path / "data", tmp_path / "bucket"
    template, expected = prepared
    shutil.copytree(template, data_dir)
    run(data_dir, bucket_dir, action, crash_at)
    engine = open_engine(data_dir, bucket_dir)
    try:
        assert list(data_dir.rglob("*.tmp")) == []
        assert engine.query.run(SpanScope("p1"), COUNT).to_pylist()[0] == expected
        named = {engine.data_dir / e.path for e in engine.store.segment_entries() if e.location == "local"}
        assert set((data_dir / "segments").rglob("*.parquet")) == named  # orphans swept
        engine.lifecycle.compact() if action == "compact" else engine.lifecycle.offload()
        engine.lifecycle.clean(grace_s=0)
        assert engine.query.run(SpanScope("p1"), COUNT).to_pylist()[0] == expected
        assert engine.catalog.deleting() == []
        if action == "compact":
            assert len(engine.store.segment_entries()) == 1
        else:
            assert [e.location for e in engine.store.segment_entries()] == ["remote"] * 3
    finally:
        engine.close()


def backup_in(data_dir: Path, bucket_dir: Path, crash_at: str | None) -> None:
    run_once("lifecycle_proc.py", [str(data_dir), str(bucket_dir), "backup"], crash_at)


@pytest.mark.parametrize("crash_at", ["lifecycle.backup.before_manifest", "lifecycle.backup.mid_rotate"])
def test_what_a_killed_backup_left_behind_keeps_no_deleted_span_in_the_bucket(
    tmp_path: Path,
    prepared: tuple[Path, dict[str, int]],
    crash_at: str,
) -> None:
    data_dir, bucket_dir = tmp_path / "data", tmp_path / "bucket"
    shutil.copytree(prepared[0], data_dir)
    backup_in(data_dir, bucket_dir, None)  # a complete backup: its manifest and its protected segment objects
    backup_in(data_dir, bucket_dir, crash_at)  # a second one, killed before its manifest / while rotating the first
    hours_ago = time.time() - 7200
    for leftover in bucket_dir.rglob("meta.db"):  # what the kill left is old by the time it is cleared
        os.utime(leftover, (hours_ago, hours_ago))

    engine = open_engine(data_dir, bucket_dir)
    try:
        delete(engine.meta, "p1", "trace", "t0", 3600)
        engine.lifecycle.purge_deletions()  # t0's segment rewritten without it; the old object is protected
        kept = engine.lifecycle.backup(keep=1)  # from after the deletion: every older backup is rotated out
        engine.lifecycle.clean(grace_s=0)
        sweep_bucket(engine.lifecycle.ctx, min_age_s=0)
        bucket = engine.lifecycle.bucket
        assert bucket is not None
        assert [m.name for m in list_backups(bucket)] == [kept.name]
        backups = {meta.key.split("/")[2] for meta in bucket.list("backups")}
        assert backups == {kept.name}, "a killed backup's meta.db outlived the rotation"
        protected = {name for (name,) in engine.meta.read("SELECT DISTINCT backup FROM backup_objects")}
        assert protected == {kept.name}, "a killed backup still protects bucket objects"
        objects = sorted((bucket_dir / "objects" / "segments").rglob("*.parquet"))
        holding = [p.name for p in objects if "t0" in pq.read_table(p, columns=["trace_id"]).column(0).to_pylist()]
        assert objects and holding == [], "a deleted trace is still in the bucket after every older backup went"
    finally:
        engine.close()
