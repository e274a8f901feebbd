"""The pipeline's decoder of native `EVENTS` WAL records: the request JSON `{"events": [...]}` as span columns.

Runs of records go to the DuckDB batch decoder (`batch`); `decode_events` is the per-record reference, which the
batch decoder's fallback and the fuzz targets use. `register` puts both in the pipeline's registry.
"""

from __future__ import annotations

import functools

import orjson

from lynex_box.config import PipelineSettings
from lynex_box.pipeline.decode.registry import DecoderRegistry
from lynex_box.pipeline.decode.types import Local, SpanColumns
from lynex_box.sources.native.batch import NativeBatchDecoder, fallback_event_id
from lynex_box.sources.native.normalize import normalize_events
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType


def decode_events(record: WalRecord, header: RecordHeader, body: memoryview, id_prefix: str = "") -> SpanColumns:
    """Native events: the request JSON `{"events": [...]}` minus the items ingest rejected, as columns."""
    events = orjson.loads(body)["events"]
    lsn = record.lsn

    def fallback(index: int) -> str:
        return fallback_event_id(id_prefix, lsn, index)

    return normalize_events(events, header.project_id, header.received_us, fallback, frozenset(header.skip))


def register(registry: DecoderRegistry, settings: PipelineSettings, id_prefix: str = "") -> None:
    """Native events: decoded in runs by DuckDB (one thread: the pipeline's decode pool runs steps side by side).
    `id_prefix` starts the id of an event sent without `event_id` (`fallback_event_id`)."""
    batch = NativeBatchDecoder(threads=1, memory_limit_mb=settings.decode_memory_mb, id_prefix=id_prefix)
    registry.register(RecordType.EVENTS, Local(functools.partial(decode_events, id_prefix=id_prefix)), batch=batch)
