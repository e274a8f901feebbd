"""End to end: the span list behind the UI's span table: `fields=summary` answers the table's columns only, with
the same rows, filters and cursor pages as the full answer, and refuses an unknown `fields` with a 400; the filter
bar's conditions (attribute, metadata, score, prompt, repeated values) select spans, not whole traces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer
from tests.e2e.test_ingest_query import get, make_trace, post, wait_visible


def test_summary_fields_give_the_same_rows_and_pages_without_text_columns(server: RunningServer) -> None:
    for i in range(4):
        events = make_trace(f"sl-{i}", user=f"user-{i % 2}")
        for e in events:
            e["start_time"] = 1_795_000_000_000 + i * 60_000 + {"agent": 0, "llm": 10, "tool": 20}[e["type"]]
            e.pop("end_time")
        assert post(server, events).status_code == 202
    wait_visible(server, "sl-3")

    full = get(server, "spans", limit=1000)["items"]
    lean = get(server, "spans", limit=1000, fields="summary")["items"]
    assert [s["event_id"] for s in lean] == [s["event_id"] for s in full] and len(lean) == 12
    assert all("input" not in s and "output" not in s and "attributes" not in s for s in lean)
    shared = ("trace_id", "span_id", "name", "kind", "status", "model", "input_tokens", "total_cost", "user_id")
    assert [{k: s[k] for k in shared} for s in lean] == [{k: s[k] for k in shared} for s in full]

    tools = get(server, "spans", kind="tool", fields="summary")["items"]
    assert [s["span_id"] for s in tools] == ["sl-3-tool", "sl-2-tool", "sl-1-tool", "sl-0-tool"]
    pages, cursor = [], None
    while True:
        page = get(server, "spans", limit=5, fields="summary", **({"cursor": cursor} if cursor else {}))
        pages.append([s["event_id"] for s in page["items"]])
        if (cursor := page["next_cursor"]) is None:
            break
    assert [len(p) for p in pages] == [5, 5, 2] and [e for p in pages for e in p] == [s["event_id"] for s in full]

    r = httpx.get(
        f"{server.url}/v1/projects/{server.project}/spans", params={"fields": "everything"}, headers=server.headers()
    )
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "bad_fields" and "'summary'" in error["message"]


def _span(trace: str, kind: str, start: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{trace}-{kind}", "trace_id": trace, "span_id": f"{trace}-{kind}", "name": f"{kind} step",
            "type": kind, "start_time": 1_795_000_000_000 + start, **extra}  # fmt: skip


# three traces of an agent, an LLM call and a tool call each; the conditions sit on single spans
FILTERED = [
    span
    for i, (model, plan, failure) in enumerate(
        [("gpt-4o", "pro", "TimeoutError"), ("claude", "free", None), ("gemini", "pro", "ValueError")]
    )
    for span in (
        _span(f"bf-{i}", "agent", i * 1000, parent_span_id=None),
        _span(
            f"bf-{i}",
            "llm",
            i * 1000 + 10,
            parent_span_id=f"bf-{i}-agent",
            model=model,
            metadata={"plan": plan},
            prompt={"name": "support", "version": str(i + 1)},
        ),
        _span(
            f"bf-{i}",
            "tool",
            i * 1000 + 20,
            parent_span_id=f"bf-{i}-agent",
            **({"error": {"type": failure, "message": "failed"}} if failure else {}),
        ),
    )
]


@pytest.fixture(scope="module")
def filtered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path_factory.mktemp("span-filters") / "data").start()
    try:
        assert post(server, FILTERED).status_code == 202
        scores = [
            {"trace_id": t, "name": "accuracy", "value": v} for t, v in (("bf-0", 0.9), ("bf-1", 0.1), ("bf-2", 0.7))
        ]
        base = f"{server.url}/v1/projects/{server.project}"
        assert httpx.post(f"{base}/scores", json={"scores": scores}, headers=server.headers()).status_code == 202
        deadline = time.monotonic() + 20
        while len(httpx.get(f"{base}/scores", headers=server.headers()).json()["items"]) < 3:
            assert time.monotonic() < deadline, "scores not readable"
            time.sleep(0.05)
        wait_visible(server, "bf-2", timeout=20)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ([("attr", "error.type:eq:TimeoutError")], ["bf-0-tool"]),
        ([("attr", "error.type:exists")], ["bf-2-tool", "bf-0-tool"]),
        ([("meta", "plan:eq:pro")], ["bf-2-llm", "bf-0-llm"]),
        ([("model", "gpt-4o"), ("model", "claude")], ["bf-1-llm", "bf-0-llm"]),
        ([("kind", "agent"), ("kind", "tool"), ("status", "error")], ["bf-2-tool", "bf-0-tool"]),
        ([("kind", "llm_call"), ("kind", "tool"), ("attr", "error.type:ne:ValueError")], ["bf-0-tool"]),
        ([("prompt_name", "support"), ("prompt_version", "2")], ["bf-1-llm"]),
        ([("score", "accuracy:gte:0.5"), ("kind", "tool")], ["bf-2-tool", "bf-0-tool"]),
        ([("score", "accuracy:gte:0.5"), ("meta", "plan:eq:free")], []),
    ],
)
def test_the_filter_bars_conditions_select_spans(
    filtered: RunningServer, params: list[tuple[str, str]], want: list[str]
) -> None:
    query = [("from", "2026-01-01T00:00:00Z"), ("fields", "summary"), ("limit", "1000"), *params]
    r = httpx.get(f"{filtered.url}/v1/projects/{filtered.project}/spans", params=query, headers=filtered.headers())
    assert r.status_code == 200, r.text
    assert [s["span_id"] for s in r.json()["items"]] == want
