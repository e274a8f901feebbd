"""Bodies of OTLP/HTTP answers: export responses with `partial_success`, and `google.rpc.Status` errors.

The JSON forms are written by hand with lowerCamelCase keys and int64 as decimal strings (proto3 JSON mapping),
never with `MessageToDict`. This module builds bytes only: it must never choose status codes or do I/O.
"""

from __future__ import annotations

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

__all__ = [
    "encode_error_status",
    "encode_logs_response",
    "encode_metrics_response",
    "encode_trace_response",
]


def _json_partial(rejected_key: str, rejected: int, message: str) -> bytes:
    if rejected == 0 and not message:
        return b"{}"
    partial: dict[str, str] = {}
    if rejected:
        partial[rejected_key] = str(rejected)
    if message:
        partial["errorMessage"] = message
    return orjson.dumps({"partialSuccess": partial})


def encode_trace_response(rejected: int, message: str, json: bool) -> bytes:
    """An `ExportTraceServiceResponse`; `partial_success` is set only when something was rejected or said.

    With nothing rejected and no message the answer is the empty response (`b""` or `{}`), as the spec asks.
    """
    if json:
        return _json_partial("rejectedSpans", rejected, message)
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    body: bytes = response.SerializeToString()
    return body


def encode_logs_response(rejected: int, message: str, json: bool) -> bytes:
    """An `ExportLogsServiceResponse`, the `/v1/logs` twin of `encode_trace_response`."""
    if json:
        return _json_partial("rejectedLogRecords", rejected, message)
    response = ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    body: bytes = response.SerializeToString()
    return body


def encode_metrics_response(rejected: int, message: str, json: bool) -> bytes:
    """An `ExportMetricsServiceResponse` (`/v1/metrics` is accepted and dropped, but answered properly)."""
    if json:
        return _json_partial("rejectedDataPoints", rejected, message)
    response = ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    body: bytes = response.SerializeToString()
    return body


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= 0xFFFFFFFFFFFFFFFF  # negative int32 is encoded as a 10-byte two's complement varint
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_error_status(code: int, message: str, json: bool) -> bytes:
    """A `google.rpc.Status{code, message}` body for a failed export (`code` is a gRPC code, 3 = INVALID_ARGUMENT).

    Hand-encoded because `googleapis-common-protos` is not a dependency: field 1 varint, field 2 string.
    """
    if json:
        return orjson.dumps({"code": code, "message": message})
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    if message:
        raw = message.encode("utf-8")
        out += b"\x12" + _varint(len(raw)) + raw
    return bytes(out)
