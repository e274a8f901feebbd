"""Test helpers: build OtlpSpan records, real protobuf export requests and hand-written OTLP/JSON bodies."""

from __future__ import annotations

import json
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from lynex_box.sources.otlp.records import OtlpEvent, OtlpSpan

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
PARENT_ID = "00f067aa0ba902b7"
START_NS = 1_700_000_000_123_456_789
END_NS = 1_700_000_001_623_456_789


def make_span(
    attributes: dict[str, Any],
    *,
    name: str = "span",
    events: list[tuple[str, dict[str, Any]]] | None = None,
    resource: dict[str, Any] | None = None,
    status_code: int = 0,
    status_message: str = "",
    parent: str | None = PARENT_ID,
    trace_id: str = TRACE_ID,
    span_id: str = SPAN_ID,
    start: int = START_NS,
    end: int = END_NS,
    scope: tuple[str, str] = ("", ""),
) -> OtlpSpan:
    return OtlpSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=3,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status_code=status_code,
        status_message=status_message,
        attributes=attributes,
        events=[OtlpEvent(event_name, START_NS + 1000, attrs) for event_name, attrs in events or []],
        resource_attributes=resource or {},
        scope_name=scope[0],
        scope_version=scope[1],
    )


def js(value: Any) -> str:
    """JSON text as Python instrumentations write it (json.dumps, with spaces)."""
    return json.dumps(value)


def loads(text: str | None) -> Any:
    assert text is not None
    return orjson.loads(text)


# --- protobuf ------------------------------------------------------------------------------------------------------


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(item) for item in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(key_values(value))
        return out
    raise TypeError(value)


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def trace_request(spans: list[OtlpSpan], resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    """One resource, one scope per distinct scope name, in span order."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource or {}))
    scopes: dict[tuple[str, str], Any] = {}
    for record in spans:
        scope_key = (record.scope_name, record.scope_version)
        if scope_key not in scopes:
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name, scope_spans.scope.version = scope_key
            scopes[scope_key] = scope_spans
        span = scopes[scope_key].spans.add()
        span.trace_id = bytes.fromhex(record.trace_id)
        span.span_id = bytes.fromhex(record.span_id)
        if record.parent_span_id:
            span.parent_span_id = bytes.fromhex(record.parent_span_id)
        span.name = record.name
        span.kind = Span.SpanKind.ValueType(record.kind)
        span.start_time_unix_nano = record.start_time_unix_nano
        span.end_time_unix_nano = record.end_time_unix_nano
        span.status.code = record.status_code
        span.status.message = record.status_message
        span.attributes.extend(key_values(record.attributes))
        for event in record.events:
            span.events.add(name=event.name, time_unix_nano=event.time_unix_nano).attributes.extend(
                key_values(event.attributes)
            )
    return request


def log_request(records: list[dict[str, Any]]) -> ExportLogsServiceRequest:
    """records: dicts with trace_id, span_id (hex), event_name, body, attributes, time."""
    request = ExportLogsServiceRequest()
    scope_logs = request.resource_logs.add().scope_logs.add()
    for spec in records:
        record: LogRecord = scope_logs.log_records.add()
        record.trace_id = bytes.fromhex(spec.get("trace_id", TRACE_ID))
        record.span_id = bytes.fromhex(spec.get("span_id", SPAN_ID))
        record.time_unix_nano = spec.get("time", START_NS)
        if spec.get("event_name"):
            record.event_name = spec["event_name"]
        if "body" in spec:
            record.body.CopyFrom(any_value(spec["body"]))
        record.attributes.extend(key_values(spec.get("attributes", {})))
    return request


# --- OTLP/JSON, written by hand as the JS exporter sends it -------------------------------------------------------


def json_any(value: Any, int_as_string: bool = True) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value) if int_as_string else value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [json_any(item, int_as_string) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": json_attributes(value, int_as_string)}}
    raise TypeError(value)


def json_attributes(attributes: dict[str, Any], int_as_string: bool = True) -> list[dict[str, Any]]:
    return [{"key": key, "value": json_any(value, int_as_string)} for key, value in attributes.items()]


def json_trace_body(spans: list[OtlpSpan], resource: dict[str, Any] | None = None, int_as_string: bool = True) -> bytes:
    json_spans = []
    for record in spans:
        json_spans.append(
            {
                "traceId": record.trace_id,
                "spanId": record.span_id,
                "parentSpanId": record.parent_span_id or "",
                "name": record.name,
                "kind": record.kind,
                "startTimeUnixNano": str(record.start_time_unix_nano) if int_as_string else record.start_time_unix_nano,
                "endTimeUnixNano": str(record.end_time_unix_nano) if int_as_string else record.end_time_unix_nano,
                "attributes": json_attributes(record.attributes, int_as_string),
                "droppedAttributesCount": 0,
                "events": [
                    {
                        "timeUnixNano": str(event.time_unix_nano),
                        "name": event.name,
                        "attributes": json_attributes(event.attributes, int_as_string),
                    }
                    for event in record.events
                ],
                "status": {"code": record.status_code, "message": record.status_message},
                "links": [],
            }
        )
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": json_attributes(resource or {}, int_as_string)},
                "scopeSpans": [{"scope": {"name": "test-scope", "version": "1.0"}, "spans": json_spans}],
            }
        ]
    }
    return orjson.dumps(body)
