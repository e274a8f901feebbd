"""OpenTelemetry data in the UI, sent through the real OTLP/HTTP endpoint (OTLP/JSON) to a server of its own:
GenAI `chat` spans are LLM calls in the session transcript (cut at a page of 200, said so, loadable), `enduser.id`
is the user, the trace view's status agrees with the list (unset reads ok), a tool call shows once in the span
detail, the mapped `gen_ai.*` attributes are listed as mapped, and folded groups named alike are told apart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.server import RunningServer
from tests.ui.conftest import Box

SESSION = "otel-session-1"
CHATS = 210  # more than a transcript page (200)
TOOL_TRACE = "aa" * 16
GROUPS_TRACE = "bb" * 16
ENDUSER_TRACE = "cc" * 16
AGENT = "invoke_agent researcher-with-a-rather-long-name-that-the-waterfall-truncates"


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _span(
    trace: str, span: str, name: str, start_ms: int, end_ms: int, attrs: dict[str, Any], parent: str = ""
) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(start_ms * 1_000_000),
        "endTimeUnixNano": str(end_ms * 1_000_000),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
        "status": {"code": 0},  # UNSET, as instrumentations leave it
    }


def _messages(role: str, text: str) -> str:
    return orjson.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}]).decode()


def _chat(i: int, t0: int) -> dict[str, Any]:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.input.messages": _messages("user", f"question number {i}"),
        "gen_ai.output.messages": _messages("assistant", f"answer number {i}"),
        "session.id": SESSION,
    }
    return _span(f"{i + 1:032x}", f"{i + 1:016x}", "chat gpt-4o", t0 + i * 1000, t0 + i * 1000 + 500, attrs)


def _tool_trace(t0: int) -> list[dict[str, Any]]:
    call = {"type": "tool_call", "id": "call-77", "name": "get_weather", "arguments": {"city": "Oslo"}}
    output = orjson.dumps([{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]).decode()
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 42,
        "gen_ai.input.messages": _messages("user", "weather in Oslo?"),
        "gen_ai.output.messages": output,
        "user.id": "otel-user",
    }
    return [_span(TOOL_TRACE, "1" * 16, "chat gpt-4o", t0, t0 + 800, attrs)]


def _groups_trace(t0: int) -> list[dict[str, Any]]:
    root = "2" * 16
    spans = [_span(GROUPS_TRACE, root, "invoke_workflow", t0, t0 + 9000, {"gen_ai.operation.name": "invoke_workflow"})]
    for g in range(3):
        agent, at = f"{g + 1:016x}", t0 + g * 3000
        spans.append(_span(GROUPS_TRACE, agent, AGENT, at, at + 2900, {"gen_ai.operation.name": "invoke_agent"}, root))
        for k in range(4):
            tool = {"gen_ai.operation.name": "execute_tool"}
            sid = f"{g + 1:08x}{k + 1:08x}"
            spans.append(_span(GROUPS_TRACE, sid, "execute_tool search", at + k * 100, at + k * 100 + 50, tool, agent))
    return spans


def _enduser_trace(t0: int) -> list[dict[str, Any]]:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "enduser.id": "end-user-7"}
    return [_span(ENDUSER_TRACE, "3" * 16, "chat gpt-4o", t0, t0 + 300, attrs)]


def _send(server: RunningServer, spans: list[dict[str, Any]]) -> None:
    body = {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "otel-app")]},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}  # fmt: skip
    headers = {**server.headers(), "Content-Type": "application/json"}
    r = httpx.post(f"{server.url}/v1/traces", content=orjson.dumps(body), headers=headers, timeout=30)
    assert r.status_code == 200 and "rejectedSpans" not in r.text, r.text


@pytest.fixture(scope="module")
def otel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    server = RunningServer(tmp_path_factory.mktemp("ui-otel") / "data").start()
    try:
        t0 = int(time.time() * 1000) - 30 * 60_000
        spans = [_chat(i, t0) for i in range(CHATS)]
        spans += _tool_trace(t0 + 300_000) + _groups_trace(t0 + 310_000) + _enduser_trace(t0 + 320_000)
        _send(server, spans)
        want = len(spans)
        deadline = time.monotonic() + 60
        with closing(httpx.Client(base_url=server.url, headers=server.headers(), timeout=30)) as client:
            while time.monotonic() < deadline:
                r = client.get(f"/v1/projects/{server.project}/metrics", params={"from": "2000-01-01T00:00:00Z"})
                series = r.json()["series"]
                if series and series[0]["points"][0]["count"] == want:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"OTLP spans did not all become queryable: {r.text}")
        yield Box(server)
    finally:
        server.stop()


def test_llm_call_kind_group_matches_chat_and_llm_spans(otel: Box) -> None:
    """`kind=llm_call` is every generation-like kind: the OTel `chat` spans are LLM calls; `kind=llm` alone is not."""
    with closing(otel.admin_client()) as client:
        base = f"/v1/projects/{otel.server.project}/spans"
        params = {"from": "2000-01-01T00:00:00Z", "session_id": SESSION, "limit": 1000}
        assert client.get(base, params={**params, "kind": "llm"}).json()["items"] == []
        calls = client.get(base, params={**params, "kind": "llm_call"}).json()["items"]
        assert len(calls) == CHATS and {c["kind"] for c in calls} == {"chat"}


def test_session_transcript_shows_chat_spans_and_says_when_it_is_cut(otel: Box, page: Any) -> None:
    otel.login(page)
    page.goto(f"{otel.url}/ui/sessions/{SESSION}?range=24h")
    transcript = page.get_by_test_id("session-transcript")
    transcript.get_by_text(f"answer number {CHATS - 1}", exact=True).wait_for()
    cut = page.get_by_test_id("transcript-cut")
    cut.get_by_text(f"Showing the latest 200 of {CHATS} LLM calls").wait_for()
    assert "answer number 0" not in transcript.inner_text()
    cut.get_by_role("button", name="Load earlier calls").click()
    transcript.get_by_text("answer number 0", exact=True).wait_for()
    assert transcript.locator(".turn").count() == CHATS
    assert cut.count() == 0


def test_enduser_id_is_the_user_in_the_trace_and_in_users(otel: Box, page: Any) -> None:
    otel.login(page)
    page.goto(f"{otel.url}/ui/traces?range=24h")
    row = page.locator(f'[data-trace-id="{ENDUSER_TRACE}"]')
    row.get_by_text("end-user-7").wait_for()
    page.goto(f"{otel.url}/ui/users?range=24h")
    page.get_by_test_id("users-row").filter(has_text="end-user-7").wait_for()


def test_otel_span_detail_agrees_with_the_list_one_tool_call_and_mapped_attributes(otel: Box, page: Any) -> None:
    otel.login(page)
    page.goto(f"{otel.url}/ui/traces?range=24h")
    listed = page.locator(f'[data-trace-id="{TOOL_TRACE}"]').locator(".badge")
    assert listed.inner_text() == "ok"
    page.goto(f"{otel.url}/ui/traces/{TOOL_TRACE}")
    detail = page.get_by_test_id("span-detail")
    detail.get_by_test_id("tool-call").first.wait_for()
    assert detail.locator(".detail-head .badge").inner_text() == "ok"  # unset, as the list shows it
    detail.get_by_text("Loading span…").wait_for(state="detached")
    assert detail.get_by_test_id("tool-call").count() == 1
    detail.get_by_text("Attributes", exact=True).click()
    mapped = detail.get_by_test_id("mapped-attributes")
    model = mapped.locator("tr", has_text="gen_ai.request.model")
    assert "gpt-4o" in model.inner_text() and "mapped → model" in model.inner_text()
    assert "gen_ai.usage.input_tokens" in mapped.inner_text()


def test_folded_groups_named_alike_are_told_apart_and_have_tooltips(otel: Box, page: Any) -> None:
    otel.login(page)
    page.goto(f"{otel.url}/ui/traces/{GROUPS_TRACE}")
    page.get_by_test_id("span-row").first.wait_for()
    page.locator(".waterfall-tools").get_by_role("button", name="Collapse").click()
    rows = page.get_by_test_id("span-row").filter(has_text="researcher")
    assert rows.count() == 3
    labels = [r.locator(".span-label").inner_text() for r in rows.all()]
    assert len(set(labels)) == 3, labels
    assert all("+4" in label for label in labels)
    titles = {r.locator(".span-label .ellipsis").get_attribute("title") for r in rows.all()}
    assert titles == {AGENT}
