"""From one WAL record to span rows: one decoder per record type.

A decoder gets the record's header and body and returns span rows (dicts keyed by the span columns;
keys starting with `_` are transient hints for enrichment), or span columns (a dict of column name to
list or Arrow array, as `schema.span.spans_to_table` takes): the native decoder does the latter, which
is much cheaper per span. Decoders run in the pipeline thread, after
the acknowledgement, so they must never raise for a record that ingest accepted: a body they cannot
read is logged and yields no rows rather than stopping the pipeline behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from lynex_box.ingest.native import normalize_events
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType

log = logging.getLogger("lynex.pipeline")

Row = dict[str, Any]
SpanColumns = dict[str, Any]
Decoder = Callable[[WalRecord, RecordHeader, memoryview], list[Row] | SpanColumns]


def decode_events(record: WalRecord, header: RecordHeader, body: memoryview) -> SpanColumns:
    """Native events: the request JSON `{"events": [...]}` minus the items ingest rejected, as columns."""
    events = orjson.loads(body)["events"]
    lsn = record.lsn

    def fallback(index: int) -> str:
        return f"{lsn:012x}-{index:05d}"  # deterministic, so a replay yields the same id

    return normalize_events(events, header.project_id, header.received_us, fallback, frozenset(header.skip))


def default_decoders(otlp_decode_process: bool = False, otlp_decode_workers: int = 1) -> dict[int, Decoder]:
    """The decoder of each record type; `otlp_decode_process` decodes OTLP in `otlp_decode_workers` worker
    processes (stopped by `decode_process.close_decoders`)."""
    decoders: dict[int, Decoder] = {RecordType.EVENTS: decode_events}
    try:
        from lynex_box.pipeline.otlp_decoders import otlp_decoders
    except ImportError:  # pragma: no cover - OTLP support is part of the package; keep native ingest alive
        log.warning("otlp decoders unavailable")
    else:
        decoders.update(otlp_decoders())
        if otlp_decode_process:
            from lynex_box.pipeline.decode_process import DecodeProcess

            decoders.update(DecodeProcess(otlp_decoders(), otlp_decode_workers).decoders())
    from lynex_box.pipeline.langfuse_decoder import LangfuseDecoder

    decoders[RecordType.LANGFUSE_INGESTION] = LangfuseDecoder()
    return decoders
