"""OTLP/HTTP end to end: the real OpenTelemetry SDK exporter sends GenAI spans; JSON, gzip, errors, logs."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.e2e.server import RunningServer


def wait_trace(server: RunningServer, trace_id: str, timeout: float = 20.0, spans: int = 1) -> dict[str, Any]:
    """The trace once at least `spans` of its spans are visible (each export request becomes visible on its own).
    Generous: on a loaded 2-core machine 5 s was seen to run out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}", headers=server.headers())
        if r.status_code == 200 and len(r.json()["spans"]) >= spans:
            return dict(r.json())
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} not visible")


def test_the_real_otel_sdk_exporter_sends_genai_spans(server: RunningServer) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=server.headers())
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
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.usage.cache_read.input_tokens": 600,
                    "gen_ai.input.messages": orjson.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}]
                    ).decode(),
                    "gen_ai.output.messages": orjson.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": "On its way."}],
                          "finish_reason": "stop"}]
                    ).decode(),
                    "user.id": "u-9",
                    "session.id": "s-9",
                }
            )  # fmt: skip
        with tracer.start_as_current_span("execute_tool lookup") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "lookup")
            tool.set_status(Status(StatusCode.ERROR, "db down"))
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()

    spans = {s["name"]: s for s in wait_trace(server, trace_id, spans=3)["spans"]}  # three export requests
    llm_row = spans["chat gpt-4o"]
    assert (llm_row["kind"], llm_row["provider"], llm_row["model"]) == ("chat", "openai", "gpt-4o")
    assert (llm_row["input_tokens"], llm_row["output_tokens"], llm_row["cached_tokens"]) == (1000, 200, 600)
    assert llm_row["cost_source"] == "computed" and abs(llm_row["total_cost"] - 0.00375) < 1e-9
    assert llm_row["input"]["messages"][0] == {"role": "user", "content": "Where is my order?"}
    assert llm_row["output"]["messages"][0]["content"] == "On its way."
    assert (llm_row["user_id"], llm_row["session_id"], llm_row["environment"]) == ("u-9", "s-9", "prod")
    assert llm_row["parent_span_id"] == spans["invoke_agent shopper"]["span_id"]
    assert spans["execute_tool lookup"]["status"] == "error"
    assert spans["execute_tool lookup"]["status_message"] == "db down"
    assert spans["invoke_agent shopper"]["kind"] == "agent"


def otlp_json(trace_hex: str, spans: list[tuple[str, str]]) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js-app"}}]},
                    "scopeSpans": [
                        {
                            "scope": {"name": "js"},
                            "spans": [
                                {
                                    "traceId": trace_hex,
                                    "spanId": span_id,
                                    "name": name,
                                    "kind": 1,
                                    "startTimeUnixNano": "1795000000000000000",
                                    "endTimeUnixNano": 1795000000500000000,
                                    "attributes": [
                                        {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
                                        {"key": "llm.model_name", "value": {"stringValue": "gpt-4o-mini"}},
                                        {"key": "llm.token_count.prompt", "value": {"intValue": "10"}},
                                    ],
                                }
                                for span_id, name in spans
                            ],
                        }
                    ],
                }
            ]
        }
    )


def test_otlp_json_with_gzip_and_partial_success(server: RunningServer) -> None:
    trace_hex = "5b8efff798038103d269b633813fc60c"
    body = otlp_json(trace_hex, [("eee19b7ec3c1b174", "good"), ("not-hex-at-all!!", "bad")])
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=gzip.compress(body),
        headers={**server.headers(), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
    [span] = wait_trace(server, trace_hex)["spans"]
    assert (span["span_id"], span["model"], span["input_tokens"], span["duration_ms"]) == (
        "eee19b7ec3c1b174",
        "gpt-4o-mini",
        10,
        500.0,
    )


def test_otlp_answers_follow_the_spec(server: RunningServer) -> None:
    url = f"{server.url}/v1/traces"
    proto = {**server.headers(), "Content-Type": "application/x-protobuf"}
    empty = httpx.post(url, content=b"", headers=proto)
    assert empty.status_code == 200 and ExportTraceServiceResponse.FromString(empty.content) is not None
    assert httpx.post(url, content=b"\xff\xff garbage", headers=proto).status_code == 400
    assert httpx.post(url, content=b"{}", headers={**server.headers(), "Content-Type": "text/plain"}).status_code == 415
    unauth = httpx.post(url, content=b"", headers={"Content-Type": "application/json"})
    assert unauth.status_code == 401 and "message" in unauth.json()
    assert httpx.post(f"{server.url}/v1/metrics", content=b"", headers=proto).status_code == 200
    basic = httpx.post(
        f"{server.url}/api/public/otel/v1/traces",
        content=otlp_json("0af7651916cd43dd8448eb211c80319c", [("b7ad6b7169203331", "via-langfuse-path")]),
        auth=(server.project, server.creds["api_key"]),
        headers={"Content-Type": "application/json"},
    )
    assert basic.status_code == 200
    wrong_public = httpx.post(
        f"{server.url}/api/public/otel/v1/traces",
        content=b"",
        auth=("some-other-project", server.creds["api_key"]),
        headers={"Content-Type": "application/json"},
    )
    assert wrong_public.status_code == 403
    wait_trace(server, "0af7651916cd43dd8448eb211c80319c")


def test_legacy_genai_log_events_join_their_span(server: RunningServer) -> None:
    trace_hex, span_hex = "1af7651916cd43dd8448eb211c80319c", "c7ad6b7169203331"
    span_body = otlp_json(trace_hex, [(span_hex, "openai.chat")])
    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1795000000100000000",
                                "traceId": trace_hex,
                                "spanId": span_hex,
                                "eventName": "gen_ai.user.message",
                                "body": {"kvlistValue": {"values": [
                                    {"key": "content", "value": {"stringValue": "Hi"}}]}},
                            },
                            {
                                "timeUnixNano": "1795000000200000000",
                                "traceId": trace_hex,
                                "spanId": span_hex,
                                "attributes": [{"key": "event.name", "value": {"stringValue": "gen_ai.choice"}}],
                                "body": {"kvlistValue": {"values": [
                                    {"key": "index", "value": {"intValue": "0"}},
                                    {"key": "finish_reason", "value": {"stringValue": "stop"}},
                                    {"key": "message", "value": {"kvlistValue": {"values": [
                                        {"key": "role", "value": {"stringValue": "assistant"}},
                                        {"key": "content", "value": {"stringValue": "Hello!"}}]}}}]}},
                            },
                        ]
                    }
                ]
            }
        ]
    }  # fmt: skip
    headers = {**server.headers(), "Content-Type": "application/json"}
    assert httpx.post(f"{server.url}/v1/logs", content=orjson.dumps(logs), headers=headers).status_code == 200
    assert httpx.post(f"{server.url}/v1/traces", content=span_body, headers=headers).status_code == 200
    deadline = time.monotonic() + 5
    while True:
        spans = wait_trace(server, trace_hex)["spans"]
        if len(spans) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    llm = next(s for s in spans if s["span_id"] == span_hex)
    assert llm["input"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert llm["output"]["messages"][0]["content"] == "Hello!"


def test_otlp_over_its_rate_limit_answers_503_with_retry_after(tmp_path: Path) -> None:
    env = {"LYNEX_LIMITS_KEY_EVENTS_PER_S": "1", "LYNEX_LIMITS_KEY_EVENTS_BURST": "2"}
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        headers = {**server.headers(), "Content-Type": "application/json"}
        spans = [(f"{i:016x}", f"s{i}") for i in range(1, 6)]
        body = otlp_json("2af7651916cd43dd8448eb211c80319c", spans)
        # a full bucket lets one request through even above its burst, then the debt must be paid back
        assert httpx.post(f"{server.url}/v1/traces", content=body, headers=headers).status_code == 200
        refused = httpx.post(f"{server.url}/v1/traces", content=body, headers=headers)
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert "rate limit" in refused.json()["message"]
    finally:
        server.stop()
