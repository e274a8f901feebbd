"""Writing one segment file: sorted, zstd, statistics, written to a temporary name and made durable.

The caller decides when a file becomes visible (the catalog commit); this module only guarantees
that when `write_segment_file` returns, the file is complete, fsynced and its name is durable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lynex_box.crashpoints import crash_point
from lynex_box.wal.log import fsync_dir

# Columns with few distinct values per file: dictionary encoding shrinks them and speeds filters.
DICTIONARY_COLUMNS = [
    "project_id", "name", "kind", "status", "provider", "model", "response_model", "cost_source",
    "session_id", "user_id", "environment", "release", "prompt_name", "prompt_version", "source",
    "status_message",
]  # fmt: skip


def write_segment_file(table: pa.Table, final: Path, row_group_rows: int, zstd_level: int) -> int:
    """Write `table` (already sorted) to `final` via a temporary file; return the file size."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp")
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        compression_level=zstd_level,
        row_group_size=row_group_rows,
        use_dictionary=DICTIONARY_COLUMNS,
        write_statistics=True,
    )
    # Order matters: the bytes are synced before the rename can expose the name, and the
    # directory is synced so the name survives a crash before the catalog points at it.
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    crash_point("segments.before_rename")
    os.rename(tmp, final)
    fsync_dir(final.parent)
    crash_point("segments.after_rename")
    return final.stat().st_size
