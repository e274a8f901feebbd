"""Malformed OTLP requests against the real server: each gets a clear 4xx (or `partial_success` for the spans that
cannot be stored), and the server keeps serving: a valid request right after is stored."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.e2e.server import RunningServer
from tests.e2e.test_otlp import wait_trace
from tests.sources.otlp.builders import json_trace_body, make_span, trace_request
from tests.sources.otlp.test_otlp_check import dumps_deep, nested_json_body

MAX_FIELD_BYTES = 4096
PROTOBUF = "application/x-protobuf"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("malformed") / "data"
    srv = RunningServer(data, env={"LYNEX_INGEST_MAX_FIELD_BYTES": str(MAX_FIELD_BYTES)}).start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def post(server: RunningServer, body: bytes, content_type: str = PROTOBUF, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/traces", content=body, headers={**server.headers(), "Content-Type": content_type, **headers}
    )


def fresh_trace() -> str:
    return f"{next(_serial):032x}"


def assert_still_serving(server: RunningServer) -> None:
    """A valid request right after is accepted in full and its span becomes visible."""
    trace_id = fresh_trace()
    r = post(
        server, trace_request([make_span({"gen_ai.request.model": "gpt-4o"}, trace_id=trace_id)]).SerializeToString()
    )
    assert r.status_code == 200
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    [span] = wait_trace(server, trace_id)["spans"]
    assert span["model"] == "gpt-4o"


def status_of(r: httpx.Response) -> Status:
    assert r.headers["content-type"] == PROTOBUF
    return Status.FromString(r.content)


def valid_body() -> bytes:
    return trace_request([make_span({}, trace_id=fresh_trace())]).SerializeToString()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xff\xff\xff garbage", id="garbage"),
        pytest.param(valid_body()[:-7], id="truncated"),
        pytest.param(b"\x0a\x05\x12\x03\x12\x01", id="length-past-the-end"),
        pytest.param(b"\x08\xff\xff\xff", id="unterminated-varint"),
        pytest.param(b'{"resourceSpans": []}', id="json-sent-as-protobuf"),
    ],
)
def test_malformed_protobuf_is_a_400_with_a_status_body(server: RunningServer, body: bytes) -> None:
    r = post(server, body)
    assert r.status_code == 400
    status = status_of(r)
    assert status.code == 3  # INVALID_ARGUMENT
    assert "does not parse" in status.message and "ExportTraceServiceRequest" in status.message
    assert_still_serving(server)


def test_a_body_that_is_not_what_its_content_encoding_says_is_a_400(server: RunningServer) -> None:
    r = post(server, valid_body(), **{"Content-Encoding": "gzip"})
    assert r.status_code == 400 and status_of(r).message
    r = post(server, gzip.compress(valid_body()), **{"Content-Encoding": "br"})
    assert r.status_code in (400, 415)
    assert_still_serving(server)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_a_wrong_content_type_is_a_415(server: RunningServer, content_type: str) -> None:
    r = post(server, valid_body(), content_type)
    assert r.status_code == 415
    assert content_type.split(";")[0] in status_of(r).message
    assert_still_serving(server)


def test_protobuf_sent_as_json_is_a_400_in_json(server: RunningServer) -> None:
    r = post(server, valid_body(), "application/json")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert "not valid JSON" in r.json()["message"]
    r = post(server, b'{"resourceSpans": [{"scopeSpans": 7}]}', "application/json")
    assert r.status_code == 400 and "not an export request" in r.json()["message"]
    assert_still_serving(server)


def test_ids_of_the_wrong_length_are_refused_per_span(server: RunningServer) -> None:
    trace_id = fresh_trace()
    bad = [
        make_span({}, trace_id="ab" * 8, span_id="1000000000000001"),  # 8-byte trace id
        make_span({}, trace_id=trace_id, span_id="abcd1234"),  # 4-byte span id
        make_span({}, trace_id=trace_id, span_id="ab" * 16),  # 16-byte span id
        make_span({}, trace_id="00" * 16, span_id="1000000000000002"),  # all-zero trace id
        make_span({}, trace_id=trace_id, span_id="1000000000000003", parent="abcd"),  # 2-byte parent
        make_span({}, trace_id=trace_id, span_id="1000000000000004", start=0),  # no start time
    ]
    good = make_span({"gen_ai.request.model": "gpt-4o-mini"}, trace_id=trace_id, span_id="2000000000000001")
    r = post(server, trace_request([*bad, good]).SerializeToString())
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == len(bad)
    assert "the trace id is not 16 non-zero bytes" in partial.error_message
    assert "the span id is not 8 non-zero bytes" in partial.error_message
    json_trace = fresh_trace()
    json_bad = [make_span({}, trace_id="ab" * 15), make_span({}, trace_id=json_trace, span_id="cd" * 9)]
    json_good = make_span({}, trace_id=json_trace, span_id="3000000000000001")
    r = post(server, json_trace_body([*json_bad, json_good]), "application/json")
    assert r.status_code == 200 and r.json()["partialSuccess"]["rejectedSpans"] == "2"
    assert [s["span_id"] for s in wait_trace(server, trace_id)["spans"]] == ["2000000000000001"]
    assert [s["span_id"] for s in wait_trace(server, json_trace)["spans"]] == ["3000000000000001"]
    assert_still_serving(server)


def test_a_value_over_max_field_bytes_rejects_its_span_with_a_reason(server: RunningServer) -> None:
    trace_id = fresh_trace()
    spans = [
        make_span({"gen_ai.input.messages": "x" * (MAX_FIELD_BYTES + 1)}, trace_id=trace_id,
                  span_id="4000000000000001"),
        make_span({}, trace_id=trace_id, span_id="4000000000000002", events=[("big", {"blob": "y" * 10_000})]),
        make_span({"gen_ai.request.model": "gpt-4o", "note": "z" * (MAX_FIELD_BYTES - 100)}, trace_id=trace_id,
                  span_id="4000000000000003"),
    ]  # fmt: skip
    for as_json, body in ((False, trace_request(spans).SerializeToString()), (True, json_trace_body(spans))):
        r = post(server, body, "application/json" if as_json else PROTOBUF)
        assert r.status_code == 200
        if as_json:
            partial = r.json()["partialSuccess"]
            rejected, message = int(partial["rejectedSpans"]), partial["errorMessage"]
        else:
            found = ExportTraceServiceResponse.FromString(r.content).partial_success
            rejected, message = found.rejected_spans, found.error_message
        assert rejected == 2
        assert "attribute 'gen_ai.input.messages' is 4" in message and "attribute 'blob' of event 'big'" in message
        assert f"over max_field_bytes ({MAX_FIELD_BYTES})" in message
    [kept] = wait_trace(server, trace_id)["spans"]
    assert kept["span_id"] == "4000000000000003" and kept["model"] == "gpt-4o"
    assert len(kept["attributes"]["note"]) == MAX_FIELD_BYTES - 100  # under the limit: stored whole
    assert_still_serving(server)


def test_a_request_none_of_whose_spans_can_be_stored_is_a_400_with_the_reasons(server: RunningServer) -> None:
    trace_id = fresh_trace()
    short_ids = [make_span({}, trace_id="ab" * 8, span_id="6000000000000001"), make_span({}, span_id="abcd1234")]
    r = post(server, trace_request(short_ids).SerializeToString())
    assert r.status_code == 400
    message = status_of(r).message
    assert "none of the 2 spans can be stored" in message and "the trace id is not 16 non-zero bytes" in message
    assert "the span id is not 8 non-zero bytes" in message
    big = make_span({"gen_ai.input.messages": "x" * (MAX_FIELD_BYTES + 1)}, trace_id=trace_id)
    r = post(server, json_trace_body([big]), "application/json")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert "none of the 1 spans can be stored" in r.json()["message"]
    assert "attribute 'gen_ai.input.messages' is 4" in r.json()["message"]
    assert_still_serving(server)
    got = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}", headers=server.headers())
    assert got.status_code == 404  # nothing of it was stored


def test_deeply_nested_values_are_a_clear_400(server: RunningServer) -> None:
    r = post(server, nested_json_body(200), "application/json")
    assert r.status_code == 400
    assert "deeper than protobuf's limit of 100 levels" in r.json()["message"]
    r = post(server, nested_protobuf_body(200))
    assert r.status_code == 400 and "nested deeper than 100 levels" in status_of(r).message
    assert_still_serving(server)
    trace_id = "5" * 32  # nesting within the limit is stored as sent
    body = orjson.loads(nested_json_body(25))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = trace_id
    assert post(server, dumps_deep(body), "application/json").status_code == 200
    [span] = wait_trace(server, trace_id)["spans"]
    value = span["attributes"]["deep"]
    for _ in range(25):
        value = value["k"]
    assert value == "leaf"


def test_an_oversized_body_is_a_413_and_an_empty_one_a_200(server: RunningServer) -> None:
    assert post(server, b"").status_code == 200
    huge = gzip.compress(b"\x00" * (21 * 1024 * 1024))  # inflates past ingest.max_body_bytes (20 MiB)
    r = post(server, huge, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert_still_serving(server)


def nested_protobuf_body(levels: int) -> bytes:
    """A span whose attribute value nests `levels` kvlists, hand-encoded (the protobuf runtime will not build it)."""

    def field(number: int, payload: bytes) -> bytes:
        size, length = len(payload), bytearray()
        while True:
            length.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
            size >>= 7
            if not size:
                break
        return bytes([(number << 3) | 2]) + bytes(length) + payload

    value = field(1, b"leaf")  # AnyValue.string_value
    for _ in range(levels):
        value = field(6, field(1, field(1, b"k") + field(2, value)))  # AnyValue.kvlist_value{values: [KeyValue]}
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="n", start_time_unix_nano=10**18)
    attribute = field(9, field(1, b"deep") + field(2, value))  # Span.attributes
    return field(1, field(2, field(2, span.SerializeToString() + attribute)))  # request.resource_spans.scope_spans


def test_the_server_is_still_up_and_ready_after_all_of_the_above(server: RunningServer) -> None:
    assert server.proc is not None and server.proc.poll() is None
    assert httpx.get(f"{server.url}/readyz").status_code == 200
