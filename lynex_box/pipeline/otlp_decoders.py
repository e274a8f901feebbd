"""Pipeline decoders for OTLP records: traces become span rows, GenAI log events become event rows.

Legacy GenAI content arrives as OTLP log events (`gen_ai.user.message`, `gen_ai.choice`, ...) in requests
of their own, before or after the span they describe. Instead of holding spans back to wait for them, each
event is stored as a child row (`kind = "event"`, `source = "otlp-log"`, parent = the span) and the trace
endpoint folds those rows into their span's input and output when it reads them (`fold_log_events`).
That keeps ingest order-independent and crash-safe.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from lynex_box.otlp import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
    join_log_events,
    map_columns,
)
from lynex_box.otlp.events import GENAI_EVENT_NAMES
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType

if TYPE_CHECKING:  # not at run time: the decode worker process must not import the native decoder (pyarrow.compute)
    from lynex_box.pipeline.decoders import Decoder, Row, SpanColumns

log = logging.getLogger("lynex.pipeline")
LOG_SOURCE = "otlp-log"


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
    """One event row per GenAI log event that names its span; other log records are not stored."""
    data = bytes(body)
    records = decode_logs_json(data) if header.content_type == "application/json" else decode_logs_protobuf(data)
    rows: list[Row] = []
    for index, rec in enumerate(records):
        if rec.event_name not in GENAI_EVENT_NAMES or not rec.trace_id or not rec.span_id:
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


def fold_log_events(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill each span's missing input/output/tool calls from its GenAI log-event rows, in time order.

    The event rows stay in the list (they are real events of the trace), so nothing is hidden.
    """
    by_span = {s["span_id"]: s for s in spans if s.get("source") != LOG_SOURCE}
    for event in sorted((s for s in spans if s.get("source") == LOG_SOURCE), key=lambda s: s["start_time"]):
        parent = by_span.get(event.get("parent_span_id"))
        if parent is None:
            continue
        for key in ("input", "output"):
            if parent.get(key) is None and event.get(key) is not None:
                parent[key] = event[key]
            elif isinstance(parent.get(key), dict) and isinstance(event.get(key), dict):
                extra = event[key].get("messages") or []
                parent[key].setdefault("messages", []).extend(extra)
        if event.get("tool_calls") and not parent.get("tool_calls"):
            parent["tool_calls"] = event["tool_calls"]
    return spans


def otlp_decoders() -> dict[int, Decoder]:
    return {RecordType.OTLP_TRACES: decode_otlp_traces, RecordType.OTLP_LOGS: decode_otlp_logs}
