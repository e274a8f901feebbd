"""The trace view's analyst tools: copy buttons for ids, a shareable link that reopens the same span, user and session
as links, the trace's input and output, timeline zoom, the agent graph and retrieved documents with their scores.

The graph and the documents are checked on a trace sent over OTLP (OpenInference and OpenTelemetry GenAI attributes)
to a project of the test's own; the rest on the seeded chat traces (`seed.chat_trace`)."""

from __future__ import annotations

import secrets
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.ui.conftest import UI

TRACE = "6f1c0a8e2b4d4e7fa1b2c3d4e5f60718"


def _clipboard(page: Any) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def _grant_clipboard(ui: UI, page: Any) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.url)


def test_copy_buttons_and_the_share_link_reopen_the_same_span(ui: UI, page: Any, browser: Any, tmp_path: Path) -> None:
    _grant_clipboard(ui, page)
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces/chat-005")
    page.get_by_test_id("span-row").first.wait_for()
    page.get_by_test_id("copy-trace-id").click()
    page.get_by_test_id("copy-trace-id").get_by_text("Copied").wait_for()
    assert _clipboard(page) == "chat-005"

    page.get_by_test_id("span-row").filter(has_text="get_weather").click()
    detail = page.get_by_test_id("span-detail")
    detail.get_by_test_id("span-id").get_by_text("chat-005-tool", exact=True).wait_for()
    detail.get_by_test_id("copy-span-id").click()
    detail.get_by_test_id("copy-span-id").get_by_text("Copied").wait_for()
    assert _clipboard(page) == "chat-005-tool"
    detail.get_by_test_id("copy-span-link").click()
    detail.get_by_test_id("copy-span-link").get_by_text("Copied").wait_for()
    link = _clipboard(page)
    assert link == f"{ui.url}/ui/traces/chat-005?span=chat-005-tool"
    page.screenshot(path=str(tmp_path / "trace-copied.png"))

    # the link, opened in another browser (signed in there), shows the same span selected
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        second = other.new_page()
        ui.login(second)
        second.goto(link)
        second.get_by_test_id("span-detail").get_by_test_id("span-id").get_by_text("chat-005-tool").wait_for()
        assert second.get_by_test_id("span-name").inner_text() == "get_weather"
        selected = second.locator('[data-testid="span-row"][aria-selected="true"]')
        assert "get_weather" in selected.inner_text()
    finally:
        other.close()


def test_user_session_links_and_the_trace_input_and_output(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces/chat-005")
    events = {e["span_id"]: e for e in ui.seed.events if e["trace_id"] == "chat-005"}
    root = events["chat-005-root"]
    user = page.get_by_test_id("trace-user")
    assert user.inner_text() == root["user_id"] and user.get_attribute("href") == f"/ui/users/{root['user_id']}"
    session = page.get_by_test_id("trace-session")
    assert session.get_attribute("href") == f"/ui/sessions/{root['session_id']}"

    # the root agent span carries no input or output: the first LLM call's input and the last one's output stand in
    asked = events["chat-005-llm1"]["input"][1]["content"]
    answered = events["chat-005-llm2"]["output"]
    page.get_by_test_id("trace-input").get_by_text(asked).wait_for()
    page.get_by_test_id("trace-output").get_by_text(answered).wait_for()

    session.click()
    page.wait_for_url(f"**/ui/sessions/{root['session_id']}")


def test_timeline_zoom_by_buttons_and_by_dragging_the_axis(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces/chat-005")  # spans from 0 to 1,800 ms; the tool runs 710-900 ms
    ticks = page.get_by_test_id("tick")
    ticks.last.get_by_text("1.80 s").wait_for()
    tool = page.get_by_test_id("span-row").filter(has_text="get_weather")
    assert tool.locator(".span-bar").count() == 1

    page.get_by_role("button", name="Zoom in").click()  # the middle half: 450-1,350 ms
    assert [t.inner_text() for t in ticks.all()] == ["450 ms", "675 ms", "900 ms", "1.13 s", "1.35 s"]
    page.get_by_role("button", name="Reset zoom").click()
    ticks.last.get_by_text("1.80 s").wait_for()

    axis = page.get_by_test_id("time-axis").bounding_box()
    y = axis["y"] + axis["height"] / 2
    page.mouse.move(axis["x"] + 1, y)
    page.mouse.down()
    page.mouse.move(axis["x"] + axis["width"] * 0.25, y, steps=5)
    page.mouse.up()  # 0-25 % of 1,800 ms: the tool span (710-900 ms) is out of the window
    ticks.last.get_by_text("450 ms").wait_for()
    assert tool.locator(".span-bar").count() == 0
    assert page.get_by_test_id("span-row").filter(has_text="support-agent").locator(".span-bar").count() == 1


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        if isinstance(value, float):
            typed: dict[str, Any] = {"doubleValue": value}
        elif isinstance(value, int):
            typed = {"intValue": str(value)}
        else:
            typed = {"stringValue": value}
        out.append({"key": key, "value": typed})
    return out


def _otlp_trace(now_ns: int) -> list[dict[str, Any]]:
    """planner (agent) -> 3 chats, 2 x search (tool), a retriever (OpenInference) and researcher (agent);
    researcher -> 2 x fetch (tool) and a GenAI retrieval."""
    spans: list[dict[str, Any]] = []

    def span(sid: str, parent: str | None, name: str, at_ms: int, attrs: dict[str, Any]) -> None:
        start = now_ns + at_ms * 1_000_000
        spans.append({"traceId": TRACE, "spanId": sid, "parentSpanId": parent or "", "name": name, "kind": 1,
                      "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 50_000_000),
                      "attributes": _attrs(attrs)})  # fmt: skip

    agent = {"gen_ai.operation.name": "invoke_agent"}
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai"}
    tool = {"gen_ai.operation.name": "execute_tool"}
    span("a000000000000001", None, "planner", 0, agent)
    for k in range(3):
        span(f"c00000000000000{k}", "a000000000000001", "chat gpt-4o", 100 + k * 100, chat)
    for k in range(2):
        span(f"d00000000000000{k}", "a000000000000001", "search", 500 + k * 100, {**tool, "gen_ai.tool.name": "search"})
    span("e000000000000001", "a000000000000001", "vector-lookup", 700, {
        "openinference.span.kind": "RETRIEVER", "input.value": "capital of France",
        "retrieval.documents.0.document.id": "doc-paris", "retrieval.documents.0.document.score": 0.92,
        "retrieval.documents.0.document.content": "Paris is the capital of France.",
        "retrieval.documents.0.document.metadata": '{"source": "atlas"}',
        "retrieval.documents.1.document.id": "doc-lyon", "retrieval.documents.1.document.score": 0.41,
        "retrieval.documents.1.document.content": "Lyon is a city in France.",
    })  # fmt: skip
    span("b000000000000001", "a000000000000001", "researcher", 800, agent)
    for k in range(2):
        span(f"f00000000000000{k}", "b000000000000001", "fetch", 850 + k * 60, {**tool, "gen_ai.tool.name": "fetch"})
    docs = [{"id": "kb-7", "content": "The Seine flows through Paris.", "score": 0.77}]
    span("9000000000000001", "b000000000000001", "kb search", 990,
         {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": orjson.dumps(docs).decode()})  # fmt: skip
    return spans


def _send_project_trace(ui: UI) -> tuple[str, dict[str, Any]]:
    """A new project holding the OTLP trace; its id and the trace as the API answers it."""
    pid = ui.new_project(f"graph-{secrets.token_hex(3)}")
    with closing(ui.admin_client()) as admin:
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "ingest", "name": "ui graph test"})
        assert r.status_code == 201, r.text
        key = r.json()["api_key"]
        body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": _otlp_trace(time.time_ns())}]}]}
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        r = httpx.post(f"{ui.url}/v1/traces", content=orjson.dumps(body), headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = admin.get(f"/v1/projects/{pid}/traces/{TRACE}")
            if r.status_code == 200 and len(r.json()["spans"]) == 11:
                return pid, r.json()
            time.sleep(0.2)
    raise AssertionError(f"the OTLP trace did not become queryable: {r.text}")


def test_agent_graph_and_retrieved_documents_of_an_otlp_trace(ui: UI, page: Any, tmp_path: Path) -> None:
    pid, stored = _send_project_trace(ui)
    spans = {s["span_id"]: s for s in stored["spans"]}
    # how the server stores them: OpenInference's flattened documents and GenAI's list stay in `attributes`
    assert spans["e000000000000001"]["kind"] == "retriever"
    assert spans["e000000000000001"]["attributes"]["retrieval.documents.0.document.score"] == 0.92
    assert "gen_ai.retrieval.documents" in spans["9000000000000001"]["attributes"]

    ui.login(page)
    page.get_by_test_id("project-switcher").select_option(pid)
    page.goto(f"{ui.url}/ui/traces/{TRACE}")
    page.get_by_role("tab", name="Agent graph").click()
    page.wait_for_url("**view=graph**")
    nodes = page.get_by_test_id("graph-node")
    nodes.first.wait_for()
    seen = {(n.get_attribute("data-role"), n.get_attribute("data-name")): int(n.get_attribute("data-count") or 0)
            for n in nodes.all()}  # fmt: skip
    counts: dict[tuple[str, str], int] = {}
    role = {"agent": "agent", "tool": "tool", "chat": "llm", "llm": "llm", "retriever": "retriever"}
    for s in stored["spans"]:
        counts[(role[s["kind"]], s["name"])] = counts.get((role[s["kind"]], s["name"]), 0) + 1
    assert seen == counts == {("agent", "planner"): 1, ("llm", "chat gpt-4o"): 3, ("tool", "search"): 2,
                              ("retriever", "vector-lookup"): 1, ("agent", "researcher"): 1, ("tool", "fetch"): 2,
                              ("retriever", "kb search"): 1}  # fmt: skip
    edges = {(e.get_attribute("data-from"), e.get_attribute("data-to")): e.get_attribute("data-count")
             for e in page.get_by_test_id("graph-edge").all()}  # fmt: skip
    assert edges[("agent:planner", "tool:search")] == "2" and edges[("agent:researcher", "tool:fetch")] == "2"
    assert edges[("agent:planner", "agent:researcher")] == "1" and len(edges) == 6
    page.screenshot(path=str(tmp_path / "agent-graph.png"))

    # a node lists its spans and selects the first; its documents show with ids and scores
    page.locator('[data-testid="graph-node"][data-name="search"]').click()
    assert page.get_by_test_id("graph-span").count() == 2
    page.get_by_test_id("span-detail").get_by_test_id("span-id").get_by_text("d000000000000000").wait_for()
    page.locator('[data-testid="graph-node"][data-name="vector-lookup"]').click()
    docs = page.get_by_test_id("retrieved-document")
    docs.first.wait_for()
    shown = [(d.get_by_test_id("document-id").inner_text(), d.get_by_test_id("document-score").inner_text(),
              d.get_by_test_id("document-content").inner_text()) for d in docs.all()]  # fmt: skip
    assert shown == [("doc-paris", "score 0.92", "Paris is the capital of France."),
                     ("doc-lyon", "score 0.41", "Lyon is a city in France.")]  # fmt: skip
    assert "atlas" in docs.first.inner_text()
    page.screenshot(path=str(tmp_path / "retrieved-documents.png"))

    page.locator('[data-testid="graph-node"][data-name="kb search"]').click()
    page.get_by_test_id("span-detail").get_by_test_id("span-id").get_by_text("9000000000000001").wait_for()
    doc = page.get_by_test_id("retrieved-document")
    doc.get_by_test_id("document-id").get_by_text("kb-7").wait_for()  # once the whole span has loaded
    assert doc.count() == 1 and doc.get_by_test_id("document-id").inner_text() == "kb-7"
    assert doc.get_by_test_id("document-score").inner_text() == "score 0.77"
    assert doc.get_by_test_id("document-content").inner_text() == "The Seine flows through Paris."
