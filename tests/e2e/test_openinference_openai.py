"""The real `openai` client, instrumented by the real OpenInference instrumentation, exporting over OTLP/HTTP to the
real server, calls a small local fake of the OpenAI chat completions API (a real HTTP server started here) that
answers with a tool call. The stored span has the model, tokens, a cost computed by genai-prices, the input
messages and the output with its tool call."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.server import RunningServer
from tests.e2e.test_otlp import wait_trace

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def completion(model: str) -> dict[str, Any]:
    """A chat completion as api.openai.com answers a request that ends in a tool call."""
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "gpt-4o-2024-08-06" if model == "gpt-4o" else model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_9hM3qL2xPn4R1tYb",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 82,
            "completion_tokens": 17,
            "total_tokens": 99,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_50cad350e4",
    }


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions; keeps the request bodies it received on the server object."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers.get("Authorization"), body))  # type: ignore[attr-defined]
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        answer = json.dumps(completion(body["model"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("x-request-id", "req_8f2c1e")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_openai() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_openinference_openai_spans_arrive_with_model_tokens_cost_messages_and_tool_call(
    server: RunningServer, fake_openai: ThreadingHTTPServer
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-bot"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=server.headers()))
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{fake_openai.server_port}/v1", api_key="sk-test-123")
        with provider.get_tracer("app").start_as_current_span("answer") as root:
            reply = client.chat.completions.create(
                model="gpt-4o",
                messages=[
                    {"role": "system", "content": "You are a weather assistant."},
                    {"role": "user", "content": "What is the weather in Paris?"},
                ],
                tools=[WEATHER_TOOL],  # type: ignore[list-item]
                temperature=0.1,
            )
        trace_id = format(root.get_span_context().trace_id, "032x")
        client.close()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert reply.choices[0].message.tool_calls is not None  # the fake answered the real client
    [(path, auth, sent)] = fake_openai.requests  # type: ignore[attr-defined]
    assert (path, auth, sent["model"]) == ("/v1/chat/completions", "Bearer sk-test-123", "gpt-4o")

    spans = wait_trace(server, trace_id, spans=2)["spans"]  # two export requests
    assert sorted(s["name"] for s in spans) == ["ChatCompletion", "answer"]
    llm = next(s for s in spans if s["name"] == "ChatCompletion")
    root_row = next(s for s in spans if s["name"] == "answer")
    assert llm["parent_span_id"] == root_row["span_id"] and llm["kind"] == "llm"
    assert (llm["provider"], llm["model"]) == ("openai", "gpt-4o-2024-08-06")
    assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (82, 17, 99)
    # genai-prices: gpt-4o-2024-08-06 is USD 2.50 / 10.00 per million input / output tokens
    assert llm["cost_source"] == "computed"
    assert llm["total_cost"] == pytest.approx((82 * 2.5 + 17 * 10.0) / 1e6)
    assert llm["input"]["messages"] == [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    [out] = llm["output"]["messages"]
    assert out["role"] == "assistant"
    [call] = out["tool_calls"]
    assert call["name"] == "get_weather" and call["id"] == "call_9hM3qL2xPn4R1tYb"
    assert call["arguments"] == '{"city": "Paris"}'  # as the model sent it
    assert llm["output"]["finish_reason"] == "tool_calls"
    assert llm["tool_calls"] == [call]
    assert llm["status"] == "ok"
    assert llm["attributes"]["model_parameters"] == {"model": "gpt-4o", "temperature": 0.1}
    assert llm["attributes"]["service.name"] == "weather-bot"
