"""Pipeline decoder for `LANGFUSE_INGESTION` WAL records: Langfuse legacy trace and observation events.

The record body is `{"batch": [...]}` with only the events ingest accepted (scores were stored by the route).
The mapping is `observations`; this decoder only adds what must live as long as the pipeline: the
`ObservationHints` that let an update in a later request be priced with the model its create named.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import orjson

from lynex_box.config import PipelineSettings
from lynex_box.pipeline.decode.registry import DecoderRegistry
from lynex_box.pipeline.decode.types import Row
from lynex_box.sources.langfuse.hints import ObservationHints
from lynex_box.sources.langfuse.observations import batch_rows
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType


class LangfuseDecoder:
    """A `Decoder` that holds the observation hints; decodes in the calling thread."""

    ordered = False  # decoded on the pipeline's decode pool, as before the `Decoder` protocol named it

    def __init__(self, hint_capacity: int = 100_000) -> None:
        self.hints = ObservationHints(hint_capacity)

    def submit(self, record: WalRecord) -> None:
        return None

    def __call__(
        self, record: WalRecord, header: RecordHeader, body: memoryview, sent: Future[Any] | None = None
    ) -> list[Row]:
        items = orjson.loads(body)["batch"]
        return batch_rows(items, header.project_id, header.received_us, self.hints)

    def close(self) -> None:
        return None


def register(registry: DecoderRegistry, settings: PipelineSettings) -> None:
    registry.register(RecordType.LANGFUSE_INGESTION, LangfuseDecoder())
