"""Pipeline decoder for `LANGFUSE_INGESTION` WAL records: Langfuse legacy trace and observation events.

The record body is `{"batch": [...]}` with only the events ingest accepted (scores were stored by the route).
The mapping is `lynex_box.langfuse`; this decoder only adds what must live as long as the pipeline: the
`ObservationHints` that let an update in a later request be priced with the model its create named.
"""

from __future__ import annotations

import orjson

from lynex_box.langfuse import ObservationHints, batch_rows
from lynex_box.pipeline.decoders import Row
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader


class LangfuseDecoder:
    """Callable decoder; holds the observation hints (the pipeline calls decoders from one thread)."""

    def __init__(self, hint_capacity: int = 100_000) -> None:
        self.hints = ObservationHints(hint_capacity)

    def __call__(self, record: WalRecord, header: RecordHeader, body: memoryview) -> list[Row]:
        items = orjson.loads(body)["batch"]
        return batch_rows(items, header.project_id, header.received_us, self.hints)
