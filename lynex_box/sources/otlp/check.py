"""The request path's check of an OTLP trace export: how many spans, and which ones cannot be stored, cheaply.

The body is parsed by the protobuf runtime (C), and only each span's ids, start time and encoded size are read:
attribute values are never converted to Python, so a span costs about a microsecond here instead of the twenty
of a full decode (which the pipeline does after the acknowledgement). A span is refused for:

- the reasons `mapping.reject_reason` gives (ids of the wrong length or all zeros, no start time), by the same
  rules, so the `partial_success` count matches what the pipeline maps;
- a value larger than `ingest.max_field_bytes`: an attribute value (of the span, one of its events, or its
  resource), its name or its status message. Such a span is rejected, not truncated, as native ingest rejects an
  event with an oversized field; senders that prefer truncation set the SDK's attribute length limit
  (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`). The pipeline does not repeat this rule: the refused indexes travel in
  the WAL record's header;
- a start time outside the request's `TimeWindow` (`[ingest] min_time`, `max_future_s`), or an end time after
  it (0, unset, is left to the mapping). Two integer comparisons a span, on fields the id check reads anyway.

Log records (`check_logs`) are decoded whole on the request path already; one whose time is outside the window
is refused the same way. It must never raise anything but `OtlpDecodeError`, and never do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.otlp.decode import (
    decode_logs_json,
    decode_logs_protobuf,
    parse_traces_json,
    parse_traces_protobuf,
)
from lynex_box.sources.otlp.mapping import reject_reason
from lynex_box.sources.otlp.records import OtlpSpan

__all__ = ["TraceCheck", "check_logs", "check_traces"]

_MAX_REASONS = 3  # quoted in one partial_success message
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_SIZE_HINT = "hint: raise [ingest] max_field_bytes, or truncate on the sender (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)"
_NO_LIMIT = 1 << 64  # above every uint64 time: no window


@dataclass(frozen=True, slots=True)
class TraceCheck:
    """The span count, the indexes (in request order) of spans to refuse, and the first reasons."""

    total: int
    skip: list[int]
    reasons: str


def _quick_reason(span: Span, lo_ns: int, hi_ns: int, window: TimeWindow | None) -> str | None:
    """Why this span's ids or times are refused, or None. One look at the fields, in C, for a span that is fine:
    the reasons are worked out only when something is wrong. `lo_ns` > 0: a start of 0 is refused either way."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    start = span.start_time_unix_nano
    if (
        len(trace_id) == 16
        and len(span_id) == 8
        and trace_id != _ZERO_TRACE
        and span_id != _ZERO_SPAN
        and lo_ns <= start <= hi_ns
        and span.end_time_unix_nano <= hi_ns
        and len(parent) in (0, 8)
    ):
        return None
    bare = OtlpSpan(
        trace_id.hex(), span_id.hex(), parent.hex() if parent else None, "", 0, start, 0, 0, "", {}, [], {}, "", "",
    )  # fmt: skip
    reason = reject_reason(bare)  # `mapping`'s rules (ids, a start of 0) come first
    if reason is None and window is not None:
        reason = _time_reason(span, window)
    return reason


def _oversized(pairs: Iterable[KeyValue], limit: int) -> tuple[str, int] | None:
    for kv in pairs:
        size = kv.value.ByteSize()  # the encoded value: its text plus a few bytes of framing
        if size > limit:
            return kv.key, size
    return None


def _size_reason(span: Span, limit: int, resource_problem: str | None) -> str | None:
    """Why this span is too large to store, or None; called only for spans larger than `limit` in all."""
    where = f"span {span.span_id.hex()!r} of trace {span.trace_id.hex()!r}"
    if resource_problem is not None:
        return f"{where}: {resource_problem}; {_SIZE_HINT}"
    found = _oversized(span.attributes, limit)
    if found is not None:
        return f"{where}: attribute {found[0]!r} is {found[1]} bytes, over max_field_bytes ({limit}); {_SIZE_HINT}"
    for event in span.events:
        found = _oversized(event.attributes, limit)
        if found is not None:
            return (
                f"{where}: attribute {found[0]!r} of event {event.name!r} is {found[1]} bytes, "
                f"over max_field_bytes ({limit}); {_SIZE_HINT}"
            )
    for field, text in (("name", span.name), ("status message", span.status.message)):
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limit:
            return f"{where}: its {field} is {size} bytes, over max_field_bytes ({limit}); {_SIZE_HINT}"
    return None


def _time_reason(span: Span, window: TimeWindow) -> str:
    """Why this span's times do not fit the window (called only when they do not)."""
    where = f"span {span.span_id.hex()!r} of trace {span.trace_id.hex()!r}"
    start = window.problem(span.start_time_unix_nano // 1000)
    if start is not None:
        return f"{where}: start time {start}"
    return f"{where}: end time {window.problem(span.end_time_unix_nano // 1000)}"


def check_request(
    request: ExportTraceServiceRequest, max_field_bytes: int, sizes: bool = True, window: TimeWindow | None = None
) -> TraceCheck:
    """Check a parsed request; `sizes` False skips the size rule (no value can exceed it: the body is smaller).
    With a `window`, span times must lie in it (the request path always passes one)."""
    skip: list[int] = []
    reasons: list[str] = []
    index = 0
    lo_ns, hi_ns = (max(1, window.lo_us * 1000), window.hi_us * 1000 + 999) if window is not None else (1, _NO_LIMIT)
    for resource_spans in request.resource_spans:
        resource_problem = None
        if sizes and resource_spans.resource.ByteSize() > max_field_bytes:
            found = _oversized(resource_spans.resource.attributes, max_field_bytes)
            if found is not None:
                resource_problem = f"resource attribute {found[0]!r} is {found[1]} bytes, over max_field_bytes"
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                reason = _quick_reason(span, lo_ns, hi_ns, window)
                if reason is None and sizes and (resource_problem or span.ByteSize() > max_field_bytes):
                    reason = _size_reason(span, max_field_bytes, resource_problem)
                if reason is not None:
                    skip.append(index)
                    if len(reasons) < _MAX_REASONS:
                        reasons.append(reason)
                index += 1
    more = "; ..." if len(skip) > len(reasons) else ""
    return TraceCheck(index, skip, "; ".join(reasons) + more)


def check_traces(body: bytes, as_json: bool, max_field_bytes: int, window: TimeWindow | None = None) -> TraceCheck:
    """Parse and check an export body (protobuf, or OTLP/JSON when `as_json`); OtlpDecodeError if malformed."""
    request = parse_traces_json(body) if as_json else parse_traces_protobuf(body)
    # A value is never larger than the body that carries it (JSON spells every value at least as long as its
    # protobuf encoding), so a body within the limit needs no size checks at all: the common case.
    return check_request(request, max_field_bytes, sizes=len(body) > max_field_bytes, window=window)


def check_logs(body: bytes, as_json: bool, window: TimeWindow) -> TraceCheck:
    """The log record count and the records whose time (else observed time; 0: unset) is outside `window`."""
    records = decode_logs_json(body) if as_json else decode_logs_protobuf(body)
    skip: list[int] = []
    reasons: list[str] = []
    for index, record in enumerate(records):
        problem = window.problem(record.time_unix_nano // 1000) if record.time_unix_nano else None
        if problem is not None:
            skip.append(index)
            if len(reasons) < _MAX_REASONS:
                reasons.append(f"log record {index}: time {problem}")
    more = "; ..." if len(skip) > len(reasons) else ""
    return TraceCheck(len(records), skip, "; ".join(reasons) + more)
