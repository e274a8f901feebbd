"""Writing one segment file: sorted, compressed (zstd, or LZ4 for a head flush if configured), statistics, written
to a temporary name and made durable.

The caller decides when a file becomes visible (the catalog commit); this module only guarantees
that when `write_segment_file` returns, the file is complete, fsynced and its name is durable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lynex_box import fsutil
from lynex_box.crashpoints import crash_point
from lynex_box.schema.span import SCHEMA_VERSION_KEY, SPAN_SCHEMA
from lynex_box.segments import encryption
from lynex_box.segments.encryption import ProjectCipher

# Columns with few distinct values per file: dictionary encoding shrinks them and speeds filters.
DICTIONARY_COLUMNS = [
    "project_id", "name", "kind", "status", "provider", "model", "response_model", "cost_source",
    "session_id", "user_id", "environment", "release", "prompt_name", "prompt_version", "source",
    "status_message",
]  # fmt: skip
TRACE_BLOOM_FPP = 0.01


def segment_writer_options(row_group_rows: int, zstd_level: int, codec: str = "zstd") -> dict[str, Any]:
    """`pq.ParquetWriter` keyword arguments of a segment file (docs/format/segments.md), for every writer of one.

    `codec` is "zstd" (at `zstd_level`) or "lz4"."""
    return {
        "compression": codec,
        "compression_level": zstd_level if codec == "zstd" else None,
        "use_dictionary": DICTIONARY_COLUMNS,
        "write_statistics": True,
        # A lookup by trace id alone reads one row group instead of all: DuckDB probes these filters.
        "bloom_filter_options": {"trace_id": {"ndv": row_group_rows, "fpp": TRACE_BLOOM_FPP}},
        # Page-level min/max and offsets: a time filter skips pages, a point lookup reads fewer of them.
        "write_page_index": True,
    }


def write_segment_file(
    table: pa.Table, final: Path, row_group_rows: int, zstd_level: int, cipher: ProjectCipher | None = None
) -> int:
    """Write `table` (already sorted) to `final` via a temporary file; return the file size."""
    return write_segment_runs([table], final, row_group_rows, zstd_level, cipher)


def write_segment_runs(
    runs: list[pa.Table],
    final: Path,
    row_group_rows: int,
    zstd_level: int,
    cipher: ProjectCipher | None = None,
    codec: str = "zstd",
) -> int:
    """Write runs (each sorted by `start_time`) as one segment via a temporary file; return the file size.

    Row group k holds the rows whose `start_time` lies in [b_k, b_k+1), where b_k is the start time of
    the (k * row_group_rows)-th row in time order: row groups are disjoint and ordered in time, and
    each is made of zero-copy slices of the runs (rows in time order within each run). So a flush
    needs no sorted copy of the head, not even of one row group; see docs/format/segments.md.
    With `cipher` the file is encrypted with that project's key (lynex_box.segments.encryption).
    """
    fsutil.make_dir(final.parent)
    tmp = fsutil.create_empty(final.with_name(f".{final.name}.tmp"))  # 0600 before pyarrow writes it
    runs = [run for run in runs if run.num_rows]
    starts = [run.column("start_time").cast(pa.int64()).to_numpy() for run in runs]
    every = np.sort(np.concatenate(starts)) if starts else np.empty(0, np.int64)
    bounds = every[row_group_rows::row_group_rows]
    edges = [np.concatenate([[0], np.searchsorted(s, bounds, "left"), [len(s)]]) for s in starts]
    schema = runs[0].schema if runs else SPAN_SCHEMA
    options = encryption.writer_options(segment_writer_options(row_group_rows, zstd_level, codec), cipher)
    with pq.ParquetWriter(tmp, schema, **options) as writer:
        for k in range(len(bounds) + 1):
            parts = [run.slice(int(e[k]), int(e[k + 1] - e[k])) for run, e in zip(runs, edges, strict=True)]
            group = pa.concat_tables([p for p in parts if p.num_rows]) if any(p.num_rows for p in parts) else None
            if group is not None:  # ties on a bound can leave a group empty (and make the next larger)
                writer.write_table(group, row_group_size=group.num_rows)
    # Order matters: the bytes are synced before the rename can expose the name, and the
    # directory is synced so the name survives a crash before the catalog points at it.
    fsutil.fsync_file(tmp)
    crash_point("segments.before_rename")
    fsutil.rename_durably(tmp, final)
    crash_point("segments.after_rename")
    return final.stat().st_size


def file_schema_version(path: Path) -> int | None:
    """The span schema version a segment file's footer names (`lynex.span_schema_version`); None for an encrypted
    file, whose footer only the project's key opens, or a file without the key. Reads the footer alone."""
    if encryption.is_encrypted(path):
        return None
    raw = (pq.read_schema(path).metadata or {}).get(SCHEMA_VERSION_KEY, b"")
    return int(raw) if raw.isdigit() else None
