"""Segment files of span schema versions 1 and 2 (before the model-metadata and sampling columns, before
`detections`) read and rewrite as the current version: the columns they lack are null, never missing
(docs/format/segments.md, "Span columns")."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lynex_box.config import SegmentSettings
from lynex_box.lifecycle.rewrite import rewrite_files
from lynex_box.schema.span import ADDED_COLUMNS, SCHEMA_VERSION_KEY, SPAN_SCHEMA, parquet_relation, spans_to_table
from lynex_box.segments import encryption
from lynex_box.segments.parquet_file import file_schema_version
from lynex_box.versions import SPAN_SCHEMA_VERSION

LATER = ADDED_COLUMNS[2] + ADDED_COLUMNS[3]


def span_columns(event: str) -> dict[str, list[object]]:
    return {
        "project_id": ["p1"], "trace_id": ["t1"], "span_id": [event], "event_id": [event], "start_time": [1_000],
        "ingested_at": [2_000], "model": ["gpt-4o-2024-08-06"], "input_tokens": [10],
    }  # fmt: skip


def write_v1(path: Path, event: str) -> None:
    """A file as version 1 wrote it: the schema without the later columns, footer version 1."""
    table = spans_to_table(span_columns(event)).drop_columns(list(LATER))
    old = pa.schema([f for f in SPAN_SCHEMA if f.name not in LATER], metadata={SCHEMA_VERSION_KEY: b"1"})
    pq.write_table(table.cast(old), path)


def write_v2(path: Path, event: str) -> None:
    """A file as version 2 wrote it: model metadata, no `detections`."""
    columns = {**span_columns(event), "model_id": ["gpt-4o"], "context_window": [128_000]}
    table = spans_to_table(columns).drop_columns(list(ADDED_COLUMNS[3]))
    old = pa.schema([f for f in SPAN_SCHEMA if f.name not in ADDED_COLUMNS[3]], metadata={SCHEMA_VERSION_KEY: b"2"})
    pq.write_table(table.cast(old), path)


def test_version_1_files_alone_read_the_later_columns_as_null(tmp_path: Path) -> None:
    old = tmp_path / "old.parquet"
    write_v1(old, "e1")
    assert file_schema_version(old) == 1
    listing = f"['{old}']"
    table = duckdb.connect().sql(f"SELECT * FROM {parquet_relation(listing)} WHERE model_id IS NULL").to_arrow_table()
    assert table.num_rows == 1
    assert set(LATER) <= set(table.column_names)
    assert all(table.column(name).null_count == 1 for name in LATER)
    assert table.select(list(SPAN_SCHEMA.names)).cast(SPAN_SCHEMA).num_rows == 1


def test_a_rewrite_of_old_and_new_files_writes_the_current_version(tmp_path: Path) -> None:
    old, new, out = tmp_path / "old.parquet", tmp_path / "new.parquet", tmp_path / "out" / "merged.parquet"
    write_v1(old, "e1")
    write_v2(new, "e2")
    conn = duckdb.connect()
    written = rewrite_files(conn, [old], out, "TRUE", {}, SegmentSettings())  # a compaction of old files only
    assert written is not None and written.rows == 1
    assert file_schema_version(out) == SPAN_SCHEMA_VERSION == 3
    assert pq.read_table(out).column("model_id").to_pylist() == [None]
    written = rewrite_files(conn, [old, new], out, "TRUE", {}, SegmentSettings())
    assert written is not None and written.rows == 2
    merged = pq.read_table(out).sort_by("event_id")
    assert merged.column("model_id").to_pylist() == [None, "gpt-4o"]
    assert merged.column("context_window").to_pylist() == [None, 128_000]
    with encryption.relation(conn, [old, new], None) as source:
        assert conn.sql(f"SELECT count(model_family) FROM {source}").fetchall() == [(0,)]


def test_version_2_files_read_detections_as_null(tmp_path: Path) -> None:
    old = tmp_path / "v2.parquet"
    write_v2(old, "e1")
    assert file_schema_version(old) == 2
    listing = f"['{old}']"
    rows = duckdb.connect().sql(f"SELECT model_id, detections FROM {parquet_relation(listing)}").fetchall()
    assert rows == [("gpt-4o", None)]
