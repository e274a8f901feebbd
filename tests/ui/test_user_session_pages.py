"""A page per end user and per session: totals (traces, LLM calls, spans, tokens, cost, errors, first/last seen)
equal to the seed's and the API's, their traces linking to the trace view, and the transcript with the turns of
failed traces marked. The Users and Sessions lists open these pages."""

from __future__ import annotations

from contextlib import closing
from typing import Any

import pytest

from tests.ui.conftest import UI

sync_api = pytest.importorskip("playwright.sync_api")

LLM_KINDS = ("llm", "chat")


def _cost(usd: float) -> str:
    """lib/format.ts fmtCost for the values of the seed (between $0.01 and $1)."""
    return f"${usd:.4f}".rstrip("0").rstrip(".")


def _of(ui: UI, key: str, value: str) -> dict[str, Any]:
    events = [e for e in ui.seed.events if e.get(key) == value]
    failed = {e["trace_id"] for e in events if e.get("status") == "error"}
    llm = [e for e in events if e.get("type") in LLM_KINDS]
    return {
        "traces": sorted({e["trace_id"] for e in events}),
        "failed": failed,
        "llm": llm,
        "spans": len(events),
        "cost": sum(e.get("cost", {}).get("total", 0.0) for e in events),
        "users": sorted({e["user_id"] for e in events}),
    }


def _value(page: Any, test_id: str) -> str:
    return str(page.get_by_test_id("activity-totals").get_by_test_id(test_id).locator(".stat-value").inner_text())


def _check_page(ui: UI, page: Any, key: str, value: str) -> dict[str, Any]:
    want = _of(ui, key, value)
    totals = page.get_by_test_id("activity-totals")
    traces = totals.get_by_test_id("stat-traces").locator(".stat-value")
    traces.get_by_text(str(len(want["traces"])), exact=True).wait_for()
    assert _value(page, "stat-llm-calls") == str(len(want["llm"]))
    assert _value(page, "stat-spans") == str(want["spans"])
    assert _value(page, "stat-cost") == _cost(want["cost"])
    traces_sub = totals.get_by_test_id("stat-traces").inner_text()
    assert f"{len(want['failed'])} with an error" in traces_sub
    seen = totals.get_by_test_id("stat-seen").locator(".stat-value")
    sync_api.expect(seen).not_to_have_text("—")  # filled in once the list row arrives
    with closing(ui.admin_client()) as client:
        params = {"from": "2000-01-01T00:00:00Z", key: value}
        api = client.get(f"/v1/projects/{ui.server.project}/metrics", params=params).json()["series"][0]["points"][0]
    assert (api["traces"], api["llm_calls"], api["count"]) == (len(want["traces"]), len(want["llm"]), want["spans"])
    # the traces, each a link to its trace view
    links = page.get_by_test_id("activity-trace").get_by_role("link")
    links.first.wait_for()
    hrefs = sorted(str(links.nth(i).get_attribute("href")).rsplit("/", 1)[1] for i in range(links.count()))
    assert hrefs == want["traces"]
    # the transcript: one turn per LLM call, those of failed traces marked
    turns = page.get_by_test_id("session-transcript").get_by_test_id("turn")
    turns.first.wait_for()
    assert turns.count() == len(want["llm"])
    marked = page.locator("[data-testid=turn][data-error]")
    assert marked.count() == sum(1 for e in want["llm"] if e["trace_id"] in want["failed"])
    if want["failed"]:
        assert "error" in marked.first.get_by_test_id("turn-error").inner_text()
    return want


def test_user_page_from_the_users_list(ui: UI, page: Any) -> None:
    ui.login(page)
    page.get_by_role("link", name="Users").click()
    page.get_by_test_id("users-row").filter(has_text="user-2").click()
    page.wait_for_url("**/ui/users/user-2**")
    want = _check_page(ui, page, "user_id", "user-2")
    assert len(want["failed"]) == 3
    sessions = len({e["session_id"] for e in ui.seed.events if e.get("user_id") == "user-2"})
    assert page.get_by_test_id("user-sessions").inner_text() == f"{sessions} sessions"
    first = page.get_by_test_id("activity-trace").get_by_role("link").first
    trace_id = str(first.get_attribute("href")).rsplit("/", 1)[1]
    first.click()
    page.wait_for_url(f"**/ui/traces/{trace_id}**")
    assert trace_id in want["traces"]


def test_session_page_links_its_user_and_marks_failed_turns(ui: UI, page: Any) -> None:
    ui.login(page)
    page.get_by_role("link", name="Sessions").click()
    page.get_by_test_id("sessions-row").filter(has_text="sess-6").click()
    page.wait_for_url("**/ui/sessions/sess-6**")
    want = _check_page(ui, page, "session_id", "sess-6")
    assert len(want["failed"]) == 1  # chat-005's tool call timed out: its two turns are marked
    assert "What is the weather in" in page.get_by_test_id("session-transcript").inner_text()
    user = page.get_by_test_id("session-user")
    assert user.inner_text() == f"User {max(want['users'])}"
    user.click()
    page.wait_for_url(f"**/ui/users/{max(want['users'])}**")
    _check_page(ui, page, "user_id", max(want["users"]))
