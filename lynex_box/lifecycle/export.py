"""Export of one project's spans over a time range as Parquet, JSON Lines or CSV, streamed in bounded steps.

The range is read `[api] export_chunk_s` of span start time at a time through the query engine, so an export
sees exactly what queries see (retention, deletions, duplicates removed by `event_id`, head and bucket segments
included) and its memory is bounded by one step. Only the steps that may hold rows are read (`export_plan`), so
an export costs what its data costs, not what its range spans. Rows come out ordered by start time. The writer
only needs a `write(bytes)` sink, so the same code feeds a file (CLI) and an HTTP response (API).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, Protocol

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.cache import CacheTooSmall
from lynex_box.lifecycle.export_plan import plan_steps, step_ranges
from lynex_box.query.engine import QueryEngine, SpanScope
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA

FORMATS: Final = {"parquet": "application/vnd.apache.parquet", "jsonl": "application/x-ndjson", "csv": "text/csv"}
SUFFIXES: Final = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}
ROWS_SQL: Final = "SELECT * FROM spans ORDER BY start_time, event_id"
STEPS_SQL: Final = "SELECT DISTINCT epoch_us(start_time) // $step_us AS k FROM spans"
_NO_END: Final = 1 << 62  # stands for "no upper bound" in the step arithmetic (never turned into a time)
Progress = Callable[[int, int, int], None]  # (done_us, total_us, rows so far)


class Sink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class ExportError(ValueError):
    """An export request that cannot run; the message names the value."""


class ExportStopped(Exception):
    """The export was stopped before its end (`cancelled` said so): what was written is incomplete."""


@dataclass(frozen=True, slots=True)
class Reads:
    """The queries of an export: `[start, end)` ranges (an end None: no bound), and the span of time they cover
    for progress reports (`first_us`: the range's start, else the first step read; `last_us` likewise)."""

    ranges: list[tuple[int, int | None]]
    first_us: int
    last_us: int


def plan_reads(query: QueryEngine, project_id: str, from_us: int | None, to_us: int | None, step_us: int) -> Reads:
    """The queries that read `[from_us, to_us)`: one per step that may hold rows (`export_plan`)."""
    lo = 0 if from_us is None else from_us  # no span starts before 1970: ingest refuses such times
    hi = _NO_END if to_us is None else to_us
    if hi <= lo:
        return Reads([], lo, lo)
    entries, head_starts = query.layout(project_id)
    plan = plan_steps(entries, head_starts, lo, hi, step_us)
    for wide_lo, wide_hi in plan.wide:
        plan.keys.update(_steps_holding_rows(query, project_id, wide_lo, wide_hi, step_us))
    ranges: list[tuple[int, int | None]] = list(step_ranges(plan.keys, lo, hi, step_us))
    if not ranges:
        return Reads([], lo, lo)
    first = lo if from_us is not None else min(plan.keys) * step_us
    last = hi if to_us is not None else (max(plan.keys) + 1) * step_us
    if to_us is None:
        ranges[-1] = (ranges[-1][0], None)
    return Reads(ranges, first, last)


def _steps_holding_rows(query: QueryEngine, project_id: str, lo: int, hi: int, step_us: int) -> Iterable[int]:
    """The steps of `[lo, hi)` that hold rows, found by one query over the start times."""
    try:
        table = query.run(SpanScope(project_id, lo, hi), STEPS_SQL, {"step_us": step_us})
    except CacheTooSmall:  # more bucket segments under it than the cache holds at once: every step, one by one
        return range(lo // step_us, (hi - 1) // step_us + 1)
    return [int(k) for k in table.column("k").to_pylist()]


def tables(query: QueryEngine, project_id: str, reads: Reads) -> Iterator[tuple[pa.Table, int]]:
    """(rows of one query, how far into `[first_us, last_us]` the export then is) for each query."""
    for start, end in reads.ranges:
        table = query.run(SpanScope(project_id, start, end), ROWS_SQL, dedupe=True)
        reached = reads.last_us if end is None else min(end, reads.last_us)
        yield table.select(list(SPAN_COLUMNS)).cast(SPAN_SCHEMA), reached


class _Parquet:
    def __init__(self, sink: Sink) -> None:
        self._writer = pq.ParquetWriter(sink, SPAN_SCHEMA, compression="zstd")

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


class _JsonLines:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._sink.write(b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist()))

    def close(self) -> None:
        return None


_LIST_COLUMNS: Final = tuple(f.name for f in SPAN_SCHEMA if pa.types.is_list(f.type))  # tags, modalities
_CSV_SCHEMA: Final = pa.schema(
    [f if f.name not in _LIST_COLUMNS else pa.field(f.name, pa.string()) for f in SPAN_SCHEMA]
)


class _Csv:
    """CSV has no lists: `tags` and `modalities` are written as JSON arrays."""

    def __init__(self, sink: Sink) -> None:
        self._writer = pcsv.CSVWriter(sink, _CSV_SCHEMA)

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            for name in _LIST_COLUMNS:
                texts = pa.array([None if t is None else orjson.dumps(t).decode() for t in table[name].to_pylist()])
                table = table.set_column(table.schema.get_field_index(name), name, texts.cast(pa.string()))
            self._writer.write_table(table.cast(_CSV_SCHEMA))

    def close(self) -> None:
        self._writer.close()


def export(
    query: QueryEngine,
    project_id: str,
    sink: Sink | BinaryIO,
    fmt: str,
    from_us: int | None,
    to_us: int | None,
    chunk_s: int,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> int:
    """Write the project's spans in `[from_us, to_us)` to `sink` in format `fmt`; returns the rows written."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {sorted(FORMATS)}")
    writer: _Parquet | _JsonLines | _Csv
    if fmt == "parquet":
        writer = _Parquet(sink)
    elif fmt == "jsonl":
        writer = _JsonLines(sink)
    else:
        writer = _Csv(sink)
    rows = 0
    try:
        reads = plan_reads(query, project_id, from_us, to_us, chunk_s * 1_000_000)
        for table, reached in tables(query, project_id, reads):
            if cancelled():
                raise ExportStopped(f"the export of project {project_id!r} was stopped before its end")
            writer.write(table)
            crash_point("lifecycle.export.after_step")  # part of the file handed to the sink
            rows += table.num_rows
            if progress is not None:
                progress(reached - reads.first_us, reads.last_us - reads.first_us, rows)
    finally:
        writer.close()
    return rows
