"""Writing one new segment from the rows of existing ones: merge, filter, dedupe, sort, stream to Parquet.

Compaction, retention and deletion all produce their output here, in the same format as a flush (schema, zstd,
row groups, dictionary columns, statistics; docs/format/segments.md). Rows stream from DuckDB in batches, so
memory stays bounded by DuckDB's own limit whatever the input size. When `rewrite_files` returns, the file is
complete, fsynced and its name is durable; on any error (ENOSPC included) the temporary file is removed and no
final name exists. It never touches the catalog: the caller publishes the result.
"""

from __future__ import annotations

import builtins
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lynex_box import fsutil
from lynex_box.config import SegmentSettings
from lynex_box.crashpoints import crash_point
from lynex_box.meta.catalog import SegmentEntry
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA, SPAN_SCHEMA_VERSION
from lynex_box.segments import encryption, parquet_file
from lynex_box.segments.bloom import build_bloom
from lynex_box.segments.encryption import ProjectCipher

Transform = Callable[[pa.RecordBatch], pa.RecordBatch]
DEDUPE = "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, span_id) = 1"


@dataclass(frozen=True, slots=True)
class Written:
    """What a rewrite produced: the numbers its catalog row needs."""

    rows: int
    bytes: int
    min_time: int
    max_time: int
    trace_bloom: builtins.bytes


def writer_options(settings: SegmentSettings) -> dict[str, Any]:
    """The flush's own Parquet writer options (one format for every writer of a segment)."""
    return parquet_file.segment_writer_options(settings.row_group_rows, settings.zstd_level)


def select_sql(source: str, keep: str, dedupe: bool) -> str:
    """The rows to write from `source` (a relation over the input files, encryption.relation)."""
    columns = ", ".join(f'"{c}"' for c in SPAN_COLUMNS)
    sql = f"SELECT {columns} FROM {source} WHERE {keep}"
    if dedupe:
        sql += f" {DEDUPE}"
    return sql + " ORDER BY start_time, event_id"


def count_rows(
    conn: duckdb.DuckDBPyConnection,
    inputs: list[Path],
    condition: str,
    params: dict[str, Any],
    cipher: ProjectCipher | None = None,
) -> int:
    """Rows of `inputs` for which `condition` holds (`cipher`: the project's key, for encrypted inputs)."""
    with encryption.relation(conn, inputs, cipher) as source:
        found = conn.sql(f"SELECT count(*) FROM {source} WHERE {condition}", params=params or None).fetchall()
    return int(found[0][0]) if found else 0


def rewrite_files(
    conn: duckdb.DuckDBPyConnection,
    inputs: list[Path],
    final: Path,
    keep: str,
    params: dict[str, Any],
    settings: SegmentSettings,
    dedupe: bool = True,
    transform: Transform | None = None,
    cipher: ProjectCipher | None = None,
) -> Written | None:
    """Write the rows of `inputs` for which `keep` holds to `final`; None (and no file) when no row is kept.

    `transform` may change values of each batch (same schema, same rows; repricing uses it). `cipher` is the
    project's key when it is encrypted: encrypted inputs are read with it and the output is always encrypted,
    so every rewrite of an encrypted project's plaintext segment (from before encryption) encrypts it."""
    fsutil.make_dir(final.parent)
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        with encryption.relation(conn, inputs, cipher) as source:
            sql = select_sql(source, keep, dedupe)
            reader = conn.sql(sql, params=params or None).to_arrow_reader(settings.row_group_rows)
            stats = _stream(reader, tmp, settings, transform, cipher)
        if stats is None:
            tmp.unlink(missing_ok=True)
            return None
        # Same order as a flush: bytes durable before the name exists, the name durable before the catalog
        # can point at it. A crash before the catalog commit leaves an orphan that start-up sweeps.
        fsutil.fsync_file(tmp)
        crash_point("lifecycle.rewrite.before_rename")
        fsutil.rename_durably(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    rows, lo, hi, traces = stats
    bloom = build_bloom(traces, settings.trace_bloom_bits_per_key)
    return Written(rows, final.stat().st_size, lo, hi, bloom)


def _stream(
    reader: pa.RecordBatchReader,
    tmp: Path,
    settings: SegmentSettings,
    transform: Transform | None = None,
    cipher: ProjectCipher | None = None,
) -> tuple[int, int, int, set[str]] | None:
    writer: pq.ParquetWriter | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = rows = 0
    lo, hi = 2**63 - 1, -(2**63)
    traces: set[str] = set()

    def write_out() -> None:
        nonlocal writer, pending, pending_rows
        if not pending:
            return
        if writer is None:
            fsutil.create_empty(tmp)  # 0600 before pyarrow writes it
            writer = pq.ParquetWriter(tmp, SPAN_SCHEMA, **encryption.writer_options(writer_options(settings), cipher))
        writer.write_table(pa.Table.from_batches(pending, SPAN_SCHEMA), row_group_size=settings.row_group_rows)
        pending, pending_rows = [], 0

    try:
        for raw in reader:
            if raw.num_rows == 0:
                continue
            batch = raw.cast(SPAN_SCHEMA)
            if transform is not None:
                batch = transform(batch)
            start = pc.min_max(batch.column("start_time").cast(pa.int64()))
            lo, hi = min(lo, start["min"].as_py()), max(hi, start["max"].as_py())
            traces.update(batch.column("trace_id").unique().to_pylist())
            rows += batch.num_rows
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= settings.row_group_rows:
                write_out()
        write_out()
    finally:
        if writer is not None:
            writer.close()
    return (rows, lo, hi, traces) if rows else None


def new_entry(
    project_id: str,
    segment_id: str,
    path: str,
    written: Written,
    level: int,
    *,
    location: str = "local",
    remote_key: str | None = None,
    checksum: str | None = None,
) -> SegmentEntry:
    return SegmentEntry(
        id=segment_id,
        project_id=project_id,
        path=path,
        min_time=written.min_time,
        max_time=written.max_time,
        row_count=written.rows,
        bytes=written.bytes,
        level=level,
        location=location,
        schema_version=SPAN_SCHEMA_VERSION,
        created_at=time.time_ns() // 1000,
        trace_bloom=written.trace_bloom,
        remote_key=remote_key,
        checksum=checksum,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
