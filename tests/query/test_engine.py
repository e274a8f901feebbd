"""The query engine (`query/engine.py`) over a real data dir: one project's spans and nothing else, deleted and
expired spans hidden, its DuckDB sized by `[query]`, and sensible answers on an empty store.

Spans are written through the real engine (WAL → pipeline → head → flushed Parquet segments), so each case holds
rows in segments and in the head. Start times are recent: the default retention (30 days) keeps them, except where
a case writes older spans to see retention hide them.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lynex_box.config import Settings, load_settings
from lynex_box.engine import Engine
from lynex_box.query.engine import Extent, SpanScope
from lynex_box.query.sandbox import SandboxError
from lynex_box.schema.span import SPAN_SCHEMA, parquet_relation
from tests.lifecycle.conftest import DAY_MS, add_segment, events, ingest, now_ms

IDS = "SELECT event_id FROM spans ORDER BY event_id"
OpenEngine = Callable[..., Engine]


def settings(data_dir: Path, **query: Any) -> Settings:
    # A tmp dir on a busy box may be short of the default free-disk floor; the engine's own limits are under test
    overrides: dict[str, dict[str, Any]] = {
        "server": {"data_dir": str(data_dir)},
        "ingest": {"min_free_disk_bytes": 0},
        "query": query,
    }
    return load_settings(env={}, overrides=overrides)


@pytest.fixture
def open_engine(tmp_path: Path) -> Iterator[OpenEngine]:
    """`open_engine(name="data", **query_settings)`; every engine opened is closed at the end."""
    opened: list[Engine] = []

    def make(name: str = "data", **query: Any) -> Engine:
        engine = Engine.open(settings(tmp_path / name, **query))
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


def ids(engine: Engine, scope: SpanScope) -> list[str]:
    return [r["event_id"] for r in engine.query.run(scope, IDS).to_pylist()]


def two_projects(engine: Engine, start_ms: int) -> None:
    """p1: 6 spans in a segment, 4 in the head; p2: 5 in a segment, 3 in the head; all within the last hour."""
    add_segment(engine, "p1", "a", 6, start_ms)
    add_segment(engine, "p2", "b", 5, start_ms)
    ingest(engine, "p1", events("c", 4, start_ms + 10_000))
    ingest(engine, "p2", events("d", 3, start_ms + 10_000))
    engine.catch_up()


def limit_mib(engine: Engine, untrusted: bool = False) -> float:
    """DuckDB's memory_limit of the engine's connection (or of a sandboxed one), in MiB as DuckDB shows it."""
    sql = "SELECT current_setting('memory_limit') AS m"
    run = engine.query.run_untrusted if untrusted else engine.query.run
    shown = run(SpanScope("p1"), sql).to_pylist()[0]["m"]
    found = re.fullmatch(r"([\d.]+) (MiB|GiB)", shown)
    assert found is not None, shown
    return float(found.group(1)) * (1024 if found.group(2) == "GiB" else 1)


# ------------------------------------------------------------------------------------------------ project scope
def test_a_project_sees_its_own_spans_in_segments_and_head_and_never_another_projects(open_engine: OpenEngine) -> None:
    engine = open_engine()
    start = now_ms() - 3_600_000
    two_projects(engine, start)
    assert [e.project_id for e in engine.store.segment_entries()].count("p1") == 1
    assert ids(engine, SpanScope("p1")) == sorted([f"a-{i}" for i in range(6)] + [f"c-{i}" for i in range(4)])
    assert ids(engine, SpanScope("p2")) == sorted([f"b-{i}" for i in range(5)] + [f"d-{i}" for i in range(3)])
    # a time range that holds p1's whole segment reads that file without the project predicate: still p1 only
    wide = SpanScope("p1", (start - 60_000) * 1000, (start + 3_600_000) * 1000)
    assert ids(engine, wide) == ids(engine, SpanScope("p1"))
    # another project's trace id, asked for within p1, is not there
    assert engine.query.run(SpanScope("p1", trace_id="b-t0"), IDS).num_rows == 0
    assert ids(engine, SpanScope("p3")) == []


def test_a_caller_cannot_rebind_the_project_or_time_parameters(open_engine: OpenEngine) -> None:
    engine = open_engine()
    two_projects(engine, now_ms() - 3_600_000)
    for reserved in ({"project_id": "p2"}, {"start": 0}):
        with pytest.raises(ValueError, match="reserved"):
            engine.query.run(SpanScope("p1", start_us=1), IDS, reserved)
    # the caller's own parameters are bound next to the engine's
    counted = engine.query.run(SpanScope("p1"), "SELECT count(*) AS n FROM spans WHERE trace_id = $t", {"t": "a-t0"})
    assert counted.to_pylist() == [{"n": 5}]


def test_sql_a_person_wrote_sees_the_same_scope_as_the_engines_own(open_engine: OpenEngine) -> None:
    engine = open_engine()
    two_projects(engine, now_ms() - 3_600_000)
    table = engine.query.run_untrusted(SpanScope("p2"), "SELECT count(*) AS n, min(event_id) AS first FROM spans")
    assert table.to_pylist() == [{"n": 8, "first": "b-0"}]
    [p1_file] = [engine.data_dir / e.path for e in engine.store.segment_entries() if e.project_id == "p1"]
    with pytest.raises(SandboxError):
        engine.query.run_untrusted(SpanScope("p2"), f"SELECT count(*) FROM read_parquet('{p1_file}')")


# ------------------------------------------------------------------------------------------------ time and trace
def test_a_time_range_is_half_open_and_a_trace_scope_is_that_trace_only(open_engine: OpenEngine) -> None:
    engine = open_engine()
    start = now_ms() - 3_600_000
    add_segment(engine, "p1", "a", 10, start)  # a-i starts at start + i s
    ingest(engine, "p1", events("h", 10, start + 10_000))  # h-i at start + (10 + i) s, in the head
    engine.catch_up()
    scope = SpanScope("p1", (start + 8_000) * 1000, (start + 12_000) * 1000)  # [8 s, 12 s)
    assert ids(engine, scope) == ["a-8", "a-9", "h-0", "h-1"]
    assert ids(engine, SpanScope("p1", trace_id="h-t1")) == [f"h-{i}" for i in range(5, 10)]


def test_dedupe_keeps_one_row_per_event_id_across_head_and_segments(tmp_path: Path) -> None:
    # the pipeline's own dedupe window is off, so a resent batch is stored twice and only the query folds it
    engine = Engine.open(load_settings(env={}, overrides={
        "server": {"data_dir": str(tmp_path / "raw")}, "ingest": {"min_free_disk_bytes": 0, "dedupe_window_events": 0},
    }))  # fmt: skip
    try:
        start = now_ms() - 3_600_000
        add_segment(engine, "p1", "a", 4, start)
        ingest(engine, "p1", events("a", 4, start))  # the same events again, now in the head
        engine.catch_up()
        raw = engine.query.run(SpanScope("p1"), IDS, dedupe=False).column("event_id").to_pylist()
        assert raw == sorted([f"a-{i}" for i in range(4)] * 2)
        folded = engine.query.run(SpanScope("p1"), IDS, dedupe=True).column("event_id").to_pylist()
        assert folded == [f"a-{i}" for i in range(4)]
    finally:
        engine.close()


# ------------------------------------------------------------------------------------------------ visibility
def test_deleted_and_expired_spans_are_hidden_from_every_query_path(open_engine: OpenEngine) -> None:
    engine = open_engine()  # the default retention: 30 days
    add_segment(engine, "p1", "old", 3, now_ms() - 40 * DAY_MS)
    add_segment(engine, "p1", "a", 10, now_ms() - 3_600_000)  # traces a-t0 (a-0..a-4) and a-t1 (a-5..a-9)
    ingest(engine, "p1", events("h", 5, now_ms() - 60_000))  # trace h-t0, in the head
    engine.catch_up()
    engine.lifecycle.delete("p1", "trace", "a-t0", None)
    engine.lifecycle.delete("p1", "trace", "h-t0", None)
    visible = [f"a-{i}" for i in range(5, 10)]
    assert ids(engine, SpanScope("p1")) == visible
    # a range that asks for the expired days gets nothing of them
    assert ids(engine, SpanScope("p1", 0, (now_ms() - 30 * DAY_MS) * 1000)) == []
    assert engine.query.run(SpanScope("p1", trace_id="a-t0"), IDS).num_rows == 0
    untrusted = engine.query.run_untrusted(SpanScope("p1"), "SELECT event_id FROM spans ORDER BY event_id")
    assert untrusted.column("event_id").to_pylist() == visible
    # what the catalog and head hold is still counted by the extent (no file is read for it)
    extent = engine.query.extent("p1")
    assert extent is not None and extent.rows == 3 + 10 + 5


# ------------------------------------------------------------------------------------------------ layout, extent
def test_extent_and_layout_come_from_the_catalog_and_the_head(open_engine: OpenEngine) -> None:
    engine = open_engine()
    start = now_ms() - 3_600_000
    add_segment(engine, "p1", "a", 6, start)
    add_segment(engine, "p1", "b", 4, start + 100_000)
    ingest(engine, "p1", events("h", 3, start + 200_000))
    engine.catch_up()
    entries, head_starts = engine.query.layout("p1")
    assert sorted(e.row_count for e in entries) == [4, 6]
    assert sorted(head_starts.to_pylist()) == [(start + 200_000 + i * 1000) * 1000 for i in range(3)]
    assert engine.query.extent("p1") == Extent(start * 1000, (start + 202_000) * 1000, 13)
    assert engine.query.extent("p2") is None


def test_may_hold_trace_answers_from_the_bloom_filters_and_the_head(open_engine: OpenEngine) -> None:
    engine = open_engine()
    two_projects(engine, now_ms() - 3_600_000)
    assert engine.query.may_hold_trace("p1", "a-t1")  # in a segment
    assert engine.query.may_hold_trace("p1", "c-t0")  # in the head
    assert not engine.query.may_hold_trace("p2", "c-t0")  # p1's head trace, asked of p2 (head only: exact)
    assert not engine.query.may_hold_trace("p3", "a-t1")


# ------------------------------------------------------------------------------------------------ resources
def test_duckdb_is_sized_by_the_query_settings(open_engine: OpenEngine) -> None:
    small = open_engine("small", memory_limit_mb=256, threads=1, workers=3)
    large = open_engine("large", memory_limit_mb=512, threads=2, workers=1)
    ratio = limit_mib(large) / limit_mib(small)
    assert ratio == pytest.approx(2, rel=0.01)  # the limit follows the setting
    assert 0 < limit_mib(small) * 2**20 <= 256 * 10**6 * 1.001  # and never exceeds it (DuckDB's MB is 10^6 bytes)
    assert limit_mib(small, untrusted=True) * 2**20 <= 256 * 10**6 * 1.001  # the sandbox stays within it too
    threads = "SELECT current_setting('threads') AS t"
    assert small.query.run(SpanScope("p1"), threads).to_pylist() == [{"t": 1}]
    assert large.query.run(SpanScope("p1"), threads).to_pylist() == [{"t": 2}]
    assert (small.query.pool.stats().workers, large.query.pool.stats().workers) == (3, 1)


def test_async_queries_run_on_the_query_workers_which_report_saturation(open_engine: OpenEngine) -> None:
    engine = open_engine(workers=1, saturated_after_s=0.05)
    two_projects(engine, now_ms() - 3_600_000)
    gate = threading.Event()

    async def main() -> None:
        table = await engine.query.query_async(SpanScope("p2"), "SELECT count(*) AS n FROM spans")
        assert table.to_pylist() == [{"n": 8}]
        name = await engine.query.call_async(lambda: threading.current_thread().name)
        assert name.startswith("lynex-query") and name != threading.current_thread().name
        blocked = asyncio.ensure_future(engine.query.call_async(gate.wait, 30))
        await asyncio.sleep(0.3)  # six times the threshold: margin for a loaded box
        stats = engine.query.pool.saturated()
        assert stats is not None and (stats.workers, stats.busy) == (1, 1) and stats.saturated_s >= 0.05
        gate.set()
        assert await blocked is True

    try:
        asyncio.run(main())
    finally:
        gate.set()
    deadline = time.monotonic() + 10
    while engine.query.pool.stats().busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.query.pool.saturated() is None


# ------------------------------------------------------------------------------------------------ empty store
def test_an_empty_store_answers_no_rows_with_the_span_columns(open_engine: OpenEngine) -> None:
    engine = open_engine()
    table = engine.query.run(SpanScope("p1"), "SELECT * FROM spans")
    assert table.num_rows == 0 and table.schema.names == SPAN_SCHEMA.names
    counted = engine.query.run(SpanScope("p1"), "SELECT count(*) AS n, sum(input_tokens) AS t FROM spans")
    assert counted.to_pylist() == [{"n": 0, "t": None}]
    assert engine.query.run_untrusted(SpanScope("p1"), "SELECT count(*) AS n FROM spans").to_pylist() == [{"n": 0}]
    entries, head_starts = engine.query.layout("p1")
    assert entries == [] and len(head_starts) == 0
    assert engine.query.extent("p1") is None
    assert not engine.query.may_hold_trace("p1", "t")


def test_spans_sql_binds_only_what_its_body_uses(open_engine: OpenEngine) -> None:
    """The CTE body: ids and times are parameters, and parameters a left-out part would use are dropped."""
    query = open_engine().query
    body, params = query.spans_sql(SpanScope("p'1"), [], dedupe=False)
    assert body == "SELECT * FROM __head WHERE project_id = $project_id"
    assert params == {"project_id": "p'1"}
    inside = Path("/seg/p1/inside.parquet")  # wholly inside the scope's range: read without the predicates
    body, params = query.spans_sql(SpanScope("p1", 0, 10), [inside], dedupe=True, within=[inside], head=False)
    relation = parquet_relation("['/seg/p1/inside.parquet']")  # the later columns as null where files lack them
    assert body == (
        f"SELECT * FROM (SELECT * FROM {relation}) "
        "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, span_id) = 1"
    )
    assert params == {}
