"""The pipeline's decoders of OTLP WAL records: traces become span rows, GenAI log events become event rows.

Legacy GenAI content arrives as OTLP log events (`gen_ai.user.message`, `gen_ai.choice`, ...) in requests
of their own, before or after the span they describe. Instead of holding spans back to wait for them, each
event is stored as a child row (`kind = "event"`, `source = "otlp-log"`, parent = the span) and the trace
endpoint folds those rows into their span's input and output when it reads them (`fold.fold_log_events`).
That keeps ingest order-independent and crash-safe.

`otlp_decoders` are plain functions, run by the decode worker processes (`decode_process`) and, as their fallback,
in the server; `register` puts the ones `[pipeline] otlp_decode_process` asks for in the pipeline's registry. The
decode worker imports this module: it must not import the server, DuckDB or pyarrow.compute.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from lynex_box.pipeline.decode.types import DecodeFn, Local, Row, SpanColumns
from lynex_box.sources.otlp import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
    join_log_events,
    map_columns,
)
from lynex_box.sources.otlp.events import GENAI_EVENT_NAMES
from lynex_box.sources.otlp.fold import LOG_SOURCE
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType

if TYPE_CHECKING:  # the decode worker process imports this module: not config, nor the registry
    from lynex_box.config import PipelineSettings
    from lynex_box.pipeline.decode.registry import DecoderRegistry

log = logging.getLogger("lynex.pipeline")


def decode_otlp_traces(record: WalRecord, header: RecordHeader, body: memoryview) -> list[Row] | SpanColumns:
    """The record's spans as span columns in start time order, minus the ones ingest refused (`header.skip`).

    Columns cost less per span than rows; but a transient hint (`_cache_write_tokens`, read by the cost enricher)
    cannot travel in columns, so a record with a span that carries one is returned as rows instead."""
    data = bytes(body)
    spans = decode_traces_json(data) if header.content_type == "application/json" else decode_traces_protobuf(data)
    if header.skip:
        skip = set(header.skip)
        spans = [span for index, span in enumerate(spans) if index not in skip]
    batch = map_columns(spans, in_time_order=True)  # the head keeps each record's spans as one sorted run
    if batch.rejected:
        log.warning("otlp spans not mapped lsn=%d count=%d reason=%s", record.lsn, batch.rejected, batch.error_message)
    columns: dict[str, Any] = batch.columns
    columns["project_id"] = [header.project_id] * batch.count
    columns["ingested_at"] = [header.received_us] * batch.count
    hints = columns.pop("_cache_write_tokens")
    if any(hint is not None for hint in hints):
        names = list(columns)
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        for row, hint in zip(rows, hints, strict=True):
            row["_cache_write_tokens"] = hint
        return rows
    return columns


def decode_otlp_logs(record: WalRecord, header: RecordHeader, body: memoryview) -> list[Row]:
    """One event row per GenAI log event that names its span, minus the ones ingest refused (`header.skip`); other
    log records are not stored."""
    data = bytes(body)
    records = decode_logs_json(data) if header.content_type == "application/json" else decode_logs_protobuf(data)
    rows: list[Row] = []
    skip = set(header.skip)
    for index, rec in enumerate(records):
        if rec.event_name not in GENAI_EVENT_NAMES or not rec.trace_id or not rec.span_id or index in skip:
            continue
        # A stand-in span row receives the event's content through the same join the mapping uses.
        holder: dict[str, Any] = {"input": None, "output": None, "tool_calls": None}
        join_log_events({f"{rec.trace_id}:{rec.span_id}": holder}, [rec])
        time_us = rec.time_unix_nano // 1000 or header.received_us
        event_id = f"{rec.trace_id}:{rec.span_id}:log:{record.lsn}:{index}"
        rows.append(
            {
                "project_id": header.project_id,
                "trace_id": rec.trace_id,
                "span_id": event_id,
                "parent_span_id": rec.span_id,
                "event_id": event_id,
                "name": rec.event_name,
                "kind": "event",
                "start_time": time_us,
                "status": "ok",
                "input": holder["input"],
                "output": holder["output"],
                "tool_calls": holder["tool_calls"],
                "attributes": orjson.dumps(rec.attributes, default=str).decode() if rec.attributes else None,
                "ingested_at": header.received_us,
                "source": LOG_SOURCE,
            }
        )
    return rows


def otlp_decoders() -> dict[int, DecodeFn]:
    """The decoder function of each OTLP record type, as the worker runs them."""
    return {RecordType.OTLP_TRACES: decode_otlp_traces, RecordType.OTLP_LOGS: decode_otlp_logs}


def register(registry: DecoderRegistry, settings: PipelineSettings) -> None:
    """OTLP traces and logs: decoded in `otlp_decode_workers` worker processes when `otlp_decode_process` is on
    (stopped by the registry's `close`), else in the pipeline's decode pool."""
    local = otlp_decoders()
    if settings.otlp_decode_process:
        from lynex_box.sources.otlp.decode_process import DecodeProcess  # threads and sockets: only when used

        for rtype, decoder in DecodeProcess(local, settings.otlp_decode_workers).decoders().items():
            registry.register(rtype, decoder)
        return
    for rtype, fn in local.items():
        registry.register(rtype, Local(fn))
