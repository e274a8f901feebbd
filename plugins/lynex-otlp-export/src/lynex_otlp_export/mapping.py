"""Stored span rows back to OTLP: the inverse of lynex_box/sources/otlp's mapping, as far as the columns allow.

Each row becomes one `opentelemetry.proto.trace.v1.Span` with the OTel GenAI attributes a receiver maps (model,
provider, token counts, costs, the input and output messages in the `gen_ai.*.messages` parts shape), plus the
row's leftover `attributes`; its resource is keyed by (service.name, environment, release), so spans of one
service travel in one `ResourceSpans`. Ids that are not OTLP hex (a native event may use any text) are hashed to
the right length and kept as `lynex.trace_id` / `lynex.span_id`. Pure code: no I/O, never raises for a row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SCOPE = InstrumentationScope(name="lynex-otlp-export", version="0.1.0")
ResourceKey = tuple[str, str | None, str | None]  # (service.name, deployment.environment.name, service.version)

_OPENINFERENCE_KINDS = frozenset({"llm", "chain", "tool", "retriever", "embedding", "agent", "reranker",
                                  "guardrail", "evaluator"})  # fmt: skip
_CLIENT_KINDS = frozenset({"llm", "chat", "embedding"})
_STATUS = {"ok": Status.STATUS_CODE_OK, "error": Status.STATUS_CODE_ERROR}
# column -> attribute, for the plain columns (None values are left out)
_ATTRIBUTES = (
    ("provider", "gen_ai.provider.name"),
    ("model", "gen_ai.request.model"),
    ("response_model", "gen_ai.response.model"),
    ("input_tokens", "gen_ai.usage.input_tokens"),
    ("output_tokens", "gen_ai.usage.output_tokens"),
    ("cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("total_tokens", "gen_ai.usage.total_tokens"),
    ("input_cost", "llm.cost.prompt"),
    ("output_cost", "llm.cost.completion"),
    ("total_cost", "gen_ai.usage.cost"),
    ("session_id", "session.id"),
    ("user_id", "user.id"),
    ("prompt_name", "langfuse.observation.prompt.name"),
    ("prompt_version", "langfuse.observation.prompt.version"),
)


def any_value(value: Any) -> AnyValue:
    """A JSON value as an OTLP AnyValue (objects as JSON text: attributes hold no maps in most receivers)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=orjson.dumps(value).decode())


def otlp_id(text: str, size: int) -> tuple[bytes, bool]:
    """(the id's bytes, whether it was hashed): hex of the right length as it is, anything else hashed."""
    if len(text) == size * 2:
        try:
            raw = bytes.fromhex(text)
            if any(raw):
                return raw, False
        except ValueError:
            pass
    return hashlib.sha256(text.encode()).digest()[:size], True


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def otel_messages(messages: list[Any], finish_reason: Any = None) -> list[dict[str, Any]]:
    """Stored messages (docs/messages.md) in the OTel GenAI parts shape of `gen_ai.input/output.messages`."""
    out = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        role, parts = m.get("role") or "user", []
        if m.get("reasoning"):
            parts.append({"type": "reasoning", "content": m["reasoning"]})
        if role == "tool":
            parts.append({"type": "tool_call_response", "id": m.get("tool_call_id"), "response": m.get("content")})
        elif m.get("content") is not None:
            parts.append({"type": "text", "content": m["content"]})
        for call in m.get("tool_calls") or []:
            args = call.get("arguments")
            parsed = _loads(args) if isinstance(args, str) else args
            parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                          "arguments": parsed if parsed is not None else args})  # fmt: skip
        message: dict[str, Any] = {"role": role, "parts": parts}
        if m.get("name"):
            message["name"] = m["name"]
        if finish_reason is not None:
            message["finish_reason"] = finish_reason
        out.append(message)
    return out


def _content(attrs: dict[str, Any], text: str | None, side: str) -> None:
    """`gen_ai.<side>.messages` when the stored text is messages, else `<side>.value` with the text as it is."""
    if text is None:
        return
    doc = _loads(text)
    if isinstance(doc, dict) and isinstance(doc.get("messages"), list):
        finish = doc.get("finish_reason") if side == "output" else None
        attrs[f"gen_ai.{side}.messages"] = orjson.dumps(otel_messages(doc["messages"], finish)).decode()
    else:
        attrs[f"{side}.value"] = text


def span_of(row: dict[str, Any], default_service: str) -> tuple[ResourceKey, Span]:
    """One stored row (timestamps as epoch microseconds) as its resource key and OTLP span."""
    attrs: dict[str, Any] = {}
    extra = _loads(row.get("attributes"))
    if isinstance(extra, dict):
        attrs.update(extra)
    service = attrs.pop("service.name", None)
    kind = row.get("kind") or "span"
    if kind in _OPENINFERENCE_KINDS:
        attrs["openinference.span.kind"] = kind.upper()
    elif kind == "chat":
        attrs["gen_ai.operation.name"] = "chat"
    for column, attribute in _ATTRIBUTES:
        if row.get(column) is not None:
            attrs[attribute] = row[column]
    _content(attrs, row.get("input"), "input")
    _content(attrs, row.get("output"), "output")
    if row.get("tags"):
        attrs["lynex.tags"] = list(row["tags"])
    trace_id, hashed_trace = otlp_id(row["trace_id"], 16)
    span_id, hashed_span = otlp_id(row["span_id"], 8)
    if hashed_trace:
        attrs["lynex.trace_id"] = row["trace_id"]
    if hashed_span:
        attrs["lynex.span_id"] = row["span_id"]
    parent = otlp_id(row["parent_span_id"], 8)[0] if row.get("parent_span_id") else b""
    start_ns = int(row["start_time"]) * 1000
    end_ns = int(row["end_time"]) * 1000 if row.get("end_time") is not None else start_ns
    span = Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=row.get("name") or kind,
        kind=Span.SPAN_KIND_CLIENT if kind in _CLIENT_KINDS else Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns, end_time_unix_nano=end_ns,
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items() if v is not None],
        status=Status(code=_STATUS.get(row.get("status") or "", Status.STATUS_CODE_UNSET),
                      message=row.get("status_message") or ""),
    )  # fmt: skip
    key: ResourceKey = (str(service or default_service), row.get("environment"), row.get("release"))
    return key, span


def export_request(items: Iterable[tuple[ResourceKey, Span]], resource: dict[str, Any]) -> ExportTraceServiceRequest:
    """Spans grouped by resource; `resource`: attributes every resource carries (the operator's)."""
    groups: dict[ResourceKey, list[Span]] = {}
    for key, span in items:
        groups.setdefault(key, []).append(span)
    out = []
    for (service, environment, release), spans in groups.items():
        attrs = {**resource, "service.name": service}
        if environment is not None:
            attrs["deployment.environment.name"] = environment
        if release is not None:
            attrs["service.version"] = release
        res = Resource(attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()])
        out.append(ResourceSpans(resource=res, scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)]))
    return ExportTraceServiceRequest(resource_spans=out)
