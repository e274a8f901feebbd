"""The shapes a WAL decoder works with, and the protocols the pipeline calls it through.

A decoder gets one record's header and body and returns span rows (dicts keyed by the span columns; keys
starting with `_` are transient hints for enrichment) or span columns (a dict of column name to list or Arrow
array, as `schema.span.spans_to_table` takes), which cost much less per span. Decoders run after the
acknowledgement, so they must never raise for a record that ingest accepted: a body they cannot read is logged
and yields no rows rather than stopping the pipeline behind it.

What the runner may do with a decoder is written here as protocol members, not probed for: whether it keeps
state across records (`ordered`), whether it decodes elsewhere and takes records ahead (`submit`), and what it
holds that must be released (`close`). This module is imported by the OTLP decode worker process: it must stay
light (no pyarrow.compute, DuckDB or server code).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader

if TYPE_CHECKING:
    import pyarrow as pa

Row: TypeAlias = dict[str, Any]
SpanColumns: TypeAlias = dict[str, Any]
Decoded: TypeAlias = list[Row] | SpanColumns
DecodeFn: TypeAlias = Callable[[WalRecord, RecordHeader, memoryview], Decoded]
"""A plain decoder function: what a source writes, and what `Local` turns into a `Decoder`."""
BatchItem: TypeAlias = tuple[WalRecord, RecordHeader, memoryview]


class Decoder(Protocol):
    """The pipeline's decoder of one record type.

    `ordered`: the decoder keeps state across records, so its records are decoded in the pipeline thread in LSN
    order instead of on the decode pool. `submit` hands a record to a decoder that works elsewhere as soon as it is
    read and returns the future of its answer, which the pipeline passes back as `sent`; a decoder that decodes in
    the calling thread returns None. `close` releases what the decoder holds (worker processes).
    """

    @property
    def ordered(self) -> bool: ...

    def submit(self, record: WalRecord) -> Future[Any] | None: ...

    def __call__(
        self, record: WalRecord, header: RecordHeader, body: memoryview, sent: Future[Any] | None = None
    ) -> Decoded: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Local:
    """A `DecodeFn` as a `Decoder` that decodes in the calling thread and holds nothing."""

    fn: DecodeFn
    ordered: bool = False

    def submit(self, record: WalRecord) -> None:
        return None

    def __call__(
        self, record: WalRecord, header: RecordHeader, body: memoryview, sent: Future[Any] | None = None
    ) -> Decoded:
        return self.fn(record, header, body)

    def close(self) -> None:
        return None


class BatchDecoder(Protocol):
    """Decodes a run of records of one type at once into one span table, in record order.

    `one` decodes a single record by the reference rules: the pipeline falls back to it, record by record, when a
    batch raises (a bug in the fast path must not stop the pipeline). `one` must not raise: a record it cannot read
    yields an empty table (logged).
    """

    def __call__(self, items: list[BatchItem]) -> pa.Table: ...

    def one(self, record: WalRecord, header: RecordHeader, body: memoryview) -> pa.Table: ...
