"""The head: spans that are durable in the WAL but not yet in a segment, held as Arrow tables.

Queries read the head directly, so a span is visible as soon as the pipeline has appended it. The
head knows which WAL range it covers; a frozen head is the unit that one flush publishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc


def _in_order(starts: pa.Array | pa.ChunkedArray) -> bool:
    values = starts.cast(pa.int64()).to_numpy()  # start_time has no nulls: zero-copy per chunk
    return bool(len(values) < 2 or (values[1:] >= values[:-1]).all())


def sorted_by_start(table: pa.Table) -> pa.Table:
    """`table` in start_time order; as it is when it already is (the pipeline sorts off its own thread)."""
    if table.num_rows < 2 or _in_order(table.column("start_time")):
        return table
    return table.sort_by([("start_time", "ascending")])


def sorted_runs(table: pa.Table) -> list[pa.Table]:
    """`table` as runs, each in start_time order, copying only the record batches that are not in order.

    A pipeline step's table is the tables of its records put together (each a record batch here); the decode
    workers put each record's spans in time order, so a step is a few sorted runs, kept as zero-copy slices,
    instead of one sorted copy of every column (which cost the pipeline's thread more than the rest of a step's
    bookkeeping, in copies and in page faults of the fresh memory)."""
    if table.num_rows < 2 or _in_order(table.column("start_time")):
        return [table]
    runs = []
    for batch in table.to_batches():
        if batch.num_rows:
            run = pa.Table.from_batches([batch])
            runs.append(run if _in_order(batch.column("start_time")) else run.sort_by("start_time"))
    return runs


@dataclass(slots=True)
class HeadBuffer:
    """Spans of a contiguous WAL range `[lsn_from, lsn_to]`, grouped by project."""

    lsn_from: int
    lsn_to: int
    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    rows: int = 0
    nbytes: int = 0
    opened_at: float = field(default_factory=time.monotonic)

    def add(self, table: pa.Table, lsn_to: int) -> None:
        """Add spans from records up to `lsn_to` (the table may be empty: the range still advances)."""
        if table.num_rows:
            projects = table.column("project_id").unique().to_pylist()
            for project in projects:
                part = table if len(projects) == 1 else table.filter(pc.equal(table["project_id"], project))
                # Sorted runs now, while they are small: a flush then writes time-ordered row groups from
                # slices of these runs, without a sorted copy of the whole head.
                self.tables.setdefault(project, []).extend(sorted_runs(part))
            self.rows += table.num_rows
            self.nbytes += table.nbytes
        self.lsn_to = lsn_to

    @property
    def empty(self) -> bool:
        return self.lsn_to < self.lsn_from

    def project_tables(self, project_id: str) -> list[pa.Table]:
        return list(self.tables.get(project_id, ()))

    def age_s(self) -> float:
        return time.monotonic() - self.opened_at
