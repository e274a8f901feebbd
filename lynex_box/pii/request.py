"""`[pii] redact_in_request`: a request body redacted before it reaches the WAL, so no raw copy is ever on disk.

The body is parsed as its route stores it (JSON for the native, Langfuse and OTLP/JSON routes; OTLP protobuf
messages), every string value goes through the project's scanner (`Scanner.text`, the same detectors and masks as
the pipeline) and the values of its masked keys become `[MASKED]`; object keys, ids and timestamps are left alone,
so the record decodes as before. The pipeline later counts the masks it finds into the `pii` column. A body that
does not parse (no route stores one) is redacted as bytes, in place (`redact_bytes`). Runs in a thread
(`Engine.append_async`); must never do I/O.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from lynex_box.pii import detectors
from lynex_box.pii.scanner import Scanner
from lynex_box.wal.records import PROTOBUF, RecordHeader, RecordType

# Fields that carry ids, times and model names in the JSON bodies: never PII, and a mask there breaks the record.
SKIP_KEYS: Final = frozenset(
    {"id", "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id", "event_id",
     "parentObservationId", "observationId", "startTimeUnixNano", "endTimeUnixNano", "timeUnixNano",
     "observedTimeUnixNano", "timestamp", "startTime", "endTime", "start_time", "end_time", "completionStartTime",
     "type", "kind", "model"}
)  # fmt: skip


def redact_request(scanner: Scanner, rtype: RecordType, header: RecordHeader, body: bytes) -> bytes:
    """The body of one record, redacted by `scanner` (its project's).

    A body without a candidate anywhere (one RE2 scan, in C) is stored as it is. A JSON body is redacted as text
    in one pass when no masked key appears in it and the result still parses (a mask never sits in a JSON string
    escape, but a number can look like a card); otherwise it is parsed and each string value redacted."""
    counts: Counter[str] = Counter()
    has_key = any(key.encode() in body for key in scanner.keys)
    if not has_key and scanner.bytes_regex().search(body) is None:
        return body
    if header.content_type == PROTOBUF and rtype in (RecordType.OTLP_TRACES, RecordType.OTLP_LOGS):
        message = ExportTraceServiceRequest() if rtype == RecordType.OTLP_TRACES else ExportLogsServiceRequest()
        try:
            message.ParseFromString(body)
        except DecodeError:
            return redact_bytes(scanner, body)
        _walk_message(message, scanner, counts)
        out: bytes = message.SerializeToString()
        return out
    if not has_key:
        try:
            text = scanner.text(body.decode(), counts).encode()
            orjson.loads(text)
            return text
        except (UnicodeDecodeError, orjson.JSONDecodeError):
            pass
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return redact_bytes(scanner, body)
    return orjson.dumps(_walk_json(doc, scanner, counts))


def _walk_json(doc: Any, scanner: Scanner, counts: Counter[str]) -> Any:
    if isinstance(doc, str):
        return scanner.text(doc, counts)
    if isinstance(doc, list):
        return [_walk_json(item, scanner, counts) for item in doc]
    if not isinstance(doc, dict):
        return doc
    otlp_key = doc.get("key")
    if isinstance(otlp_key, str) and otlp_key in scanner.keys and "value" in doc:  # OTLP/JSON {key, value}
        return {**doc, "value": {"stringValue": detectors.KEY_MASK}}
    out = {}
    for key, value in doc.items():
        if key in scanner.keys:
            out[key] = detectors.KEY_MASK
        elif key in SKIP_KEYS and not isinstance(value, (dict, list)):
            out[key] = value
        else:
            out[key] = _walk_json(value, scanner, counts)
    return out


def _walk_message(message: Any, scanner: Scanner, counts: Counter[str]) -> None:
    """Every string of an OTLP export request, in place: names, status messages, attribute values, log bodies."""
    resources = getattr(message, "resource_spans", None) or getattr(message, "resource_logs", None) or []
    for resource in resources:
        _attributes(resource.resource.attributes, scanner, counts)
        for scope in list(getattr(resource, "scope_spans", [])) + list(getattr(resource, "scope_logs", [])):
            _attributes(scope.scope.attributes, scanner, counts)
            for span in getattr(scope, "spans", []):
                span.name = scanner.text(span.name, counts)
                span.status.message = scanner.text(span.status.message, counts)
                _attributes(span.attributes, scanner, counts)
                for event in span.events:
                    event.name = scanner.text(event.name, counts)
                    _attributes(event.attributes, scanner, counts)
                for link in span.links:
                    _attributes(link.attributes, scanner, counts)
            for record in getattr(scope, "log_records", []):
                _value(record.body, scanner, counts)
                _attributes(record.attributes, scanner, counts)


def _attributes(items: Any, scanner: Scanner, counts: Counter[str]) -> None:
    for kv in items:
        assert isinstance(kv, KeyValue)
        if kv.key in scanner.keys:
            kv.value.Clear()
            kv.value.string_value = detectors.KEY_MASK
        else:
            _value(kv.value, scanner, counts)


def _value(value: AnyValue, scanner: Scanner, counts: Counter[str]) -> None:
    which = value.WhichOneof("value")
    if which == "string_value":
        value.string_value = scanner.text(value.string_value, counts)
    elif which == "array_value":
        for item in value.array_value.values:
            _value(item, scanner, counts)
    elif which == "kvlist_value":
        _attributes(value.kvlist_value.values, scanner, counts)


def redact_bytes(scanner: Scanner, body: bytes) -> bytes:
    """The last resort for a body that does not parse: each match replaced in place by `*`s (same length)."""
    regex = scanner.bytes_regex()
    return bytes(regex.sub(lambda m: b"*" * len(m.group(0)), body))
