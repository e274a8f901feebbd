"""The lists' sorting, totals and counts through the real server: `sort`/`order` with cursors, `total`, a 400 naming
the allowed columns, trace-counting facets, and users' error rates per trace with LLM calls apart from spans."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson

from tests.e2e.server import RunningServer
from tests.e2e.test_ingest_query import get, post, wait_visible

BASE_MS = 1_795_000_000_000
COSTS = [0.0031, 0.5, None, 0.0007, 2.25, 0.0031, 0.12, 0.0, 0.0452]


def _trace(i: int, cost: float | None, user: str, failed: bool) -> list[dict[str, Any]]:
    """agent → two LLM calls of model m-{i % 2} (carrying the trace's cost) → a tool that fails when `failed`."""
    t = BASE_MS + i * 60_000
    common = {"trace_id": f"t{i}", "user_id": user, "session_id": f"s-{user}", "environment": "prod"}
    spans: list[dict[str, Any]] = [
        {**common, "event_id": f"t{i}-root", "span_id": f"t{i}-root", "name": f"agent-{i}", "type": "agent",
         "start_time": t, "end_time": t + 1000 + 100 * i},
        {**common, "event_id": f"t{i}-tool", "span_id": f"t{i}-tool", "parent_span_id": f"t{i}-root",
         "name": "search", "type": "tool", "start_time": t + 500, "end_time": t + 600,
         **({"status": "error", "error": {"type": "Timeout", "message": "slow"}} if failed else {})},
    ]  # fmt: skip
    for k in range(2):
        llm = {**common, "event_id": f"t{i}-llm{k}", "span_id": f"t{i}-llm{k}", "parent_span_id": f"t{i}-root",
               "name": "chat", "type": "llm", "model": f"m-{i % 2}", "start_time": t + 10 + k, "end_time": t + 400,
               "usage": {"input_tokens": 10 * i, "output_tokens": 5}}  # fmt: skip
        if cost is not None:
            llm["cost"] = {"total": cost / 2}
        spans.append(llm)
    return spans


def _seed(server: RunningServer) -> None:
    events = []
    for i, cost in enumerate(COSTS):
        user = "u-half" if i < 2 else f"u-{i % 3}"
        events += _trace(i, cost, user, failed=i == 1 or i == 5)
    assert post(server, events).status_code == 202
    wait_visible(server, f"t{len(COSTS) - 1}")


def _walk(server: RunningServer, path: str, **params: Any) -> tuple[list[dict[str, Any]], list[int | None]]:
    items: list[dict[str, Any]] = []
    totals = []
    cursor = None
    while True:
        page = get(server, path, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        totals.append(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items, totals


def test_traces_sorted_by_cost_walk_every_trace_once_in_order(server: RunningServer) -> None:
    _seed(server)
    items, totals = _walk(server, "traces", sort="cost", order="desc")
    assert [t["trace_id"] for t in items] == ["t4", "t1", "t6", "t8", "t5", "t0", "t3", "t7", "t2"]  # ties: id desc
    assert [t["total_cost"] for t in items[:2]] == [2.25, 0.5] and items[-1]["total_cost"] is None  # unknown last
    assert totals == [len(COSTS)] + [None] * (len(totals) - 1)  # the total comes with the first page
    asc, _ = _walk(server, "traces", sort="cost", order="asc")
    assert [t["trace_id"] for t in asc] == ["t7", "t3", "t0", "t5", "t8", "t6", "t1", "t4", "t2"]
    by_duration, _ = _walk(server, "traces", sort="duration", order="desc", user_id="u-1")
    assert [t["trace_id"] for t in by_duration] == ["t7", "t4"]
    assert get(server, "traces", user_id="u-1")["total"] == 2
    assert get(server, "traces")["total"] == len(COSTS)  # the default order counts too


def test_sessions_and_users_sort_count_and_rate_errors_per_trace(server: RunningServer) -> None:
    _seed(server)
    users, totals = _walk(server, "users", sort="user", order="asc")
    assert [u["user_id"] for u in users] == ["u-0", "u-1", "u-2", "u-half"] and totals[0] == 4
    half = users[-1]
    # 1 of its 2 traces failed (1 of its 8 spans): 50% per trace, not 12.5% per span
    assert (half["trace_count"], half["error_traces"], half["span_count"], half["llm_calls"]) == (2, 1, 8, 4)
    by_rate, _ = _walk(server, "users", sort="error_rate", order="desc")
    assert [u["user_id"] for u in by_rate][:2] == ["u-half", "u-2"]  # 1/2, then 1/3 (t5 failed: u-2)
    sessions, totals = _walk(server, "sessions", sort="cost", order="desc")
    assert [s["session_id"] for s in sessions] == ["s-u-1", "s-u-half", "s-u-0", "s-u-2"] and totals[0] == 4
    assert sessions[0]["llm_calls"] == 4 and sessions[0]["trace_count"] == 2


def test_facets_count_traces_not_spans(server: RunningServer) -> None:
    _seed(server)
    answer = get(server, "trace-facets", group_by="model", top=5)
    counts = {row["value"]: (row["traces"], row["spans"]) for row in answer["items"]}
    assert answer["group_by"] == "model"
    assert counts["m-0"] == (5, 10) and counts["m-1"] == (4, 8)  # two LLM calls per trace
    half = get(server, "trace-facets", group_by="model", user_id="u-half")["items"]
    assert {row["value"]: row["traces"] for row in half} == {"(none)": 2, "m-0": 1, "m-1": 1}


def _error(server: RunningServer, path: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/{path}", params=params, headers=server.headers())
    assert r.status_code == 400, r.text
    body: dict[str, Any] = r.json()["error"]
    return body


def test_a_bad_sort_or_a_cursor_of_another_sort_is_a_400(server: RunningServer) -> None:
    _seed(server)
    bad = _error(server, "traces", sort="price")
    assert bad["code"] == "bad_sort" and "'cost'" in bad["message"] and "'duration'" in bad["message"]
    assert _error(server, "users", sort="cost", order="sideways")["code"] == "bad_sort"
    assert "'error_rate'" in _error(server, "users", sort="name")["message"]
    cursor = get(server, "traces", sort="cost", limit=2)["next_cursor"]
    assert _error(server, "traces", sort="name", cursor=cursor)["code"] == "bad_cursor"
    assert _error(server, "traces", cursor=cursor)["code"] == "bad_cursor"  # newest first takes [time, id] only
    forged = base64.urlsafe_b64encode(orjson.dumps(["1; DROP", "t1", "cost", "desc"])).decode()
    assert _error(server, "traces", sort="cost", cursor=forged)["code"] == "bad_cursor"
