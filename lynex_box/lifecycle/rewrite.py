"""The one segment rewrite: new files from the rows of existing ones, swapped in by one catalog transaction.

Compaction, retention, deletion and repricing all rewrite through `stage` + `commit` (Prometheus has one
`LeveledCompactor.write` likewise). `stage` writes the new file the way a flush does (schema, zstd, row groups,
dictionary columns, statistics; docs/format/segments.md) — merged, filtered to the rows queries may see, deduped by
`event_id`, sorted, optionally transformed batch by batch — and, for a bucket segment, uploads it and reads it
back; `commit` swaps it in; `Staged.discard` removes what was written when the swap is not going to happen. The
order is always: durable file (-> upload + verify) -> catalog swap -> old file removed by the janitor after the
grace period, so a crash at any step leaves either the old rows published or the new ones, never neither.

Rows stream from DuckDB in batches, so memory stays bounded by DuckDB's own limit whatever the input size. When
`rewrite_files` returns, the file is complete, fsynced and its name is durable; on any error (ENOSPC included) the
temporary file is removed and no final name exists.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lynex_box import fsutil
from lynex_box.config import SegmentSettings
from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.bucket import segment_key, upload_verified
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.meta.catalog import SegmentEntry
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA
from lynex_box.segments import encryption, parquet_file
from lynex_box.segments.bloom import build_bloom
from lynex_box.segments.encryption import ProjectCipher
from lynex_box.versions import SPAN_SCHEMA_VERSION

log = logging.getLogger("lynex.lifecycle")
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


@dataclass(slots=True)
class Staged:
    """A rewrite whose new file is written (and, for a bucket segment, uploaded and verified) but not yet swapped in.

    `new` is None when no row was kept: the commit then only retires `old`. `skipped` is set when the caller's
    `skip_if` held: nothing is kept on disk or in the bucket and `commit` leaves `old` published."""

    ctx: LifecycleContext = field(repr=False)
    old: list[SegmentEntry]
    written: Written | None = None
    new: SegmentEntry | None = None
    local: Path | None = None  # the new local file, removed by `discard`
    key: str | None = None  # the new bucket object, likewise (best effort)
    skipped: bool = False

    def commit(self) -> None:
        """Swap this rewrite in (see `commit`)."""
        commit(self.ctx, [self])

    def discard(self) -> None:
        """Remove what was written; only for a rewrite that no catalog row names (before or instead of a swap)."""
        if self.local is not None:
            self.local.unlink(missing_ok=True)  # never published: nothing can be reading it
        if self.key is not None and self.ctx.bucket is not None:
            with contextlib.suppress(Exception):
                self.ctx.bucket.delete(self.key)  # best effort: the bucket sweep removes what no row names


def stage(
    ctx: LifecycleContext,
    inputs: list[SegmentEntry],
    *,
    transform: Transform | None = None,
    dedupe: bool = True,
    level: int | None = None,
    skip_if: Callable[[], bool] | None = None,
) -> Staged:
    """Write the rows of `inputs` (one project, all local or all in the bucket) that queries may see into one new
    segment, and stage it to replace them; nothing is visible until `commit`.

    `transform` may change values of each batch (same schema, same rows; repricing uses it). `level` is the new
    segment's (default: the highest input level). `skip_if` is asked once the file is written and before any
    upload: True removes it and stages no change (repricing: no cost changed). A local segment is written under its
    final name; a bucket one in the scratch dir, then uploaded under a new key and read back before this returns
    (the scratch copy is removed either way). On any error, what was written is removed."""
    project_id = inputs[0].project_id
    if len({(e.project_id, e.location) for e in inputs}) != 1:
        found = sorted({(e.project_id, e.location) for e in inputs})
        raise ValueError(f"a rewrite takes segments of one project and one location, got {found}")
    keep, params = ctx.visibility.keep_condition(project_id)
    segment_id, rel, final = ctx.new_local(project_id)
    remote = inputs[0].location == "remote"
    out = ctx.scratch / f"{segment_id}.parquet" if remote else final
    staged = Staged(ctx, list(inputs), local=None if remote else out)
    with ctx.readable(inputs) as paths:
        staged.written = rewrite_files(
            ctx.duck, paths, out, keep, params, ctx.settings.segments, dedupe=dedupe, transform=transform,
            cipher=ctx.cipher(project_id),
        )  # fmt: skip
    level = max(e.level for e in inputs) if level is None else level
    # The new file is durable under its name and no catalog row names it: a crash from here until the swap leaves
    # an orphan that start-up (local) or the bucket sweep (remote) removes, and the inputs stay published. A
    # bucket object counts as stored only once read back with the same size and SHA-256, so it is verified
    # before any row may name it.
    try:
        if skip_if is not None and skip_if():
            staged.skipped = True
            staged.discard()
        elif staged.written is not None and remote:
            assert ctx.bucket is not None
            staged.key = segment_key(ctx.node_id, project_id, segment_id)
            checksum = upload_verified(ctx.bucket, staged.key, out, ctx.scratch)
            staged.new = new_entry(project_id, segment_id, staged.key, staged.written, level,
                                   location="remote", remote_key=staged.key, checksum=checksum)  # fmt: skip
        elif staged.written is not None:
            staged.new = new_entry(project_id, segment_id, rel, staged.written, level)
    except BaseException:
        staged.discard()
        raise
    finally:
        if remote:
            out.unlink(missing_ok=True)
    return staged


def commit(ctx: LifecycleContext, staged: Sequence[Staged]) -> None:
    """Swap every staged rewrite (skipped ones aside) in, in ONE catalog transaction: a query sees all old files
    or all new ones. If the transaction fails (CatalogConflict: an input was replaced meanwhile), nothing was
    published, so the new files are discarded before the error is raised."""
    chosen = [s for s in staged if not s.skipped]
    if not chosen:
        return
    old = [e for s in chosen for e in s.old]
    new = [s.new for s in chosen if s.new is not None]

    def refused() -> None:
        for s in chosen:
            s.discard()

    # The old rows become `deleting`, not gone: their files stay until the janitor's grace period has passed, so a
    # query that started before the swap still reads them.
    ctx.swap(old, new, refused=refused)


def rewrite_segment(ctx: LifecycleContext, entry: SegmentEntry) -> SegmentEntry | None:
    """Rewrite one segment keeping only the rows queries may see (retention, deletion); returns its replacement
    (None: no rows left). The old file goes after the grace period."""
    staged = stage(ctx, [entry])
    staged.commit()
    # Swapped: the old file is `deleting` and still on disk until the janitor's turn.
    crash_point("lifecycle.rewrite.after_swap")
    log.info(
        "segment rewritten id=%s project=%s rows_before=%d rows_after=%d location=%s",
        entry.id, entry.project_id, entry.row_count, staged.written.rows if staged.written else 0, entry.location,
    )  # fmt: skip
    return staged.new
