"""Answer bodies: ExportTraceServiceResponse partial_success (protobuf and hand-written JSON), google.rpc.Status."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from lynex_box.sources.otlp.response import (
    encode_error_status,
    encode_logs_response,
    encode_metrics_response,
    encode_trace_response,
)


def test_full_success_is_the_empty_response() -> None:
    assert encode_trace_response(0, "", json=False) == b""
    assert encode_trace_response(0, "", json=True) == b"{}"
    assert not ExportTraceServiceResponse.FromString(b"").HasField("partial_success")


def test_partial_success_protobuf_parses_back() -> None:
    body = encode_trace_response(3, "3 spans had no trace id", json=False)
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == "3 spans had no trace id"


def test_partial_success_json_uses_lower_camel_case_and_parses_with_protobuf() -> None:
    body = encode_trace_response(2, 'bad "ids"', json=True)
    assert orjson.loads(body) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": 'bad "ids"'}}
    response = json_format.Parse(body, ExportTraceServiceResponse())
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (2, 'bad "ids"')


def test_warning_without_rejection_is_still_reported() -> None:
    response = ExportTraceServiceResponse.FromString(encode_trace_response(0, "slow down", json=False))
    assert response.HasField("partial_success") and response.partial_success.error_message == "slow down"
    assert orjson.loads(encode_trace_response(0, "slow down", json=True)) == {
        "partialSuccess": {"errorMessage": "slow down"}
    }


def test_logs_and_metrics_responses_name_their_own_counter() -> None:
    assert (
        ExportLogsServiceResponse.FromString(
            encode_logs_response(4, "x", json=False)
        ).partial_success.rejected_log_records
        == 4
    )
    assert orjson.loads(encode_logs_response(4, "x", json=True))["partialSuccess"]["rejectedLogRecords"] == "4"
    assert orjson.loads(encode_metrics_response(1, "", json=True)) == {"partialSuccess": {"rejectedDataPoints": "1"}}
    assert encode_metrics_response(0, "", json=False) == b""


def _status_class() -> Any:
    """google.rpc.Status built from its descriptor (googleapis-common-protos is not installed)."""
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="lynex_test_status.proto", package="google.rpc", syntax="proto3"
    )
    message = file_proto.message_type.add(name="Status")
    message.field.add(name="code", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32)
    message.field.add(name="message", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


@pytest.mark.parametrize(
    "code, message", [(3, "body is not OTLP: hint: send protobuf"), (8, "é" * 200), (0, ""), (-1, "x")]
)
def test_error_status_protobuf_parses_back(code: int, message: str) -> None:
    status = _status_class().FromString(encode_error_status(code, message, json=False))
    assert (status.code, status.message) == (code, message)


def test_error_status_json() -> None:
    assert orjson.loads(encode_error_status(3, "bad", json=True)) == {"code": 3, "message": "bad"}
