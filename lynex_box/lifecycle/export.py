"""Export of one project's spans over a time range as Parquet, JSON Lines or CSV, streamed in bounded steps.

The range is read `lifecycle.export_chunk_s` of span start time at a time through the query engine, so an export
sees exactly what queries see (retention, deletions, duplicates removed by `event_id`, head and bucket segments
included) and its memory is bounded by one step. Rows come out ordered by start time. The writer only needs a
`write(bytes)` sink, so the same code feeds a file (CLI) and an HTTP response (API).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Final, Protocol

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from lynex_box.crashpoints import crash_point
from lynex_box.query.engine import QueryEngine, SpanScope
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA

FORMATS: Final = {"parquet": "application/vnd.apache.parquet", "jsonl": "application/x-ndjson", "csv": "text/csv"}
SUFFIXES: Final = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}
ROWS_SQL: Final = "SELECT * FROM spans ORDER BY start_time, event_id"
RANGE_SQL: Final = "SELECT epoch_us(min(start_time)) AS lo, epoch_us(max(start_time)) AS hi FROM spans"
Progress = Callable[[int, int, int], None]  # (done_us, total_us, rows so far)


class Sink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class ExportError(ValueError):
    """An export request that cannot run; the message names the value."""


def time_range(query: QueryEngine, project_id: str, from_us: int | None, to_us: int | None) -> tuple[int, int] | None:
    """The `[lo, hi)` to read: the given bounds, else the project's first and last span. None: nothing to export."""
    if from_us is not None and to_us is not None:
        return (from_us, to_us) if to_us > from_us else None
    row = query.run(SpanScope(project_id, from_us, to_us), RANGE_SQL).to_pylist()[0]
    if row["lo"] is None:
        return None
    lo = from_us if from_us is not None else int(row["lo"])
    hi = to_us if to_us is not None else int(row["hi"]) + 1
    return (lo, hi) if hi > lo else None


def tables(query: QueryEngine, project_id: str, lo: int, hi: int, step_us: int) -> Iterator[tuple[pa.Table, int]]:
    """(rows of one step, the step's end) from `lo` to `hi`."""
    start = lo
    while start < hi:
        end = min(hi, start + step_us)
        table = query.run(SpanScope(project_id, start, end), ROWS_SQL, dedupe=True)
        yield table.select(list(SPAN_COLUMNS)).cast(SPAN_SCHEMA), end
        start = end


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


_CSV_SCHEMA: Final = pa.schema([f if f.name != "tags" else pa.field("tags", pa.string()) for f in SPAN_SCHEMA])


class _Csv:
    """CSV has no lists: `tags` is written as a JSON array."""

    def __init__(self, sink: Sink) -> None:
        self._writer = pcsv.CSVWriter(sink, _CSV_SCHEMA)

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            tags = pa.array([None if t is None else orjson.dumps(t).decode() for t in table["tags"].to_pylist()])
            index = table.schema.get_field_index("tags")
            self._writer.write_table(table.set_column(index, "tags", tags).cast(_CSV_SCHEMA))

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
    bounds = time_range(query, project_id, from_us, to_us)
    try:
        if bounds is not None:
            lo, hi = bounds
            for table, end in tables(query, project_id, lo, hi, chunk_s * 1_000_000):
                if cancelled():
                    break
                writer.write(table)
                crash_point("lifecycle.export.after_step")  # part of the file handed to the sink
                rows += table.num_rows
                if progress is not None:
                    progress(end - lo, hi - lo, rows)
    finally:
        writer.close()
    return rows
