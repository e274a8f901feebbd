"""OTLP/gRPC end to end: the OpenTelemetry SDK's gRPC exporter and raw gRPC calls against the real server's
receiver ([server] otlp_grpc_port): spans and logs arrive as over OTLP/HTTP, refusals carry the status codes of the
OTLP specification, and rate limits and backpressure carry a google.rpc.RetryInfo."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.e2e.server import RunningServer
from tests.e2e.test_otlp import wait_trace


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path_factory.mktemp("otlp-grpc") / "data", otlp_grpc=True).start()
    yield srv
    srv.stop()


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def text(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def spans_request(trace_id: bytes, *spans: tuple[bytes, str], pad: int = 0) -> ExportTraceServiceRequest:
    """One resource with one span per (span id, name), started now, 500 ms long, an LLM call of gpt-4o-mini."""
    now = time.time_ns()
    attributes = [
        KeyValue(key="gen_ai.operation.name", value=text("chat")),
        KeyValue(key="gen_ai.request.model", value=text("gpt-4o-mini")),
        KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=10)),
    ]
    if pad:
        attributes.append(KeyValue(key="padding", value=text("x" * pad)))
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=trace_id,
                                span_id=span_id,
                                name=name,
                                start_time_unix_nano=now,
                                end_time_unix_nano=now + 500_000_000,
                                attributes=attributes,
                            )
                            for span_id, name in spans
                        ]
                    )
                ]
            )
        ]
    )


def call_error(fn: Any, request: Any, **kw: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        fn(request, timeout=20, **kw)
    error: grpc.RpcError = caught.value
    return error


def retry_delay_s(error: grpc.RpcError) -> int:
    """The RetryInfo of a refusal, read as gRPC clients read it (the status details) and checked equal to the
    copy the OpenTelemetry Python exporter reads (`google.rpc.retryinfo-bin`)."""
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == error.code().value[0] and status.message == error.details()
    [detail] = status.details
    info = error_details_pb2.RetryInfo()
    assert detail.Unpack(info)
    assert error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]) == info
    return int(info.retry_delay.seconds)


def test_the_otel_sdk_grpc_exporter_sends_genai_spans_with_gzip(grpc_server: RunningServer) -> None:
    exporter = OTLPSpanExporter(
        endpoint=grpc_server.grpc_target,
        insecure=True,
        headers=auth(grpc_server.creds["api_key"]),
        compression=grpc.Compression.Gzip,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "deployment.environment": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("invoke_agent shopper") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.usage.cache_read.input_tokens": 600,
                    "gen_ai.input.messages": orjson.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}]
                    ).decode(),
                    "user.id": "u-9",
                    "session.id": "s-9",
                }
            )
            llm.set_status(Status(StatusCode.ERROR, "upstream timeout"))
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()

    spans = {s["name"]: s for s in wait_trace(grpc_server, trace_id, timeout=20, spans=2)["spans"]}
    row = spans["chat gpt-4o"]
    assert (row["kind"], row["provider"], row["model"]) == ("chat", "openai", "gpt-4o")
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (1000, 200, 600)
    assert row["cost_source"] == "computed" and abs(row["total_cost"] - 0.00375) < 1e-9
    assert row["input"]["messages"][0] == {"role": "user", "content": "Where is my order?"}
    assert (row["user_id"], row["session_id"], row["environment"]) == ("u-9", "s-9", "prod")
    assert (row["status"], row["status_message"]) == ("error", "upstream timeout")
    assert row["parent_span_id"] == spans["invoke_agent shopper"]["span_id"] and row["source"] == "otlp"


def test_raw_exports_answer_partial_success_and_the_specs_refusals(grpc_server: RunningServer) -> None:
    key = grpc_server.creds["api_key"]
    with grpc.insecure_channel(grpc_server.grpc_target, compression=grpc.Compression.Gzip) as channel:
        export = TraceServiceStub(channel).Export
        trace_id = os.urandom(16)
        answer = export(spans_request(trace_id, (os.urandom(8), "good"), (bytes(8), "bad")), metadata=auth(key))
        assert answer.partial_success.rejected_spans == 1 and "span id" in answer.partial_success.error_message
        assert [s["name"] for s in wait_trace(grpc_server, trace_id.hex(), timeout=20)["spans"]] == ["good"]

        whole = export(ExportTraceServiceRequest(), metadata=auth(key))  # nothing in it: the empty answer
        assert not whole.HasField("partial_success")

        error = call_error(export, spans_request(os.urandom(16), (os.urandom(8), "x")))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "API key" in error.details()
        error = call_error(export, spans_request(os.urandom(16), (os.urandom(8), "x")), metadata=auth("lx_nope"))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED

        error = call_error(export, spans_request(os.urandom(16), (bytes(8), "bad")), metadata=auth(key))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "none of the 1 spans" in error.details()
        garbage = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        error = call_error(garbage, b"\xff\xff garbage", metadata=auth(key))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

        metrics = MetricsServiceStub(channel).Export(ExportMetricsServiceRequest(), metadata=auth(key), timeout=20)
        assert not metrics.HasField("partial_success")  # accepted and dropped, as over HTTP


def test_a_key_that_may_not_ingest_is_permission_denied(grpc_server: RunningServer) -> None:
    created = httpx.post(
        f"{grpc_server.url}/api/projects/{grpc_server.project}/keys",
        json={"scope": "read", "name": "reader"},
        headers=grpc_server.headers(),
    )
    assert created.status_code == 201, created.text
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        request = spans_request(os.urandom(16), (os.urandom(8), "x"))
        error = call_error(TraceServiceStub(channel).Export, request, metadata=auth(created.json()["api_key"]))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "scope 'read'" in error.details()


def test_genai_log_events_sent_over_grpc_join_their_span(grpc_server: RunningServer) -> None:
    trace_id, span_id = os.urandom(16), os.urandom(8)
    now = time.time_ns()

    def kv(**values: AnyValue) -> AnyValue:
        return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in values.items()]))

    message = kv(role=text("assistant"), content=text("Hello!"))
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(
                                time_unix_nano=now + 1000,
                                trace_id=trace_id,
                                span_id=span_id,
                                event_name="gen_ai.user.message",
                                body=kv(content=text("Hi")),
                            ),
                            LogRecord(
                                time_unix_nano=now + 2000,
                                trace_id=trace_id,
                                span_id=span_id,
                                attributes=[KeyValue(key="event.name", value=text("gen_ai.choice"))],
                                body=kv(index=AnyValue(int_value=0), finish_reason=text("stop"), message=message),
                            ),
                        ]
                    )
                ]
            )
        ]
    )
    metadata = auth(grpc_server.creds["api_key"])
    with grpc.insecure_channel(grpc_server.grpc_target) as channel:
        answer = LogsServiceStub(channel).Export(logs, metadata=metadata, timeout=20)
        assert not answer.HasField("partial_success")
        TraceServiceStub(channel).Export(spans_request(trace_id, (span_id, "openai.chat")), metadata=metadata)
    deadline = time.monotonic() + 20
    while True:
        [llm] = [
            s for s in wait_trace(grpc_server, trace_id.hex(), timeout=20)["spans"] if s["span_id"] == span_id.hex()
        ]
        if (llm["input"] and llm["output"]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert llm["input"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert llm["output"]["messages"][0]["content"] == "Hello!"


def test_oversized_exports_and_rate_limits_are_resource_exhausted(tmp_path: Path) -> None:
    """Over [ingest] max_body_bytes (sent as is, or gzip-compressed under it): RESOURCE_EXHAUSTED without retry
    info (retrying cannot help). Over a rate limit: RESOURCE_EXHAUSTED with a RetryInfo (retry then)."""
    env = {
        "LYNEX_INGEST_MAX_BODY_BYTES": "65536",
        "LYNEX_LIMITS_KEY_EVENTS_PER_S": "1",
        "LYNEX_LIMITS_KEY_EVENTS_BURST": "2",
    }
    server = RunningServer(tmp_path / "data", env=env, otlp_grpc=True).start()
    try:
        metadata = auth(server.creds["api_key"])
        big = spans_request(os.urandom(16), (os.urandom(8), "big"), pad=100_000)
        for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):  # gzip: 100 KB of "x" is tiny
            with grpc.insecure_channel(server.grpc_target, compression=compression) as channel:
                error = call_error(TraceServiceStub(channel).Export, big, metadata=metadata)
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, compression
            assert "grpc-status-details-bin" not in dict(error.trailing_metadata() or ())
        five = spans_request(os.urandom(16), *((os.urandom(8), f"s{i}") for i in range(5)))
        with grpc.insecure_channel(server.grpc_target) as channel:
            export = TraceServiceStub(channel).Export
            export(five, metadata=metadata, timeout=20)  # a full bucket lets one request through, into debt
            error = call_error(export, five, metadata=metadata)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "rate limit" in error.details()
        assert retry_delay_s(error) >= 1
    finally:
        server.stop()


def test_backpressure_is_unavailable_with_retry_info(tmp_path: Path) -> None:
    """A WAL backlog over its limit (as tests/e2e/test_errors_and_keys.py makes one): UNAVAILABLE with a RetryInfo
    of [ingest] retry_after_s, which the OTLP exporters retry."""
    env = {"LYNEX_INGEST_MAX_BACKLOG_BYTES": str(1024 * 1024), "LYNEX_HEAD_MAX_AGE_S": "3600"}
    server = RunningServer(tmp_path / "data", env=env, otlp_grpc=True).start()
    try:
        noise = {"events": [{"trace_id": f"n{i}", "input": os.urandom(200_000).hex()} for i in range(12)]}
        events = f"{server.url}/v1/projects/{server.project}/events"
        assert httpx.post(events, json=noise, headers=server.headers(), timeout=30).status_code == 202
        with grpc.insecure_channel(server.grpc_target) as channel:
            request = spans_request(os.urandom(16), (os.urandom(8), "x"))
            error = call_error(TraceServiceStub(channel).Export, request, metadata=auth(server.creds["api_key"]))
        assert error.code() == grpc.StatusCode.UNAVAILABLE and "WAL backlog" in error.details()
        assert retry_delay_s(error) >= 1
    finally:
        server.stop()


def test_dev_mode_takes_unauthenticated_grpc_exports_from_loopback(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", dev=True, otlp_grpc=True).start()
    try:
        trace_id = os.urandom(16)
        with grpc.insecure_channel(server.grpc_target) as channel:
            TraceServiceStub(channel).Export(spans_request(trace_id, (os.urandom(8), "dev")), timeout=20)
        assert [s["name"] for s in wait_trace(server, trace_id.hex(), timeout=20)["spans"]] == ["dev"]
    finally:
        server.stop()


def test_a_taken_grpc_port_stops_the_start_and_the_log_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {"LYNEX_SERVER_OTLP_GRPC_PORT": str(taken.getsockname()[1])}
        server = RunningServer(tmp_path / "data", env=env)
        with pytest.raises(RuntimeError, match="server exited rc=1"):
            server.start()
    log = server.log_path.read_text()
    assert "start failed error=cannot listen for OTLP/gRPC" in log and "[server] otlp_grpc_port" in log
