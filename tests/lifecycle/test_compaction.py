"""Compaction: same query results, duplicates gone, levels, old files kept through the grace period."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lynex_box.config import CompactionSettings
from lynex_box.lifecycle.compaction import plan
from lynex_box.lifecycle.deletion import delete
from lynex_box.meta.catalog import SegmentEntry
from tests.lifecycle.conftest import DAY_MS, add_segment, now_ms, parquet_values, rows

COUNT = "SELECT count(*) AS n, count(DISTINCT event_id) AS d, sum(input_tokens) AS tokens FROM spans"


def codecs(path: Path) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    groups = (meta.row_group(g) for g in range(meta.num_row_groups))
    return {group.column(c).compression for group in groups for c in range(meta.num_columns)}


def entry(sid: str, project: str, min_time: int, level: int = 0, size: int = 100) -> SegmentEntry:
    return SegmentEntry(sid, project, f"segments/{project}/{sid}.parquet", min_time, min_time + 5, 10, size, level)


def test_plan_groups_small_segments_by_project_window_and_level() -> None:
    settings = CompactionSettings(min_segments=3, small_bytes=1000, window_s=3600)
    hour = 3_600_000_000
    entries = [
        *(entry(f"a{i}", "p1", i) for i in range(3)),  # three level-0 in hour 0: merged
        *(entry(f"b{i}", "p1", hour + i) for i in range(2)),  # only two in hour 1: not yet
        *(entry(f"c{i}", "p1", i, level=1) for i in range(2)),  # level 1 is its own group
        *(entry(f"d{i}", "p2", i) for i in range(3)),  # another project: its own merge
        entry("big", "p1", 1, size=5000),  # big enough: left alone
    ]
    merges = [[e.id for e in m] for m in plan(entries, settings)]
    assert merges == [["a0", "a1", "a2"], ["d0", "d1", "d2"]]


def test_compaction_keeps_results_identical_and_removes_duplicates(open_engine: Any) -> None:
    # no dedupe window: a retried batch lands twice, as one that slipped past the window would
    engine = open_engine(
        compaction={"min_segments": 3},
        ingest={"dedupe_window_events": 0},
        segments={"flush_compression": "lz4"},
    )
    base = now_ms() - DAY_MS
    for k in range(4):
        add_segment(engine, "p1", f"b{k}", 20, base + k * 60_000)
    expected = rows(engine)
    add_segment(engine, "p1", "b0", 20, base)  # the retry
    assert rows(engine) == expected  # row queries dedupe already
    before_count = rows(engine, sql=COUNT, dedupe=False)[0]
    assert before_count["n"] > before_count["d"]  # the duplicate is in the files
    flushed = [engine.data_dir / e.path for e in engine.store.segment_entries("p1")]
    assert {c for path in flushed for c in codecs(path)} == {"LZ4"}  # this flush writes LZ4 (LZ4_RAW pages)

    assert engine.lifecycle.compact() == 1
    entries = engine.store.segment_entries("p1")
    assert len(entries) == 1 and entries[0].level == 1
    assert rows(engine) == expected
    assert rows(engine, sql=COUNT, dedupe=False)[0] == {"n": 80, "d": 80, "tokens": before_count["tokens"] - 390}
    merged = engine.data_dir / entries[0].path
    assert codecs(merged) == {"ZSTD"}  # compaction rewrites at zstd_level
    ids = parquet_values([merged], "event_id")
    assert len(ids) == len(set(ids)) == 80
    starts = parquet_values([merged], "start_time")
    assert starts == sorted(starts)
    # old files are gone once the grace period (0 here) is over, and the catalog forgot them
    assert sorted(p.name for p in (engine.data_dir / "segments" / "p1").iterdir()) == [merged.name]
    assert engine.catalog.deleting() == []


def test_replaced_files_stay_for_the_grace_period(open_engine: Any) -> None:
    engine = open_engine(compaction={"min_segments": 2}, lifecycle={"grace_period_s": 3600.0})
    base = now_ms() - DAY_MS
    for k in range(2):
        add_segment(engine, "p1", f"g{k}", 5, base + k * 1000)
    old = [engine.data_dir / e.path for e in engine.store.segment_entries("p1")]
    snapshot = engine.store.snapshot("p1")  # a query that started before the swap
    assert engine.lifecycle.compact() == 1
    assert all(p.exists() for p in old) and len(engine.catalog.deleting()) == 2
    assert len(parquet_values(snapshot.files, "event_id")) == 10  # its files are still readable
    assert engine.lifecycle.clean(grace_s=0) == 2
    assert not any(p.exists() for p in old)


def test_a_query_running_during_compaction_succeeds(open_engine: Any) -> None:
    engine = open_engine(compaction={"min_segments": 2}, lifecycle={"grace_period_s": 3600.0})
    base = now_ms() - DAY_MS
    for k in range(6):
        add_segment(engine, "p1", f"q{k}", 30, base + k * 60_000)
    add_segment(engine, "p1", "late", 1, base)
    expected = rows(engine, sql=COUNT)
    errors: list[BaseException] = []
    results: list[Any] = []
    stop = threading.Event()

    def query_loop() -> None:
        while not stop.is_set():
            try:
                results.append(rows(engine, sql=COUNT))
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=query_loop)
    thread.start()
    try:
        for _ in range(3):
            engine.lifecycle.compact()
            add_segment(engine, "p1", "late", 1, base)  # a new (duplicate) segment arrives under the queries
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert results and all(r == expected for r in results)


def test_compaction_leaves_out_deleted_and_expired_rows(open_engine: Any) -> None:
    window = {"min_segments": 2, "window_s": 10 * 365 * 86_400}
    engine = open_engine(compaction=window, retention={"days": 5})
    add_segment(engine, "p1", "old", 10, now_ms() - 7 * DAY_MS, step_ms=DAY_MS // 2)  # 7 .. 2.5 days ago
    add_segment(engine, "p1", "new", 10, now_ms() - DAY_MS)
    delete(engine.meta, "p1", "user", "user-1", 3600)
    expected = rows(engine)
    assert engine.lifecycle.compact() == 1
    assert rows(engine) == expected
    files = [engine.data_dir / e.path for e in engine.store.segment_entries("p1")]
    starts = parquet_values(files, "start_time")
    assert len(starts) == len(expected) and min(starts).timestamp() * 1000 >= now_ms() - 5 * DAY_MS
    assert "user-1" not in parquet_values(files, "user_id")


def test_a_flush_writes_zstd_by_default(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "z", 20, now_ms() - DAY_MS)
    (flushed,) = engine.store.segment_entries("p1")
    assert codecs(engine.data_dir / flushed.path) == {"ZSTD"}
    assert len(rows(engine)) == 20
