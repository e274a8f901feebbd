"""Decode OTLP/HTTP export bodies (protobuf or JSON) into plain records, with OpenTelemetry's own protobuf classes.

Protobuf bodies are parsed directly; JSON bodies are parsed with orjson, their hex ids are turned into base64 (the
OTLP/JSON quirk: `json_format.ParseDict` would read hex as base64 and yield 24-byte ids) and then go through
`ParseDict(..., ignore_unknown_fields=True)`, so both formats share one walker. Any malformed body raises
`OtlpDecodeError` and nothing else. This module must never validate semantics (ids, times: that is `mapping`),
never do I/O, and never let a protobuf message escape the package (`check` reads the parsed request directly).
Protobuf limits message nesting to 100 levels (in both formats), which bounds how deep attribute values nest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from lynex_box.sources.otlp.records import OtlpDecodeError, OtlpEvent, OtlpLogRecord, OtlpSpan
from lynex_box.sources.otlp.response import encode_trace_response

__all__ = [
    "OtlpDecodeError",
    "any_value_to_python",
    "decode_logs_json",
    "decode_logs_protobuf",
    "decode_traces_json",
    "decode_traces_protobuf",
    "encode_trace_response",
    "parse_traces_json",
    "parse_traces_protobuf",
]

# Everything ParseDict and the upb runtime raise on hostile input; turned into OtlpDecodeError.
_PARSE_ERRORS = (
    json_format.ParseError,
    DecodeError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
)
_HINT = "hint: send an OTLP ExportTraceServiceRequest (application/x-protobuf or application/json)"
_LOG_HINT = "hint: send an OTLP ExportLogsServiceRequest (application/x-protobuf or application/json)"


def any_value_to_python(value: AnyValue) -> Any:
    """AnyValue → str/int/float/bool/list/dict; bytes become base64 text, an empty value None."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value_to_python(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value_to_python(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None  # unset, or string_value_strindex (profiles dictionary, meaningless here)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    # The hot loop of the pipeline's decode: most values are non-empty strings, and reading `string_value` first
    # spares the `WhichOneof` call for them (an empty string, or any other type, takes the general path).
    out: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        text = value.string_value
        out[kv.key] = text if text else any_value_to_python(value)
    return out


def _spans_of(request: ExportTraceServiceRequest) -> list[OtlpSpan]:
    out: list[OtlpSpan] = []
    for resource_spans in request.resource_spans:
        resource_attributes = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            scope_version = scope_spans.scope.version
            for span in scope_spans.spans:
                # Positional arguments and no comprehension for the (usual) span without events: this loop runs
                # for every span the pipeline maps.
                parent = span.parent_span_id
                status = span.status
                events = span.events
                out.append(
                    OtlpSpan(
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        parent.hex() if parent else None,
                        span.name,
                        span.kind,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        status.code,
                        status.message,
                        _attributes(span.attributes),
                        [OtlpEvent(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in events]
                        if events
                        else [],
                        resource_attributes,
                        scope_name,
                        scope_version,
                    )
                )
    return out


def _logs_of(request: ExportLogsServiceRequest) -> list[OtlpLogRecord]:
    out: list[OtlpLogRecord] = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = _attributes(record.attributes)
                event_name = record.event_name or attributes.pop("event.name", None)
                if event_name is not None and not isinstance(event_name, str):
                    event_name = str(event_name)
                out.append(
                    OtlpLogRecord(
                        trace_id=record.trace_id.hex() or None,
                        span_id=record.span_id.hex() or None,
                        time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
                        event_name=event_name or None,
                        body=any_value_to_python(record.body),
                        attributes=attributes,
                    )
                )
    return out


def _parse_protobuf(message: Message, body: bytes, what: str, hint: str) -> None:
    try:
        message.ParseFromString(body)
    except _PARSE_ERRORS as exc:
        raise OtlpDecodeError(
            f"{what} protobuf body ({len(body)} bytes) does not parse (corrupt, truncated, not this message type, "
            f"or nested deeper than 100 levels): {exc}; {hint}"
        ) from None


def parse_traces_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """The parsed request (for `check`); OtlpDecodeError if it does not parse."""
    request = ExportTraceServiceRequest()
    _parse_protobuf(request, body, "OTLP trace", _HINT)
    return request


def decode_traces_protobuf(body: bytes) -> list[OtlpSpan]:
    """Spans of an `application/x-protobuf` ExportTraceServiceRequest, in request order."""
    request = parse_traces_protobuf(body)
    try:
        return _spans_of(request)
    except _PARSE_ERRORS as exc:  # pragma: no cover - upb validated the message already
        raise OtlpDecodeError(f"OTLP trace protobuf body is malformed: {exc}; {_HINT}") from None


def decode_logs_protobuf(body: bytes) -> list[OtlpLogRecord]:
    """Log records of an `application/x-protobuf` ExportLogsServiceRequest, in request order."""
    request = ExportLogsServiceRequest()
    _parse_protobuf(request, body, "OTLP logs", _LOG_HINT)
    try:
        return _logs_of(request)
    except _PARSE_ERRORS as exc:  # pragma: no cover - upb validated the message already
        raise OtlpDecodeError(f"OTLP logs protobuf body is malformed: {exc}; {_LOG_HINT}") from None


# --- OTLP/JSON -------------------------------------------------------------------------------------------------


def _hex_id_to_base64(value: Any) -> Any:
    """A hex id becomes base64 for ParseDict; anything else is left for ParseDict to judge (as base64).

    Every even-length hex string is converted, not only 32 and 16 characters: an id of the wrong length then
    keeps its length and is refused by the mapping with a clear reason, instead of being read as base64 (where
    22 hex characters would pass for a 16-byte id)."""
    if isinstance(value, str) and value and len(value) % 2 == 0:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode("ascii")
        except ValueError:
            return value
    return value


def _children(node: Any, camel: str, snake: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    items = node.get(camel, node.get(snake))
    return items if isinstance(items, list) else []


def _fix_ids(item: Any, keys: tuple[tuple[str, str], ...]) -> None:
    if not isinstance(item, dict):
        return
    for camel, snake in keys:
        for key in (camel, snake):
            if key in item:
                item[key] = _hex_id_to_base64(item[key])


_SPAN_ID_KEYS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))
_LINK_ID_KEYS = (("traceId", "trace_id"), ("spanId", "span_id"))


def _fix_trace_ids(data: dict[str, Any]) -> None:
    for resource_spans in _children(data, "resourceSpans", "resource_spans"):
        for scope_spans in _children(resource_spans, "scopeSpans", "scope_spans"):
            for span in _children(scope_spans, "spans", "spans"):
                _fix_ids(span, _SPAN_ID_KEYS)
                for link in _children(span, "links", "links"):
                    _fix_ids(link, _LINK_ID_KEYS)


def _fix_log_ids(data: dict[str, Any]) -> None:
    for resource_logs in _children(data, "resourceLogs", "resource_logs"):
        for scope_logs in _children(resource_logs, "scopeLogs", "scope_logs"):
            for record in _children(scope_logs, "logRecords", "log_records"):
                _fix_ids(record, _LINK_ID_KEYS)


def _load_json_object(body: bytes, what: str, hint: str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"{what} JSON body ({len(body)} bytes) is not valid JSON: {exc}; {hint}") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError(f"{what} JSON body must be an object, got {type(data).__name__}; {hint}")
    return data


def _json_error(what: str, exc: Exception, hint: str) -> OtlpDecodeError:
    """ParseDict's message names every enclosing field ("Failed to parse resourceSpans field: ..."): keep the end."""
    detail = str(exc)
    if "too deep" in detail:
        return OtlpDecodeError(
            f"{what} JSON body nests values deeper than protobuf's limit of 100 levels; "
            "hint: send attribute values (kvlistValue / arrayValue) nested at most about 30 levels"
        )
    detail = detail.rsplit("field: ", 1)[-1][:300]
    return OtlpDecodeError(f"{what} JSON body is not an export request: {detail}; {hint}")


def parse_traces_json(body: bytes) -> ExportTraceServiceRequest:
    """The parsed request (for `check`); OtlpDecodeError if the body is not an OTLP/JSON trace export."""
    data = _load_json_object(body, "OTLP trace", _HINT)
    request = ExportTraceServiceRequest()
    try:
        _fix_trace_ids(data)
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except _PARSE_ERRORS as exc:
        raise _json_error("OTLP trace", exc, _HINT) from None
    return request


def decode_traces_json(body: bytes) -> list[OtlpSpan]:
    """Spans of an `application/json` (OTLP/JSON) ExportTraceServiceRequest, in request order."""
    request = parse_traces_json(body)
    try:
        return _spans_of(request)
    except _PARSE_ERRORS as exc:  # pragma: no cover - ParseDict validated the message already
        raise OtlpDecodeError(f"OTLP trace JSON body is not an export request: {exc}; {_HINT}") from None


def decode_logs_json(body: bytes) -> list[OtlpLogRecord]:
    """Log records of an `application/json` (OTLP/JSON) ExportLogsServiceRequest, in request order."""
    data = _load_json_object(body, "OTLP logs", _LOG_HINT)
    try:
        _fix_log_ids(data)
        request = json_format.ParseDict(data, ExportLogsServiceRequest(), ignore_unknown_fields=True)
        return _logs_of(request)
    except _PARSE_ERRORS as exc:
        raise _json_error("OTLP logs", exc, _LOG_HINT) from None
