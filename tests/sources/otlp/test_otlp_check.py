"""The request path's cheap check: the same refusals as the mapping, without a full decode; oversized values."""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lynex_box.config import IngestSettings
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.otlp.check import check_logs, check_traces
from lynex_box.sources.otlp.decode import decode_traces_protobuf
from lynex_box.sources.otlp.mapping import SpanRejected, map_span
from lynex_box.sources.otlp.records import OtlpDecodeError, OtlpSpan

from .builders import START_NS, json_trace_body, log_request, make_span, trace_request

LIMIT = 1024 * 1024


def raw_span(request: ExportTraceServiceRequest, trace_id: bytes, span_id: bytes, parent: bytes, start: int) -> None:
    span = request.resource_spans[0].scope_spans[0].spans.add()
    span.trace_id, span.span_id, span.parent_span_id = trace_id, span_id, parent
    span.name, span.start_time_unix_nano = "s", start


def base_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add()
    return request


ids = st.sampled_from([b"", bytes(8), bytes(16), b"\x01" * 4, b"\x01" * 8, b"\x01" * 16, b"\x01" * 24])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ids, ids, ids, st.sampled_from([0, 1, START_NS])), min_size=1, max_size=8))
def test_the_check_refuses_exactly_the_spans_the_mapping_refuses(specs: list[tuple[bytes, bytes, bytes, int]]) -> None:
    request = base_request()
    for trace_id, span_id, parent, start in specs:
        raw_span(request, trace_id, span_id, parent, start)
    body = request.SerializeToString()
    refused = []
    for index, span in enumerate(decode_traces_protobuf(body)):
        try:
            map_span(span)
        except SpanRejected:
            refused.append(index)
    checked = check_traces(body, False, LIMIT)
    assert checked.total == len(specs)
    assert checked.skip == refused


def test_wrong_ids_are_named_in_the_reasons() -> None:
    request = base_request()
    raw_span(request, b"\x01" * 8, b"\x02" * 8, b"", START_NS)
    raw_span(request, b"\x01" * 16, b"\x02" * 8, b"", START_NS)
    checked = check_traces(request.SerializeToString(), False, LIMIT)
    assert (checked.total, checked.skip) == (2, [0])
    assert "the trace id is not 16 non-zero bytes" in checked.reasons and "0101010101010101" in checked.reasons


def test_json_ids_of_the_wrong_length_keep_their_length() -> None:
    spans = [make_span({}, trace_id="ab" * 15), make_span({}, trace_id="ab" * 11), make_span({}, span_id="cd" * 9)]
    checked = check_traces(json_trace_body(spans), True, LIMIT)
    assert checked.skip == [0, 1, 2]
    assert "'" + "ab" * 15 + "'" in checked.reasons  # shown as sent, not as base64 read back


@pytest.mark.parametrize(
    ("span", "needle"),
    [
        (make_span({"big": "x" * 5000, "small": "y"}), "attribute 'big' is 500"),
        (make_span({}, events=[("gen_ai.user.message", {"content": "x" * 5000})]), "of event 'gen_ai.user.message'"),
        (make_span({"deep": {"list": ["x" * 3000, "y" * 3000]}}), "attribute 'deep'"),
        (make_span({}, name="n" * 5000), "its name is 5000 bytes"),
        (make_span({}, status_message="m" * 5000), "its status message is 5000 bytes"),
    ],
)
def test_values_over_max_field_bytes_refuse_their_span(span: OtlpSpan, needle: str) -> None:
    good = make_span({"ok": "fine"}, span_id="1111111111111111")
    for as_json, body in (
        (False, trace_request([good, span]).SerializeToString()),
        (True, json_trace_body([good, span])),
    ):
        checked = check_traces(body, as_json, 4096)
        assert (checked.total, checked.skip) == (2, [1]), as_json
        assert needle in checked.reasons and "max_field_bytes (4096)" in checked.reasons
        assert "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" in checked.reasons


def test_an_oversized_resource_attribute_refuses_every_span_of_that_resource() -> None:
    spans = [make_span({}, span_id="1111111111111111"), make_span({}, span_id="2222222222222222")]
    checked = check_traces(trace_request(spans, resource={"blob": "z" * 5000}).SerializeToString(), False, 4096)
    assert checked.skip == [0, 1] and "resource attribute 'blob'" in checked.reasons


def test_a_value_at_the_limit_is_kept_and_a_small_body_is_never_size_checked() -> None:
    span = make_span({"text": "x" * 4000})
    body = trace_request([span]).SerializeToString()
    assert check_traces(body, False, 4096).skip == []
    assert check_traces(body, False, len(body)).skip == []


def test_malformed_bodies_raise_only_the_decode_error() -> None:
    bodies = ((b"\xff\xff\xff", False), (b"not json", True), (b"[1, 2]", True), (b'{"resourceSpans": 3}', True))
    for body, as_json in bodies:
        with pytest.raises(OtlpDecodeError):
            check_traces(body, as_json, LIMIT)


def dumps_deep(body: Any) -> bytes:
    """JSON of a deeply nested value (orjson refuses to write past 255 levels; the stdlib does, given the stack)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        return json.dumps(body).encode()
    finally:
        sys.setrecursionlimit(limit)


def nested_json_body(levels: int) -> bytes:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(levels):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    body = orjson.loads(json_trace_body([make_span({})]))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [{"key": "deep", "value": value}]
    return dumps_deep(body)


def test_json_nested_past_the_protobuf_limit_is_a_clear_decode_error() -> None:
    with pytest.raises(OtlpDecodeError, match="deeper than protobuf's limit of 100 levels"):
        check_traces(nested_json_body(200), True, LIMIT)
    assert check_traces(nested_json_body(25), True, LIMIT).skip == []


FAR_NS = 7_258_032_000_000_000_000  # 2199-12-31


def test_spans_with_times_outside_the_window_are_refused_and_named() -> None:
    window = TimeWindow.at(IngestSettings(), START_NS // 1000 + 3_600_000_000)  # the clock an hour after START_NS
    spans = [
        make_span({}, span_id="01" * 8),
        make_span({}, span_id="02" * 8, start=FAR_NS, end=FAR_NS + 1),
        make_span({}, span_id="03" * 8, start=86_400 * 10**9, end=86_400 * 10**9 + 1),  # 1970-01-02
        make_span({}, span_id="04" * 8, end=FAR_NS),
        make_span({}, span_id="05" * 8, end=0),  # an unset end is the mapping's business
    ]
    for as_json, body in ((False, trace_request(spans).SerializeToString()), (True, json_trace_body(spans))):
        checked = check_traces(body, as_json, LIMIT, window)
        assert (checked.total, checked.skip) == (5, [1, 2, 3])
        assert "span '0202020202020202' of trace" in checked.reasons and "start time 2199-12-31" in checked.reasons
        assert "before 2000-01-01T00:00:00Z" in checked.reasons and "end time 2199-12-31" in checked.reasons
        assert check_traces(body, as_json, LIMIT).skip == []  # no window: as before


def test_log_records_with_times_outside_the_window_are_refused() -> None:
    window = TimeWindow.at(IngestSettings(), START_NS // 1000)
    records = [{"event_name": "gen_ai.user.message"}, {"time": FAR_NS}, {"time": 0}, {"time": 5 * 10**9}]
    checked = check_logs(log_request(records).SerializeToString(), False, window)
    assert (checked.total, checked.skip) == (4, [1, 3])
    assert "log record 1: time 2199-12-31" in checked.reasons and "log record 3: time 1970" in checked.reasons
