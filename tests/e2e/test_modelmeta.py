"""Model metadata, request fingerprints and raw-text sampling, end to end: spans sent through the native, OTLP and
Langfuse endpoints of a real server, read back through the query API."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from tests.e2e.server import RunningServer

DAY = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
SYSTEM = "You are a terse support bot."


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def spans_of(server: RunningServer, **params: Any) -> list[dict[str, Any]]:
    url = f"{server.url}/v1/projects/{server.project}/spans"
    r = httpx.get(url, params={"limit": 1000, **params}, headers=server.headers())
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def by_event(server: RunningServer, count: int) -> dict[str, dict[str, Any]]:
    found = wait_for(lambda: (rows := spans_of(server)) and len(rows) >= count and rows)
    assert found and len(found) >= count, f"{count} spans did not become visible"
    return {row["event_id"]: row for row in found}


def native_llm(event_id: str, model: str, provider: str | None, temperature: float, trace: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "trace_id": trace,
        "span_id": event_id,
        "name": "answer",
        "type": "llm",
        "model": model,
        "provider": provider,
        "usage": {"input_tokens": 100, "output_tokens": 20},
        "input": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"question {event_id}"}],
        "output": {"messages": [{"role": "assistant", "content": "ok"}]},
        "metadata": {
            "model_parameters": {"temperature": temperature, "top_p": 0.9, "max_tokens": 256},
            "system_fingerprint": f"fp_{event_id}",
        },
    }


def otlp_span(span_id: str, model: str, temperature: float) -> dict[str, Any]:
    def text(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    return {
        "traceId": "ab" * 16,
        "spanId": span_id,
        "name": f"chat {model}",
        "kind": 3,
        "startTimeUnixNano": str(time.time_ns() - 10**9),
        "endTimeUnixNano": str(time.time_ns()),
        "attributes": [
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.provider.name", "anthropic"),
            text("gen_ai.request.model", model),
            {"key": "gen_ai.request.temperature", "value": {"doubleValue": temperature}},
            {"key": "gen_ai.request.max_tokens", "value": {"intValue": "256"}},
            text("gen_ai.system_instructions", orjson.dumps([{"type": "text", "content": SYSTEM}]).decode()),
            text(
                "gen_ai.input.messages",
                orjson.dumps([{"role": "user", "parts": [{"type": "text", "content": span_id}]}]).decode(),
            ),
            text("gen_ai.openai.response.system_fingerprint", "fp_otlp"),
        ],
    }


def test_model_metadata_and_fingerprints_on_native_otlp_and_langfuse(server: RunningServer) -> None:
    events = [
        native_llm("n-gpt-a", "gpt-4o-2024-08-06", "openai", 0.2, "t-native"),
        native_llm("n-gpt-b", "gpt-4o-2024-08-06", "openai", 0.2, "t-native"),  # the same call
        native_llm("n-gpt-c", "gpt-4o-2024-08-06", "openai", 0.7, "t-native"),  # another temperature
        native_llm("n-claude", "claude-3-5-sonnet-20241022", "anthropic", 0.2, "t-native"),
        {"event_id": "n-plain", "trace_id": "t-native", "name": "step", "type": "chain"},
    ]
    url = f"{server.url}/v1/projects/{server.project}"
    assert httpx.post(f"{url}/events", json={"events": events}, headers=server.headers()).status_code == 202

    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": [
        otlp_span("00000000000000a1", "claude-3-5-sonnet-20241022", 0.3),
        otlp_span("00000000000000a2", "claude-3-5-sonnet-20241022", 0.3),
        otlp_span("00000000000000a3", "claude-3-5-sonnet-20241022", 0.5),
    ]}]}]}  # fmt: skip
    headers = {**server.headers(), "Content-Type": "application/json"}
    assert httpx.post(f"{server.url}/v1/traces", content=orjson.dumps(body), headers=headers).status_code == 200

    auth = base64.b64encode(f"{server.project}:{server.creds['api_key']}".encode()).decode()
    generation = {
        "traceId": "t-langfuse", "name": "gen", "startTime": f"{DAY}T12:00:00Z", "endTime": f"{DAY}T12:00:01Z",
        "model": "models/gemini-1.5-pro", "modelParameters": {"temperature": 0.1, "max_tokens": 100},
        "input": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}],
        "metadata": {"system_fingerprint": "fp_lf"},
    }  # fmt: skip
    batch = [
        {"id": f"lf-{i}", "type": "generation-create", "timestamp": f"{DAY}T12:00:00Z",
         "body": {**generation, "id": f"gen-{i}", **({"modelParameters": {"temperature": 0.9}} if i == 2 else {})}}
        for i in range(3)
    ]  # fmt: skip
    r = httpx.post(
        f"{server.url}/api/public/ingestion", json={"batch": batch}, headers={"Authorization": f"Basic {auth}"}
    )
    assert r.status_code == 207 and not r.json()["errors"], r.text

    rows = by_event(server, 11)
    gpt = rows["n-gpt-a"]
    assert gpt["model"] == "gpt-4o-2024-08-06"  # the raw name is kept
    assert (gpt["model_id"], gpt["model_provider"], gpt["model_family"]) == ("gpt-4o", "openai", "gpt-4o")
    assert gpt["context_window"] == 128_000 and gpt["modalities"] == ["text"]
    assert gpt["system_fingerprint"] == "fp_n-gpt-a"
    claude = rows["n-claude"]
    assert (claude["model_id"], claude["model_provider"], claude["model_family"]) == (
        "claude-3-5-sonnet", "anthropic", "claude-sonnet",
    )  # fmt: skip
    assert claude["context_window"] == 200_000
    fps = {k: rows[k]["request_fingerprint"] for k in ("n-gpt-a", "n-gpt-b", "n-gpt-c", "n-claude")}
    assert all(isinstance(v, str) and len(v) == 32 for v in fps.values())
    assert fps["n-gpt-a"] == fps["n-gpt-b"]  # same system prompt and parameters, another user question
    assert fps["n-gpt-c"] != fps["n-gpt-a"]  # temperature changed
    assert fps["n-claude"] != fps["n-gpt-a"]  # model changed
    assert rows["n-plain"]["request_fingerprint"] is None and rows["n-plain"]["model_id"] is None

    otlp = {row["span_id"]: row for row in rows.values() if row["source"] == "otlp"}
    first, second, third = (otlp[f"00000000000000a{i}"] for i in (1, 2, 3))
    assert (first["model_id"], first["model_provider"], first["context_window"]) == (
        "claude-3-5-sonnet",
        "anthropic",
        200_000,
    )
    assert first["system_fingerprint"] == "fp_otlp"
    assert first["request_fingerprint"] == second["request_fingerprint"] != third["request_fingerprint"]

    lf = {row["span_id"]: row for row in rows.values() if row["source"] == "langfuse"}
    gem = lf["gen-0"]
    assert gem["model"] == "models/gemini-1.5-pro"
    assert (gem["model_id"], gem["model_provider"], gem["model_family"]) == ("gemini-1.5-pro", "google", "gemini-1.5")
    assert gem["context_window"] == 1_000_000
    assert gem["system_fingerprint"] == "fp_lf"
    assert gem["request_fingerprint"] == lf["gen-1"]["request_fingerprint"] != lf["gen-2"]["request_fingerprint"]

    # the filters, and the trace endpoint, carry the same fields
    assert {r["event_id"] for r in spans_of(server, model_family="gpt-4o")} == {"n-gpt-a", "n-gpt-b", "n-gpt-c"}
    assert len(spans_of(server, model_provider="anthropic")) == 4
    same = spans_of(server, request_fingerprint=fps["n-gpt-a"])
    assert {r["event_id"] for r in same} == {"n-gpt-a", "n-gpt-b"}
    trace = httpx.get(f"{url}/traces/t-native", headers=server.headers()).json()
    assert {s["span_id"]: s["model_id"] for s in trace["spans"]}["n-claude"] == "claude-3-5-sonnet"


def sampled_trace(i: int) -> list[dict[str, Any]]:
    trace = f"sample-{i:04d}"
    failed = i % 9 == 0
    return [
        {
            "event_id": f"{trace}-llm", "trace_id": trace, "span_id": f"{trace}-llm", "name": "answer", "type": "llm",
            "model": "gpt-4o", "provider": "openai", "usage": {"input_tokens": 100 + i, "output_tokens": 10 + i},
            "cost": {"total": 0.001 * (i + 1)},
            "input": [{"role": "user", "content": f"secret question {i}"}],
            "output": {"messages": [{"role": "assistant", "content": f"answer {i}"}]},
        },
        {
            "event_id": f"{trace}-tool", "trace_id": trace, "span_id": f"{trace}-tool",
            "parent_span_id": f"{trace}-llm", "name": "lookup", "type": "tool", "status": "error" if failed else "ok",
            **({"error": {"type": "Timeout", "message": "slow"}} if failed else {}),
            "tool_calls": [{"id": f"c{i}", "name": "lookup", "arguments": {"q": f"order {i}"}}],
            "input": {"q": f"order {i}"}, "output": "found",
        },
    ]  # fmt: skip


def test_sample_text_keeps_a_tenth_of_traces_whole_errors_always_and_every_token_and_cost(
    server: RunningServer,
) -> None:
    settings = f"{server.url}/api/projects/{server.project}/settings"
    assert httpx.get(settings, headers=server.headers()).json()["sample_text"] == 1.0
    for bad in (1.5, -0.1, "half", True):
        r = httpx.patch(settings, json={"sample_text": bad}, headers=server.headers())
        assert r.status_code == 400 and "sample_text" in r.json()["error"]["message"], r.text
    shown = server.cli("projects", "set-sample-text", server.project, "0.25")  # the CLI writes the same setting
    assert shown["sample_text"] == 0.25 and shown["changed"] is True
    assert httpx.get(settings, headers=server.headers()).json()["sample_text"] == 0.25
    r = httpx.patch(settings, json={"sample_text": 0.1}, headers=server.headers())
    assert r.status_code == 200 and r.json()["sample_text"] == 0.1

    traces = 400
    url = f"{server.url}/v1/projects/{server.project}/events"
    for first in range(0, traces, 100):
        events = [e for i in range(first, first + 100) for e in sampled_trace(i)]
        assert httpx.post(url, json={"events": events}, headers=server.headers()).status_code == 202
    rows = by_event(server, 2 * traces)

    kept_traces = set()
    for i in range(traces):
        trace = f"sample-{i:04d}"
        llm, tool = rows[f"{trace}-llm"], rows[f"{trace}-tool"]
        if tool["status"] == "error":  # an error keeps its text whatever its trace
            assert tool["text_sampled_out"] is False and tool["tool_calls"] and tool["input"]
        if llm["text_sampled_out"]:
            assert llm["input"] is None and llm["output"] is None
            assert tool["status"] == "error" or (tool["text_sampled_out"] and tool["tool_calls"] is None)
        else:
            assert llm["text_sampled_out"] is False and "secret question" in str(llm["input"])
            assert tool["text_sampled_out"] is False and tool["input"]  # the trace is whole
            kept_traces.add(trace)
    assert 15 <= len(kept_traces) <= 70, len(kept_traces)  # 10% of 400 = 40 (sd 6)

    # metrics are exact: every span keeps its tokens and cost
    llms = [rows[f"sample-{i:04d}-llm"] for i in range(traces)]
    assert sum(r["input_tokens"] for r in llms) == sum(100 + i for i in range(traces))
    assert sum(r["output_tokens"] for r in llms) == sum(10 + i for i in range(traces))
    assert abs(sum(r["total_cost"] for r in llms) - sum(0.001 * (i + 1) for i in range(traces))) < 1e-9
    # the filter by fingerprint still works on sampled-out spans (computed before the text went)
    assert all(r["request_fingerprint"] for r in llms)
