"""Decoding OTLP/HTTP trace and log bodies, protobuf and JSON, built with the real OpenTelemetry protobuf classes."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lynex_box.sources.otlp.decode import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
)
from lynex_box.sources.otlp.mapping import map_span, map_spans
from lynex_box.sources.otlp.records import OtlpDecodeError, OtlpSpan

from .builders import (
    END_NS,
    PARENT_ID,
    SPAN_ID,
    START_NS,
    TRACE_ID,
    js,
    json_trace_body,
    loads,
    log_request,
    make_span,
    trace_request,
)

ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 80,
    "gen_ai.request.temperature": 0.25,
    "gen_ai.request.stream": False,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.input.messages": js([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
    "custom.kv": {"a": 1, "b": [True, 2.5, "x"]},
}


def _spans() -> list[OtlpSpan]:
    root = make_span({"traceloop.span.kind": "workflow"}, name="root", parent=None, span_id="1111111111111111")
    child = make_span(
        ATTRIBUTES,
        name="chat gpt-4o",
        events=[("exception", {"exception.type": "ValueError", "exception.message": "bad"})],
        status_code=2,
        status_message="failed",
        scope=("opentelemetry.instrumentation.openai_v2", "2.1b0"),
    )
    return [root, child]


def test_protobuf_round_trip_preserves_every_field() -> None:
    body = trace_request(_spans(), resource={"service.name": "shop", "service.version": "1.4.0"}).SerializeToString()
    root, child = decode_traces_protobuf(body)
    assert root.parent_span_id is None and root.name == "root" and root.span_id == "1111111111111111"
    assert child.trace_id == TRACE_ID and child.span_id == SPAN_ID and child.parent_span_id == PARENT_ID
    assert (child.start_time_unix_nano, child.end_time_unix_nano) == (START_NS, END_NS)
    assert (child.kind, child.status_code, child.status_message) == (3, 2, "failed")
    assert child.attributes == ATTRIBUTES
    assert child.resource_attributes == {"service.name": "shop", "service.version": "1.4.0"}
    assert (child.scope_name, child.scope_version) == ("opentelemetry.instrumentation.openai_v2", "2.1b0")
    assert [(e.name, e.attributes["exception.type"]) for e in child.events] == [("exception", "ValueError")]


def test_protobuf_decode_then_map_gives_the_row() -> None:
    body = trace_request(_spans(), resource={"deployment.environment.name": "prod"}).SerializeToString()
    row = map_span(decode_traces_protobuf(body)[1])
    assert row["event_id"] == f"{TRACE_ID}:{SPAN_ID}"
    assert (row["kind"], row["provider"], row["model"], row["input_tokens"]) == ("chat", "openai", "gpt-4o", 1200)
    assert (row["status"], row["status_message"], row["environment"]) == ("error", "failed", "prod")
    assert loads(row["input"]) == {"messages": [{"role": "user", "content": "Hi"}]}


def test_bytes_attribute_becomes_base64_text() -> None:
    body = trace_request([make_span({"blob": b"\x00\xffhello"})]).SerializeToString()
    (span,) = decode_traces_protobuf(body)
    assert span.attributes["blob"] == base64.b64encode(b"\x00\xffhello").decode()


def test_empty_request_decodes_to_no_spans() -> None:
    assert decode_traces_protobuf(b"") == []
    assert decode_traces_json(b"{}") == []


@pytest.mark.parametrize("int_as_string", [True, False])
def test_json_round_trip_matches_protobuf(int_as_string: bool) -> None:
    spans = _spans()
    from_json = decode_traces_json(json_trace_body(spans, {"service.name": "shop"}, int_as_string=int_as_string))
    from_proto = decode_traces_protobuf(trace_request(spans, {"service.name": "shop"}).SerializeToString())
    for left, right in zip(from_json, from_proto, strict=True):
        assert (left.trace_id, left.span_id, left.parent_span_id) == (
            right.trace_id,
            right.span_id,
            right.parent_span_id,
        )
        assert left.attributes == right.attributes
        assert (left.start_time_unix_nano, left.end_time_unix_nano) == (START_NS, END_NS)
        assert [e.attributes for e in left.events] == [e.attributes for e in right.events]
        assert left.resource_attributes == right.resource_attributes


def test_json_hex_ids_are_not_read_as_base64() -> None:
    """ParseDict alone would read the 32 hex chars as base64 and yield a 24-byte trace id."""
    body = json_trace_body([make_span({})])
    naive = json_format.ParseDict(orjson.loads(body), ExportTraceServiceRequest(), ignore_unknown_fields=True)
    assert len(naive.resource_spans[0].scope_spans[0].spans[0].trace_id) == 24  # the quirk is real
    (span,) = decode_traces_json(body)
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, PARENT_ID)


def test_json_base64_ids_are_still_accepted() -> None:
    data = orjson.loads(json_trace_body([make_span({})]))
    span_json = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span_json["traceId"] = base64.b64encode(bytes.fromhex(TRACE_ID)).decode()  # 24 chars
    span_json["spanId"] = base64.b64encode(bytes.fromhex(SPAN_ID)).decode()  # 12 chars
    (span,) = decode_traces_json(orjson.dumps(data))
    assert (span.trace_id, span.span_id) == (TRACE_ID, SPAN_ID)


def test_json_empty_parent_is_a_root_and_unknown_fields_are_ignored() -> None:
    data = orjson.loads(json_trace_body([make_span({}, parent=None)]))
    data["someFutureField"] = {"x": 1}
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["futureSpanField"] = 7
    (span,) = decode_traces_json(orjson.dumps(data))
    assert span.parent_span_id is None


def test_json_snake_case_keys_are_accepted() -> None:
    body = orjson.dumps(
        {"resource_spans": [{"scope_spans": [{"spans": [{"trace_id": TRACE_ID, "span_id": SPAN_ID, "name": "s"}]}]}]}
    )
    (span,) = decode_traces_json(body)
    assert (span.trace_id, span.span_id, span.name) == (TRACE_ID, SPAN_ID, "s")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"text"',
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "k", "value": 3}]}]}]}]}',
        b"\xff\xfe\x00",
    ],
)
def test_garbage_json_raises_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="hint"):
        decode_traces_json(body)


@pytest.mark.parametrize(
    "span_json",
    [
        {"traceId": "zz-not-hex-or-base64!", "spanId": SPAN_ID, "startTimeUnixNano": "1"},
        {"traceId": TRACE_ID, "spanId": SPAN_ID, "kind": "SPAN_KIND_BOGUS"},
        {"traceId": TRACE_ID[:30], "spanId": SPAN_ID, "startTimeUnixNano": "1"},
    ],
)
def test_structurally_valid_but_bad_spans_are_left_to_the_mapping(span_json: dict[str, Any]) -> None:
    """Lenient ParseDict (unknown enum names, loose base64) yields a span whose ids or times the mapping rejects."""
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span_json]}]}]})
    batch = map_spans(decode_traces_json(body))
    assert (batch.rows, batch.rejected) == ([], 1)


@pytest.mark.parametrize("body", [b"\x0a\x05abc", b"\xff\xff\xff\xff", b"\x0a\x02\x12\x80"])
def test_garbage_protobuf_raises_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="does not parse"):
        decode_traces_protobuf(body)


def test_logs_protobuf_take_event_name_from_field_or_attribute() -> None:
    body = log_request(
        [
            {"event_name": "gen_ai.user.message", "body": {"content": "Hi"}, "time": 5},
            {"attributes": {"event.name": "gen_ai.choice", "gen_ai.system": "openai"}, "body": {"index": 0}},
            {"body": "plain log line"},
        ]
    ).SerializeToString()
    user, choice, plain = decode_logs_protobuf(body)
    assert (user.event_name, user.body, user.time_unix_nano) == ("gen_ai.user.message", {"content": "Hi"}, 5)
    assert (user.trace_id, user.span_id) == (TRACE_ID, SPAN_ID)
    assert choice.event_name == "gen_ai.choice" and choice.attributes == {"gen_ai.system": "openai"}
    assert plain.event_name is None and plain.body == "plain log line"


def test_logs_json_hex_ids_and_missing_ids() -> None:
    body = orjson.dumps(
        {
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": "1700000000000000000",
                                    "traceId": TRACE_ID,
                                    "spanId": SPAN_ID,
                                    "eventName": "gen_ai.system.message",
                                    "body": {
                                        "kvlistValue": {
                                            "values": [{"key": "content", "value": {"stringValue": "Be nice"}}]
                                        }
                                    },
                                },
                                {"observedTimeUnixNano": 9, "body": {"stringValue": "no ids"}},
                            ]
                        }
                    ]
                }
            ]
        }
    )
    first, second = decode_logs_json(body)
    assert (first.trace_id, first.span_id, first.event_name) == (TRACE_ID, SPAN_ID, "gen_ai.system.message")
    assert first.body == {"content": "Be nice"} and first.time_unix_nano == 1_700_000_000_000_000_000
    assert (second.trace_id, second.span_id, second.time_unix_nano) == (None, None, 9)


def test_garbage_logs_raise_decode_error() -> None:
    with pytest.raises(OtlpDecodeError):
        decode_logs_json(b"{")
    with pytest.raises(OtlpDecodeError):
        decode_logs_protobuf(b"\xff\xff\xff")


def test_absurdly_nested_json_attribute_is_a_decode_error() -> None:
    value: dict[str, Any] = {"stringValue": "x"}
    for _ in range(60):
        value = {"arrayValue": {"values": [value]}}
    span_json = {"traceId": TRACE_ID, "spanId": SPAN_ID, "attributes": [{"key": "deep", "value": value}]}
    with pytest.raises(OtlpDecodeError):
        decode_traces_json(orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span_json]}]}]}))
