"""End to end: events sent through the API come back from every query endpoint with the same values."""

from __future__ import annotations

import gzip
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import zstandard

import lynex_box
from tests.e2e.server import RunningServer


def make_trace(trace_id: str, user: str = "u1", session: str = "s1") -> list[dict[str, Any]]:
    base = 1_795_000_000_000
    return [
        {
            "event_id": f"{trace_id}-root",
            "trace_id": trace_id,
            "span_id": f"{trace_id}-root",
            "name": "answer-question",
            "type": "agent",
            "start_time": base,
            "end_time": base + 2000,
            "user_id": user,
            "session_id": session,
            "tags": ["prod", "v2"],
        },
        {
            "event_id": f"{trace_id}-llm",
            "trace_id": trace_id,
            "span_id": f"{trace_id}-llm",
            "parent_span_id": f"{trace_id}-root",
            "name": "chat gpt-4o",
            "type": "llm",
            "model": "gpt-4o",
            "provider": "openai",
            "start_time": "2026-11-18T11:06:40.100Z",
            "end_time": "2026-11-18T11:06:41.100Z",
            "usage": {"input_tokens": 1000, "output_tokens": 200, "cached_tokens": 600},
            "input": [{"role": "user", "content": "What is the capital of France?"}],
            "output": {"messages": [{"role": "assistant", "content": "Paris."}]},
            "user_id": user,
            "session_id": session,
        },
        {
            "event_id": f"{trace_id}-tool",
            "trace_id": trace_id,
            "span_id": f"{trace_id}-tool",
            "parent_span_id": f"{trace_id}-root",
            "name": "search",
            "type": "tool",
            "start_time": base + 1200,
            "end_time": base + 1500,
            "status": "error",
            "error": {"type": "Timeout", "message": "search took too long"},
            "cost": {"total": 0.5},
            "tool_calls": [{"id": "c1", "name": "search", "arguments": {"q": "France"}}],
        },
    ]


def post(server: RunningServer, events: list[dict[str, Any]], **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/projects/{server.project}/events", json={"events": events}, headers=server.headers(), **kw
    )


def get(server: RunningServer, path: str, **params: Any) -> Any:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/{path}", params=params, headers=server.headers())
    assert r.status_code == 200, r.text
    return r.json()


def wait_visible(server: RunningServer, trace_id: str, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}", headers=server.headers())
        if r.status_code == 200:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"trace {trace_id} not visible after {timeout}s")


def test_events_are_returned_by_every_endpoint_with_the_same_values(server: RunningServer) -> None:
    r = post(server, make_trace("t-1"))
    assert r.status_code == 202 and r.json() == {"accepted": 3, "rejected": []}
    assert wait_visible(server, "t-1") < 1.0

    trace = get(server, "traces/t-1")
    spans = {s["span_id"]: s for s in trace["spans"]}
    llm = spans["t-1-llm"]
    assert llm["parent_span_id"] == "t-1-root" and llm["name"] == "chat gpt-4o"
    assert (llm["input_tokens"], llm["output_tokens"], llm["cached_tokens"], llm["total_tokens"]) == (
        1000,
        200,
        600,
        1200,
    )
    assert llm["cost_source"] == "computed" and abs(llm["total_cost"] - 0.00375) < 1e-9  # genai-prices, cache-aware
    assert llm["input"] == {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
    assert llm["duration_ms"] == 1000.0 and llm["start_time"] == "2026-11-18T11:06:40.100000Z"
    tool = spans["t-1-tool"]
    assert tool["status"] == "error" and tool["status_message"] == "search took too long"
    assert tool["total_cost"] == 0.5 and tool["cost_source"] == "reported"
    assert tool["tool_calls"] == [{"id": "c1", "name": "search", "arguments": {"q": "France"}}]
    assert spans["t-1-root"]["tags"] == ["prod", "v2"]

    [row] = get(server, "traces")["items"]
    assert row["trace_id"] == "t-1" and row["name"] == "answer-question" and row["span_count"] == 3
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 200)
    assert abs(row["total_cost"] - 0.50375) < 1e-9 and row["status"] == "error"
    assert (row["user_id"], row["session_id"], row["duration_ms"]) == ("u1", "s1", 2000.0)

    listed = get(server, "spans", model="gpt-4o")["items"]
    assert [s["event_id"] for s in listed] == ["t-1-llm"] and listed[0]["total_cost"] == llm["total_cost"]

    metrics = {s["group"]: s["points"][0] for s in get(server, "metrics", group_by="model")["series"]}
    assert metrics["gpt-4o"]["count"] == 1 and metrics["gpt-4o"]["input_tokens"] == 1000
    assert metrics["(none)"]["errors"] == 1
    [total] = get(server, "metrics")["series"][0]["points"]
    assert total["count"] == 3 and abs(total["total_cost"] - 0.50375) < 1e-9 and total["p50_ms"] == 1000.0

    [session] = get(server, "sessions")["items"]
    assert session["session_id"] == "s1" and session["trace_count"] == 1 and session["span_count"] == 2
    [user] = get(server, "users")["items"]
    assert user["user_id"] == "u1" and user["input_tokens"] == 1000


def test_filters_and_cursor_pagination(server: RunningServer) -> None:
    for i in range(7):
        events = make_trace(f"p-{i}", user=f"user-{i % 2}")
        for e in events:
            e["start_time"] = 1_795_000_000_000 + i * 60_000 + (0 if e["type"] == "agent" else 10)
            e.pop("end_time")
        assert post(server, events).status_code == 202
    wait_visible(server, "p-6")
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = get(server, "traces", **params)
        pages.append([t["trace_id"] for t in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["p-6", "p-5", "p-4"], ["p-3", "p-2", "p-1"], ["p-0"]]
    only = get(server, "traces", user_id="user-1")["items"]
    assert [t["trace_id"] for t in only] == ["p-5", "p-3", "p-1"]
    assert [t["trace_id"] for t in get(server, "traces", q="capital of FRANCE", limit=2)["items"]] == ["p-6", "p-5"]
    ranged = get(server, "traces", **{"from": 1_795_000_120_000, "to": 1_795_000_240_000})["items"]
    assert [t["trace_id"] for t in ranged] == ["p-3", "p-2"]
    assert len(get(server, "spans", tag="prod", limit=1000)["items"]) == 7
    buckets = get(server, "metrics", interval="2m")["series"][0]["points"]
    assert [p["count"] for p in buckets] == [6, 6, 6, 3]


def test_gzip_and_zstd_bodies_are_accepted(server: RunningServer) -> None:
    body = orjson.dumps({"events": make_trace("gz")})
    r = httpx.post(
        f"{server.url}/v1/projects/{server.project}/events",
        content=gzip.compress(body),
        headers={**server.headers(), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 202 and r.json()["accepted"] == 3
    body = orjson.dumps({"events": make_trace("zs")})
    r = httpx.post(
        f"{server.url}/v1/projects/{server.project}/events",
        content=zstandard.ZstdCompressor().compress(body),
        headers={**server.headers(), "Content-Encoding": "zstd"},
    )
    assert r.status_code == 202
    wait_visible(server, "zs")
    wait_visible(server, "gz")


def test_invalid_items_are_rejected_one_by_one_and_valid_ones_kept(server: RunningServer) -> None:
    events: list[Any] = [
        {"trace_id": "mixed", "name": "ok"},
        {"trace_id": "mixed", "type": "nonsense"},
        "not an object",
        {"trace_id": "mixed", "usage": {"input_tokens": -1}},
        {"trace_id": "mixed", "start_time": "yesterday"},
        {"trace_id": "mixed", "name": "also ok", "start_time": "2026-11-27T10:00:00+02:00"},
    ]
    r = post(server, events)
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 2 and [x["index"] for x in body["rejected"]] == [1, 2, 3, 4]
    assert "type" in body["rejected"][0]["error"] and "start_time" in body["rejected"][3]["error"]
    wait_visible(server, "mixed")
    names = sorted(s["name"] for s in get(server, "traces/mixed")["spans"])
    assert names == ["also ok", "ok"]


def test_events_survive_a_restart(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data").start()
    ids = [f"r-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for trace_id in ids:
        assert post(server, make_trace(trace_id)).status_code == 202
    wait_visible(server, ids[-1])
    before = get(server, "traces")["items"]
    assert server.stop() == 0
    server.start()
    assert get(server, "traces")["items"] == before
    server.stop()


def test_health_readiness_and_openapi(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "alive"
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["workers"]["query"]["workers"] == 4  # and how busy they are
    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert "/v1/projects/{project_id}/traces" in doc["paths"] and doc["openapi"].startswith("3.")
    assert "/v1/version" in doc["paths"]


def test_the_version_route_answers_without_credentials_what_the_sdks_compare(server: RunningServer) -> None:
    """`GET /v1/version` (no key): the package version and the API's major version, which the SDKs check."""
    r = httpx.get(f"{server.url}/v1/version")
    assert r.status_code == 200 and r.json() == {"version": lynex_box.__version__, "api": "1"}
    assert httpx.get(f"{server.url}/v1/version", headers={"Authorization": "Bearer not-a-key"}).status_code == 200
