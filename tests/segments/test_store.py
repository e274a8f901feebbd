"""Head and segments through the engine: visible before flush, identical after, swept on start."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from lynex_box.config import Settings, load_settings
from lynex_box.engine import Engine
from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import SpanScope
from lynex_box.segments.parquet_file import file_schema_version
from lynex_box.versions import SPAN_SCHEMA_VERSION, FormatTooNew
from lynex_box.wal.records import RecordHeader, RecordType

QUERY = """
SELECT event_id, trace_id, span_id, parent_span_id, name, model, input_tokens, output_tokens,
       total_cost, start_time, end_time, tags, input
FROM spans ORDER BY event_id
"""


def settings_for(tmp: Path, **head: object) -> Settings:
    # the spans here have fixed start times, older than the default retention: keep them all
    overrides = {"server": {"data_dir": str(tmp)}, "head": head, "retention": {"days": 0}}
    return load_settings(env={}, overrides=overrides)


def events(project_tag: str, n: int, start: int = 0) -> bytes:
    return orjson.dumps(
        {
            "events": [
                {
                    "event_id": f"{project_tag}-{i}",
                    "trace_id": f"trace-{i // 4}",
                    "span_id": f"span-{i}",
                    "parent_span_id": None if i % 4 == 0 else f"span-{i - i % 4}",
                    "name": "chat",
                    "type": "llm",
                    "model": "gpt-4o",
                    "start_time": 1_790_000_000_000 + i * 1000,
                    "end_time": 1_790_000_000_000 + i * 1000 + 250,
                    "usage": {"input_tokens": 100 + i, "output_tokens": 7},
                    "cost": {"total": 0.001 * i},
                    "tags": ["a", "b"],
                    "input": [{"role": "user", "content": f"question {i}"}],
                }
                for i in range(start, start + n)
            ]
        }
    )


def ingest(engine: Engine, project: str, body: bytes) -> int:
    return engine.append(RecordType.EVENTS, RecordHeader(project, time.time_ns() // 1000, "sdk"), body)


def test_head_is_visible_before_flush_and_identical_after(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("p1", 40))
    ingest(engine, "p2", events("p2", 5))
    engine.catch_up()
    assert engine.store.segment_entries() == []
    before = engine.query.run(SpanScope("p1"), QUERY).to_pylist()
    assert len(before) == 40 and before[0]["input_tokens"] == 100
    assert engine.flush() == 45
    assert {e.project_id for e in engine.store.segment_entries()} == {"p1", "p2"}
    after = engine.query.run(SpanScope("p1"), QUERY).to_pylist()
    assert after == before
    engine.close()
    engine = Engine.open(settings_for(tmp_path))
    assert engine.query.run(SpanScope("p1"), QUERY).to_pylist() == before
    engine.close()


def test_queries_see_each_span_once_across_head_and_segments(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("p1", 10))
    engine.flush()
    ingest(engine, "p1", events("p1", 10, start=10))
    engine.catch_up()
    rows = engine.query.run(SpanScope("p1"), "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM spans")
    assert rows.to_pylist() == [{"n": 20, "d": 20}]
    engine.close()


def test_a_retried_batch_is_not_counted_twice(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("p1", 10))
    ingest(engine, "p1", events("p1", 10))  # the client retried after a lost 202
    engine.catch_up()
    assert engine.query.run(SpanScope("p1"), "SELECT count(*) AS n FROM spans").to_pylist() == [{"n": 10}]
    engine.close()


def test_projects_never_see_each_other(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("p1", 3))
    ingest(engine, "p2", events("p2", 4))
    engine.flush()
    ids = engine.query.run(SpanScope("p2"), "SELECT DISTINCT event_id FROM spans").column(0).to_pylist()
    assert sorted(ids) == [f"p2-{i}" for i in range(4)]
    assert engine.query.run(SpanScope("p1", trace_id="trace-0"), "SELECT count(*) FROM spans").to_pylist()
    engine.close()


def test_time_range_and_trace_lookups_prune_but_return_the_same_rows(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    for k in range(5):  # five segments, each a different time slice and set of traces
        ingest(engine, "p1", events("p1", 8, start=k * 8))
        engine.flush()
    scope = SpanScope("p1", trace_id="trace-3")
    assert len(engine.store.snapshot("p1", trace_id="trace-3").files) < 5
    rows = engine.query.run(scope, "SELECT span_id FROM spans ORDER BY span_id").column(0).to_pylist()
    assert rows == ["span-12", "span-13", "span-14", "span-15"]
    start = 1_790_000_000_000_000 + 8 * 1_000_000
    ranged = SpanScope("p1", start_us=start, end_us=start + 8 * 1_000_000)
    assert len(engine.store.snapshot("p1", ranged.start_us, ranged.end_us).files) == 1
    assert engine.query.run(ranged, "SELECT count(*) FROM spans").to_pylist() == [{"count_star()": 8}]
    engine.close()


def test_a_trace_nothing_may_hold_is_known_absent_without_a_query(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    may_hold = engine.query.may_hold_trace
    ingest(engine, "p1", events("p1", 8))  # trace-0, trace-1 in the head
    engine.catch_up()
    assert may_hold("p1", "trace-1") and not may_hold("p1", "trace-9") and not may_hold("p2", "trace-1")
    engine.flush()  # now in a segment whose bloom filter holds them
    ingest(engine, "p1", events("p1", 8, start=8))  # trace-2, trace-3 in the head
    engine.catch_up()
    assert may_hold("p1", "trace-0") and may_hold("p1", "trace-3")
    assert not may_hold("p1", "trace-42")  # the bloom filter rules the segment out, the head has no row of it
    for trace in ("trace-0", "trace-3"):  # what it says "may hold" is there
        assert engine.query.run(SpanScope("p1", trace_id=trace), "SELECT count(*) AS n FROM spans").to_pylist() == [
            {"n": 4}
        ]
    engine.close()


def test_start_up_sweeps_temporary_and_orphaned_files(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("p1", 3))
    engine.flush()
    engine.close()
    seg_dir = tmp_path / "segments" / "p1"
    (seg_dir / ".01XYZ.parquet.tmp").write_bytes(b"partial")
    (seg_dir / "01ORPHAN.parquet").write_bytes(b"not in the catalog")
    engine = Engine.open(settings_for(tmp_path))
    assert sorted(p.name for p in seg_dir.iterdir()) == [Path(e.path).name for e in engine.store.segment_entries()]
    engine.close()


def test_head_flushes_on_row_threshold_and_wal_files_are_released(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={
            "server": {"data_dir": str(tmp_path)},
            "head": {"max_rows": 10},
            "wal": {"segment_bytes": 65536},
            "retention": {"days": 0},
        },
    )
    engine = Engine.open(settings)
    for k in range(30):
        ingest(engine, "p1", events("p1", 20, start=k * 20))
    engine.catch_up()
    assert engine.store.flush_due()
    engine.store.flush()
    assert len(engine.wal.files()) == 1
    assert engine.query.run(SpanScope("p1"), "SELECT count(*) AS n FROM spans").to_pylist() == [{"n": 600}]
    engine.close()


def test_two_projects_may_use_the_same_event_ids(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("same", 5))
    ingest(engine, "p2", events("same", 5))  # another tenant, the same ids: not a retry
    engine.flush()
    engine.close()
    engine = Engine.open(settings_for(tmp_path))  # the window is seeded from segments on start
    ingest(engine, "p3", events("same", 5))
    engine.catch_up()
    for project in ("p1", "p2", "p3"):
        count = engine.query.run(SpanScope(project), "SELECT count(*) AS n FROM spans").to_pylist()
        assert count == [{"n": 5}], project
    engine.close()


def test_a_segment_of_a_newer_span_schema_is_refused_not_read(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    ingest(engine, "p1", events("p1", 5))
    engine.flush()
    [entry] = engine.store.segment_entries("p1")
    engine.close()
    path = tmp_path / entry.path
    assert file_schema_version(path) == SPAN_SCHEMA_VERSION  # what the footer says, read alone
    db = MetaDB(tmp_path / "meta.db")  # a newer release rewrote the file in a newer schema
    db.write(
        lambda c: c.execute("UPDATE segments SET schema_version = ? WHERE id = ?", (SPAN_SCHEMA_VERSION + 1, entry.id))
    )
    db.close()
    for opening in (Engine.open, Engine.open_read_only):
        with pytest.raises(FormatTooNew) as info:
            opening(settings_for(tmp_path))
        assert (info.value.what, info.value.where, info.value.found) == ("segment", entry.path, SPAN_SCHEMA_VERSION + 1)
    assert path.exists()  # neither swept nor rewritten
