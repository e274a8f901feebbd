"""The span table (`/ui/spans`): every span, not only traces, with the traces list's filters; its rows and totals
are those of the span list API for the same filters, and a row opens its trace with the span selected."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

from tests.ui.conftest import UI


def _api_spans(ui: UI, **params: Any) -> list[dict[str, Any]]:
    with closing(ui.admin_client()) as admin:
        r = admin.get(f"/v1/projects/{ui.server.project}/spans", params={"fields": "summary", **params})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


def _shown(page: Any) -> list[str]:
    """The span ids of the rows on screen, top to bottom (each row links to its trace with `?span=<id>`)."""
    rows = page.get_by_test_id("spans-table-row")
    return [str(r.get_attribute("href")).split("?span=")[1] for r in rows.all()]


def test_the_span_table_lists_the_spans_the_api_answers_for_a_kind_and_status(
    ui: UI, page: Any, tmp_path: Path
) -> None:
    ui.login(page)
    page.get_by_role("link", name="Spans", exact=True).click()
    page.wait_for_url("**/ui/spans")
    every = len(ui.seed.events)
    page.get_by_test_id("spans-total").get_by_text(f"{every:,} spans match").wait_for()

    page.get_by_test_id("span-filters").get_by_label("Kind").select_option("tool")
    page.wait_for_url("**kind=tool**")
    tools = sum(1 for e in ui.seed.events if e.get("type") == "tool")  # the chat traces' and the big trace's
    page.get_by_test_id("spans-total").get_by_text(f"{tools:,} spans match").wait_for()
    first = page.get_by_test_id("spans-table-row").first
    first.wait_for()
    newest = [s["span_id"] for s in _api_spans(ui, kind="tool", limit=100)]
    shown = _shown(page)
    assert len(shown) >= 10 and shown == newest[: len(shown)]
    assert page.locator(".table-foot").inner_text() == "100 spans — scroll for more"

    page.get_by_test_id("span-filters").get_by_label("Status").select_option("error")
    page.wait_for_url("**status=error**")
    failed = [e["span_id"] for e in sorted(ui.seed.events, key=lambda e: e["start_time"], reverse=True)
              if e.get("type") == "tool" and e.get("status") == "error"]  # fmt: skip
    page.get_by_test_id("spans-total").get_by_text(f"{len(failed)} spans match").wait_for()
    page.locator(".table-foot").get_by_text(f"{len(failed)} spans", exact=True).wait_for()
    assert _shown(page) == failed == [s["span_id"] for s in _api_spans(ui, kind="tool", status="error")]
    row = page.get_by_test_id("spans-table-row").first
    cells = row.inner_text().lower()
    assert "get_weather" in cells and "tool" in cells and "error" in cells
    page.screenshot(path=str(tmp_path / "spans-tool-errors.png"))

    # the filters live in the URL; a row opens its trace with that span selected
    page.reload()
    page.get_by_test_id("spans-total").get_by_text(f"{len(failed)} spans match").wait_for()
    row = page.get_by_test_id("spans-table-row").first
    row.click()
    trace = failed[0].removesuffix("-tool")
    page.wait_for_url(f"**/ui/traces/{trace}?span={failed[0]}")
    page.get_by_test_id("span-detail").get_by_test_id("span-id").get_by_text(failed[0], exact=True).wait_for()
    assert page.get_by_test_id("span-name").inner_text() == "get_weather"


def test_the_span_table_searches_text_and_shows_chosen_columns(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/spans?kind=llm_call")
    llm = [e for e in ui.seed.events if e.get("type") == "llm"]
    page.get_by_test_id("spans-total").get_by_text(f"{len(llm)} spans match").wait_for()
    page.get_by_label("Full-text search").fill("weather in Lima")
    page.get_by_label("Full-text search").press("Enter")
    page.wait_for_url("**q=weather**")
    lima = [s["span_id"] for s in _api_spans(ui, kind="llm_call", q="weather in Lima")]
    assert lima  # the first LLM call of each Lima trace asks about it; the second answers from the tool result
    page.get_by_test_id("spans-total").get_by_text(f"{len(lima)} spans match").wait_for()
    page.locator(".table-foot").get_by_text(f"{len(lima)} spans", exact=True).wait_for()
    assert _shown(page) == lima

    head = page.get_by_test_id("spans-table").locator(".grid-head")
    assert "Span id" not in head.inner_text()
    page.get_by_test_id("columns-menu").locator("summary").click()
    page.get_by_role("group", name="Columns").get_by_label("Span id").check()
    page.keyboard.press("Escape")
    assert "Span id" in head.inner_text()
    assert page.get_by_test_id("spans-table-row").first.get_by_title(lima[0]).count() == 1
