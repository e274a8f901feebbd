"""Export: Parquet, JSON Lines and CSV round trips that equal what queries return."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lynex_box.lifecycle.deletion import delete
from lynex_box.lifecycle.export import ExportError, ExportStopped, export
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA
from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, events, ingest, now_ms, rows

ALL = "SELECT * FROM spans ORDER BY start_time, event_id"


@pytest.fixture
def filled(open_engine: Any, tmp_path: Path) -> Any:
    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 2 * 86_400})
    add_segment(engine, "p1", "old", 30, now_ms() - 4 * DAY_MS, step_ms=3_600_000)  # offloaded, 30 hours long
    add_segment(engine, "p1", "new", 20, now_ms() - DAY_MS)
    engine.lifecycle.offload()
    ingest(engine, "p1", events("head", 5, now_ms()))
    engine.catch_up()
    delete(engine.meta, "p1", "user", "user-1", 3600)
    return engine


def test_parquet_export_equals_the_query(filled: Any) -> None:
    sink = io.BytesIO()
    steps: list[tuple[int, int, int]] = []
    n = export(filled.query, "p1", sink, "parquet", None, None, 3600, progress=lambda *a: steps.append(a))
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    expected = rows(filled, sql=ALL)
    assert n == len(expected) == table.num_rows and table.schema.equals(SPAN_SCHEMA)
    assert table.select(list(expected[0])).to_pylist() == expected
    assert "user-1" not in table.column("user_id").to_pylist()
    assert len(steps) > 10 and steps[-1][0] == steps[-1][1] and steps[-1][2] == n  # chunked, with progress


def test_jsonl_and_csv_exports_round_trip_a_time_range(filled: Any) -> None:
    lo, hi = (now_ms() - 2 * DAY_MS) * 1000, now_ms() * 1000 + 10**9
    expected = [r for r in rows(filled, sql=ALL) if lo <= r["start_time"].timestamp() * 1e6 < hi]
    assert len(expected) == 20 + 5 - 7 - 2  # the new segment and the head, without user-1

    out = io.BytesIO()
    assert export(filled.query, "p1", out, "jsonl", lo, hi, 86_400) == len(expected)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event_id"] for line in lines] == [r["event_id"] for r in expected]
    assert set(lines[0]) == set(SPAN_COLUMNS) and lines[0]["input"] == expected[0]["input"]

    out = io.BytesIO()
    assert export(filled.query, "p1", out, "csv", lo, hi, 86_400) == len(expected)
    records = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["event_id"] for r in records] == [r["event_id"] for r in expected]
    assert [int(r["input_tokens"]) for r in records] == [r["input_tokens"] for r in expected]
    assert [json.loads(r["tags"]) for r in records] == [r["tags"] for r in expected]
    assert [line["tags"] for line in lines] == [r["tags"] for r in expected]


def test_an_empty_project_and_a_bad_format(open_engine: Any) -> None:
    engine = open_engine()
    out = io.BytesIO()
    assert export(engine.query, "nobody", out, "parquet", None, None, 3600) == 0
    assert pq.read_table(io.BytesIO(out.getvalue())).num_rows == 0
    with pytest.raises(ExportError, match="format"):
        export(engine.query, "p1", io.BytesIO(), "xml", None, None, 3600)


class CountingQuery:
    """The engine's query engine, counting the queries an export runs."""

    def __init__(self, query: Any) -> None:
        self._query = query
        self.runs = 0

    def run(self, *args: Any, **kw: Any) -> Any:
        self.runs += 1
        return self._query.run(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


YEAR_2199_MS = 7_258_032_000_000  # 2199-12-31, as the security review sent it (ingest refuses it now)
WIDE = (86_400_000_000, 7_258_032_000_000_000)  # from=1970-01-02 to=2199-12-31, in µs


def timed_export(query: Any, project: str, lo: int | None, hi: int | None) -> tuple[int, float]:
    """Rows exported and seconds taken; an export still running after 30 s is stopped (then rows fall short)."""
    started = time.monotonic()
    n = export(query, project, io.BytesIO(), "jsonl", lo, hi, 3600, cancelled=lambda: time.monotonic() > started + 30)
    return n, time.monotonic() - started


def test_one_span_dated_2199_costs_an_export_a_few_queries_not_a_step_per_hour(open_engine: Any) -> None:
    engine = open_engine()
    ingest(engine, "p1", events("now", 5, now_ms()))
    ingest(engine, "p1", events("far", 1, YEAR_2199_MS))
    engine.catch_up()
    for where in ("head", "segment"):  # the head's times are exact; the flushed segment is 174 years wide
        counting = CountingQuery(engine.query)
        try:
            n, took = timed_export(counting, "p1", None, None)
        except ExportStopped:
            n, took = -1, 30.0
        assert (where, n) == (where, 6) and took < 20 and counting.runs <= 8, (where, counting.runs)
        engine.flush()


def test_a_1970_to_2199_export_of_a_small_project_reads_only_its_data(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "old", 10, now_ms() - 3 * DAY_MS, step_ms=3_600_000)  # 10 hours, one span each
    add_segment(engine, "p1", "new", 20, now_ms() - DAY_MS)
    ingest(engine, "p1", events("head", 5, now_ms()))
    engine.catch_up()
    counting = CountingQuery(engine.query)
    try:
        n, took = timed_export(counting, "p1", *WIDE)
    except ExportStopped:
        n, took = -1, 30.0
    assert n == 35 and took < 20
    assert counting.runs <= 10 + 2 + 2  # a query per occupied hour, not 2 million
    assert export(engine.query, "p1", io.BytesIO(), "csv", WIDE[1], WIDE[0], 3600) == 0  # an empty range


def test_a_stopped_export_raises_and_says_so(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "old", 10, now_ms() - 3 * DAY_MS, step_ms=3_600_000)
    with pytest.raises(ExportStopped, match="stopped before its end"):
        export(engine.query, "p1", io.BytesIO(), "parquet", None, None, 3600, cancelled=lambda: True)
