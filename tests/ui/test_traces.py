"""The traces explorer (filters in the URL) and the trace view (spans, tool calls, 30,000 spans)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.ui import seed as seeding
from tests.ui.conftest import UI


def _count(page: Any, n: int) -> None:
    page.get_by_test_id("traces-count").get_by_text(f"{n} traces").wait_for()


def test_filter_traces_table(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    page.get_by_role("link", name="Traces", exact=True).click()
    _count(page, len(ui.seed.chat_traces) + 1)
    claude = ui.seed.model_traces["claude-3-5-sonnet"]
    page.get_by_label("Model", exact=True).fill("claude-3-5-sonnet")
    page.get_by_label("Model", exact=True).press("Enter")
    page.wait_for_url("**model=claude-3-5-sonnet**")
    _count(page, len(claude))
    shown = {r.get_attribute("data-trace-id") for r in page.get_by_test_id("trace-row").all()}
    assert shown == claude
    # a second filter narrows further; the full-text search reads inputs and outputs
    page.get_by_label("Full-text search").fill("Tokyo")
    page.get_by_label("Full-text search").press("Enter")
    page.wait_for_url("**q=Tokyo**")
    tokyo = {t for t in claude if int(t.split("-")[1]) % 4 == 2}
    _count(page, len(tokyo))
    page.screenshot(path=str(tmp_path / "traces-filtered.png"))
    # the filters live in the URL: a reload shows the same table
    page.reload()
    _count(page, len(tokyo))
    page.get_by_role("button", name="Clear all").click()
    _count(page, len(ui.seed.chat_traces) + 1)


def test_status_filter_and_keyboard_open(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces?status=error")
    failed = {e["trace_id"] for e in ui.seed.events if e.get("status") == "error"}
    _count(page, len(failed))
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/traces/chat-*")
    page.get_by_test_id("span-row").first.wait_for()


def test_trace_view_shows_spans_and_tool_call_arguments(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    page.get_by_role("link", name="Traces", exact=True).click()
    page.locator('[data-trace-id="chat-005"]').click()
    page.wait_for_url("**/ui/traces/chat-005")
    rows = page.get_by_test_id("span-row")
    rows.first.wait_for()
    assert rows.count() == 4
    assert "support-agent" in rows.first.inner_text()
    rows.filter(has_text="LLM").first.click()
    detail = page.get_by_test_id("span-detail")
    detail.get_by_test_id("msg-system").wait_for()
    assert "What is the weather in Berlin?" in detail.get_by_test_id("msg-user").inner_text()
    args = detail.get_by_test_id("tool-args").first
    assert '"city": "Berlin"' in args.inner_text()
    assert "get_weather" in detail.get_by_test_id("tool-call").first.inner_text()
    assert "$0.0015" in detail.get_by_test_id("span-cost").inner_text()
    meta = detail.get_by_test_id("span-model-meta").inner_text()  # docs/models.md
    assert "openai · gpt-4o" in meta and "family gpt-4o" in meta and "128,000 tokens context" in meta
    assert len(detail.get_by_test_id("span-fingerprint").inner_text().split()[0]) == 32
    page.screenshot(path=str(tmp_path / "trace.png"))
    # the failed tool span shows its error
    rows.filter(has_text="get_weather").click()
    detail.get_by_test_id("span-error").get_by_text("weather API timed out").wait_for()


def test_trace_of_30000_spans_opens_within_3_seconds(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    started = time.monotonic()
    page.goto(f"{ui.url}/ui/traces/{seeding.BIG_TRACE}")
    page.get_by_test_id("trace-span-count").get_by_text("30,000").wait_for()
    page.get_by_test_id("span-row").first.wait_for()
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"the 30,000-span trace took {elapsed:.2f} s to show"
    # virtualised: only the rows in view are in the DOM, and scrolling to the end stays quick
    assert page.get_by_test_id("span-row").count() < 200
    started = time.monotonic()
    page.get_by_test_id("span-tree").evaluate("el => { el.scrollTop = el.scrollHeight }")
    page.get_by_test_id("span-row").filter(has_text="lookup-98").last.wait_for()
    assert time.monotonic() - started < 1.0
    # finding a span deep in the tree selects it and loads its details
    page.get_by_label("Find span").fill("step-150")
    page.get_by_label("Find span").press("Enter")
    page.get_by_test_id("span-name").get_by_text("step-150").wait_for()
    page.screenshot(path=str(tmp_path / "big-trace.png"))
