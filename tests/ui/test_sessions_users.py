"""Sessions (a conversation's traces and transcript) and users (usage per end user)."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import UI


def test_sessions_list_and_transcript(ui: UI, page: Any) -> None:
    ui.login(page)
    page.get_by_role("link", name="Sessions").click()
    page.get_by_test_id("sessions-row").filter(has_text="sess-3").click()
    page.wait_for_url("**/ui/sessions/sess-3**")
    roots = [e for e in ui.seed.events if e["event_id"].endswith("-root")]
    traces = [e["trace_id"] for e in roots if e.get("session_id") == "sess-3"]
    timeline = page.get_by_test_id("session-traces")
    timeline.get_by_role("link").first.wait_for()
    assert timeline.get_by_role("link").count() == len(traces)
    transcript = page.get_by_test_id("session-transcript")
    transcript.get_by_text("What is the weather in").first.wait_for()
    assert "It is sunny and 21 degrees" in transcript.inner_text()


def test_users_show_usage_and_open_their_traces(ui: UI, page: Any) -> None:
    ui.login(page)
    page.get_by_role("link", name="Users").click()
    rows = page.get_by_test_id("users-row")
    rows.first.wait_for()
    assert rows.count() == 4
    rows.filter(has_text="user-2").click()
    page.wait_for_url("**/ui/users/user-2**")
    n = sum(1 for e in ui.seed.events if e.get("user_id") == "user-2" and e["event_id"].endswith("-root"))
    page.get_by_test_id("activity-open-traces").click()
    page.wait_for_url("**user_id=user-2**")
    page.get_by_test_id("traces-count").get_by_text(f"{n} traces").wait_for()
