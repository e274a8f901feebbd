"""End to end: the span list behind the UI's span table: `fields=summary` answers the table's columns only, with
the same rows, filters and cursor pages as the full answer, and refuses an unknown `fields` with a 400."""

from __future__ import annotations

import httpx

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
