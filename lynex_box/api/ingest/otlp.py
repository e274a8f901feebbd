"""OTLP/HTTP receivers: `/v1/traces`, `/v1/logs`, `/v1/metrics`, and the same paths senders use for Langfuse
(`/api/public/otel/v1/traces`) and Helicone (`/v1/trace/log`, `/v1/trace/log-python`).

The request path parses the body (in a thread) only to count and check the spans (`otlp.check`: ids, start
times, value sizes, never a full decode); the raw body goes into the WAL and the pipeline maps it after the
acknowledgement. Spans that cannot be stored are reported as `partial_success` and their indexes are kept in the
WAL record's header, so the pipeline skips exactly those. Answers follow the OTLP spec: `200` with an (empty or
`partial_success`) export response in the request's content type, `google.rpc.Status` bodies on failure, and
`503` + `Retry-After` for backpressure so that every exporter version retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import decompress, read_body
from lynex_box.api.errors import ApiError
from lynex_box.api.ingest.admission import Admitted, admit
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.otlp import (
    OtlpDecodeError,
    encode_error_status,
    encode_logs_response,
    encode_metrics_response,
    encode_trace_response,
)
from lynex_box.sources.otlp.check import check_logs, check_traces
from lynex_box.wal.records import RecordHeader, RecordType

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# gRPC codes for google.rpc.Status bodies
_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 429: 8, 503: 14}


def content_kind(request: Request) -> bool:
    """True for OTLP/JSON, False for protobuf; 415 for anything else."""
    ctype = request.headers.get("content-type", PROTOBUF).split(";")[0].strip().lower()
    if ctype in (PROTOBUF, "application/protobuf", "application/octet-stream", ""):
        return False
    if ctype == JSON:
        return True
    raise ApiError(415, "unsupported_media_type", f"Content-Type {ctype!r} is not {PROTOBUF} or {JSON}")


def check_spans(body: bytes, as_json: bool, max_field_bytes: int, window: TimeWindow) -> tuple[int, list[int], str]:
    """(span count, indexes of spans to refuse, the first reasons); OtlpDecodeError for a malformed body."""
    checked = check_traces(body, as_json, max_field_bytes, window)
    return checked.total, checked.skip, checked.reasons


def check_log_records(body: bytes, as_json: bool, window: TimeWindow) -> tuple[int, list[int], str]:
    """(log record count, indexes of records to refuse, the first reasons); OtlpDecodeError if malformed."""
    checked = check_logs(body, as_json, window)
    return checked.total, checked.skip, checked.reasons


async def accept_export(admitted: Admitted, kind: RecordType, body: bytes, as_json: bool) -> tuple[int, str]:
    """The protocol-independent part of an OTLP export, after admission and with the body decompressed, for
    OTLP/HTTP and OTLP/gRPC alike: check it in a thread, charge what can be stored, append it to the WAL and
    return once durable. (rejected count, reason) for `partial_success`; ApiError 400 when none of it can be
    stored, 503 when a rate limit is empty; OtlpDecodeError for a malformed body."""
    svc = admitted.svc
    received_us = time.time_ns() // 1000
    window = TimeWindow.at(svc.settings.ingest, received_us)
    if kind == RecordType.OTLP_TRACES:
        max_field = svc.settings.ingest.max_field_bytes
        total, skip, reason = await asyncio.to_thread(check_spans, body, as_json, max_field, window)
        items = "spans"
    else:
        total, skip, reason = await asyncio.to_thread(check_log_records, body, as_json, window)
        items = "log records"
    rejected = len(skip)
    if rejected and rejected == total:  # nothing of it can be stored: the request is invalid, not partial
        raise ApiError(400, "bad_request", f"none of the {total} {items} can be stored, nothing was: {reason}")
    # OTLP exporters retry 503 (with Retry-After) in every version, 429 only in newer ones.
    admitted.charge(events=total - rejected, status=503)
    if total > rejected:
        header = RecordHeader(admitted.project_id, received_us, "otlp", tuple(skip), JSON if as_json else PROTOBUF)
        await svc.engine.append_async(kind, header, body)
    return rejected, reason


def otlp_handler(
    kind: RecordType | None, encode: Callable[[int, str, bool], bytes]
) -> Callable[[Request], Awaitable[Response]]:
    """A route for one OTLP signal; `kind` None accepts and drops the data (metrics)."""

    async def handle(request: Request) -> Response:
        as_json = False
        try:
            as_json = content_kind(request)
            admitted = await admit(request)
            limit = admitted.svc.settings.ingest.max_body_bytes
            raw, encoding = await read_body(request, limit)
            admitted.charge(nbytes=len(raw), status=503)
            # An identity body needs no thread hop (most exporters send protobuf uncompressed on localhost).
            body = raw if encoding == "identity" else await asyncio.to_thread(decompress, raw, encoding, limit)
            rejected, reason = 0, ""
            if kind is not None and body:
                rejected, reason = await accept_export(admitted, kind, body, as_json)
            return Response(encode(rejected, reason, as_json), 200, media_type=JSON if as_json else PROTOBUF)
        except OtlpDecodeError as exc:
            return _status(400, str(exc), as_json, {})
        except ApiError as exc:
            return _status(exc.status, exc.message, as_json, exc.headers)

    return handle


def _status(status: int, message: str, as_json: bool, headers: dict[str, str]) -> Response:
    body = encode_error_status(_GRPC.get(status, 2), message, as_json)
    return Response(body, status, headers=headers, media_type=JSON if as_json else PROTOBUF)


traces = otlp_handler(RecordType.OTLP_TRACES, encode_trace_response)
logs = otlp_handler(RecordType.OTLP_LOGS, encode_logs_response)
metrics = otlp_handler(None, encode_metrics_response)

routes = [
    Route("/v1/traces", traces, methods=["POST"]),
    Route("/v1/logs", logs, methods=["POST"]),
    Route("/v1/metrics", metrics, methods=["POST"]),
    Route("/api/public/otel/v1/traces", traces, methods=["POST"]),
    Route("/api/public/otel/v1/logs", logs, methods=["POST"]),
    Route("/api/public/otel/v1/metrics", metrics, methods=["POST"]),
    Route("/v1/trace/log", traces, methods=["POST"]),
    Route("/v1/trace/log-python", traces, methods=["POST"]),
]

_OTLP_JSON: Final = spec.obj((), resourceSpans=spec.list_of(spec.OBJECT), resourceLogs=spec.list_of(spec.OBJECT))
_STATUS: Final = {
    "description": "error",
    "content": {PROTOBUF: {}, JSON: {"schema": {"$ref": "#/components/schemas/Status"}}},
}
_ABOUT: Final = (
    "Body: ExportTrace/Logs/MetricsServiceRequest as protobuf or JSON (gzip or zstd allowed). 200 with an "
    "export response (partial_success names spans that could not be stored), google.rpc.Status bodies on "
    "failure, 503 + Retry-After when over limits or under backpressure"
)


def _receiver(summary: str) -> spec.Operation:
    """An OTLP/HTTP receiver: protobuf or JSON in, the same out, errors as google.rpc.Status in that encoding."""
    ok = {"description": "Export(Trace|Logs|Metrics)ServiceResponse", "content": {PROTOBUF: {}, JSON: {}}}
    operation = spec.op(f"{summary}. {_ABOUT}", {200: ok}, security=spec.KEY, errors=())
    operation["requestBody"] = {"required": True, "content": {PROTOBUF: {}, JSON: {"schema": _OTLP_JSON}}}
    operation["responses"].update({str(code): _STATUS for code in (400, 401, 403, 413, 415, 503)})
    return operation


OPENAPI: Final[spec.Paths] = {
    **{
        f"{prefix}/v1/{signal}": {"post": _receiver(f"OTLP/HTTP: ingest {what}")}
        for signal, what in (
            ("traces", "spans"),
            ("logs", "log records"),
            ("metrics", "metrics (accepted and dropped)"),
        )
        for prefix in ("", "/api/public/otel")
    },
    **{
        path: {"post": _receiver("OTLP/HTTP traces at Helicone's path")}
        for path in ("/v1/trace/log", "/v1/trace/log-python")
    },
}
