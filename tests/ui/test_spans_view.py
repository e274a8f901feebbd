"""The span table (`/ui/spans`): every span, not only traces, with the traces list's filter bar (attribute
conditions, multi-select facets counting spans, a kind filter, saved views); its rows and totals are those of the
span list API for the same filters, the filters carry over from and back to the traces list, and a row opens its
trace with the span selected."""

from __future__ import annotations

import datetime as dt
import secrets
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from tests.ui.conftest import UI, wait_until
from tests.ui.shots import shoot


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

    page.get_by_test_id("filters").get_by_label("Kind").select_option("tool")
    page.wait_for_url("**kind=tool**")
    tools = sum(1 for e in ui.seed.events if e.get("type") == "tool")  # the chat traces' and the big trace's
    page.get_by_test_id("spans-total").get_by_text(f"{tools:,} spans match").wait_for()
    first = page.get_by_test_id("spans-table-row").first
    first.wait_for()
    newest = [s["span_id"] for s in _api_spans(ui, kind="tool", limit=100)]
    shown = _shown(page)
    assert len(shown) >= 10 and shown == newest[: len(shown)]
    assert page.locator(".table-foot").inner_text() == "100 spans — scroll for more"

    page.get_by_test_id("filters").get_by_label("Status").select_option("error")
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


def _ids(page: Any, testid: str, attr: str) -> list[str]:
    """Read in one go (rows come and go while the list reloads)."""
    return list(page.eval_on_selector_all(f'[data-testid="{testid}"]', f"rows => rows.map(r => r.{attr})"))


def _span_rows(page: Any) -> list[str]:
    return [h.split("?span=")[1] for h in _ids(page, "spans-table-row", "getAttribute('href')")]


def _iso(start: dt.datetime, ms: int) -> str:
    return (start + dt.timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def _seed_failures(ui: UI) -> tuple[str, dict[str, str]]:
    """A project of its own: four traces of an agent, an LLM call and a tool call; three LLM calls failed (an
    `error.type` attribute), one tool call too."""
    pid = ui.new_project(f"spans-{secrets.token_hex(3)}")
    with closing(ui.admin_client()) as admin:
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "admin", "name": "spans test"})
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['api_key']}"}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    events: list[dict[str, Any]] = []
    for i, model in enumerate(["gpt-4o", "claude-3-5-sonnet", "gemini-1.5", "gpt-4o"]):
        start = now - dt.timedelta(minutes=10 - i)
        trace = f"sp-{i}"
        llm: dict[str, Any] = {"model": model}
        if i < 3:
            llm["error"] = {"type": "RateLimitError", "message": "slow down"}
        tool: dict[str, Any] = {"error": {"type": "TimeoutError", "message": "late"}} if i == 0 else {}
        events += [
            {"event_id": f"{trace}-agent", "trace_id": trace, "span_id": f"{trace}-agent", "name": "agent",
             "type": "agent", "start_time": _iso(start, 0)},
            {"event_id": f"{trace}-llm", "trace_id": trace, "span_id": f"{trace}-llm",
             "parent_span_id": f"{trace}-agent", "name": "chat", "type": "llm", "start_time": _iso(start, 10), **llm},
            {"event_id": f"{trace}-tool", "trace_id": trace, "span_id": f"{trace}-tool",
             "parent_span_id": f"{trace}-agent", "name": "search", "type": "tool",
             "start_time": _iso(start, 20), **tool},
        ]  # fmt: skip
    r = httpx.post(f"{ui.url}/v1/projects/{pid}/events", json={"events": events}, headers=headers, timeout=30)
    assert r.status_code == 202 and r.json()["rejected"] == [], r.text
    wait_until(lambda: len(_api(ui, pid, headers, "spans", [])) == 12, "ingested spans")
    return pid, headers


def _api(ui: UI, pid: str, headers: dict[str, str], what: str, params: list[tuple[str, str]]) -> list[str]:
    query = [("from", "2020-01-01T00:00:00Z"), ("limit", "1000"), *params]
    r = httpx.get(f"{ui.url}/v1/projects/{pid}/{what}", params=query, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return [row["span_id" if what == "spans" else "trace_id"] for row in r.json()["items"]]


def test_the_traces_filters_carry_over_to_the_span_table_and_select_what_the_api_does(ui: UI, page: Any) -> None:
    pid, headers = _seed_failures(ui)
    ui.login(page)
    page.get_by_test_id("project-switcher").select_option(pid)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("trace-row").first.wait_for()
    # on the traces list: an attribute condition from the builder and two models picked in the facet
    page.get_by_test_id("add-filter").click()
    builder = page.get_by_test_id("filter-builder")
    builder.get_by_label("Filter field").select_option("attr")
    builder.get_by_label("Key", exact=True).fill("error.type")
    builder.get_by_label("Operator").select_option("exists")
    builder.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url("**attr=error.type**")
    facet = page.get_by_test_id("facet-model")
    facet.get_by_label("Model gpt-4o").check()
    page.wait_for_url("**model=gpt-4o**")
    facet.get_by_label("Model claude-3-5-sonnet").check()
    page.wait_for_url("**model=claude-3-5-sonnet**")
    chips = page.get_by_test_id("active-filters").inner_text()
    params = [("attr", "error.type:exists"), ("model", "gpt-4o"), ("model", "claude-3-5-sonnet")]
    wait_until(lambda: set(_ids(page, "trace-row", "dataset.traceId")) == {"sp-0", "sp-1"}, "the filtered traces")

    # the Spans link keeps them: the failed LLM calls of either model, as the span API answers
    page.get_by_role("link", name="Spans", exact=True).click()
    page.wait_for_url("**/ui/spans?**")
    query = parse_qs(urlparse(page.url).query)
    assert query["attr"] == ["error.type:exists"] and query["model"] == ["gpt-4o", "claude-3-5-sonnet"]
    want = _api(ui, pid, headers, "spans", params)
    assert want == ["sp-1-llm", "sp-0-llm"]
    wait_until(lambda: _span_rows(page) == want or _span_rows(page), "the span rows")
    page.get_by_test_id("spans-total").get_by_text("2 spans match").wait_for()
    assert page.get_by_test_id("active-filters").inner_text() == chips
    # the facets count spans, and say so: the attribute condition alone leaves one failed call per model
    assert page.get_by_test_id("facets-counted").inner_text() == "Counts are spans"
    gemini = page.get_by_test_id("facet-model").locator('[data-value="gemini-1.5"]')
    wait_until(lambda: gemini.inner_text().split() == ["gemini-1.5", "1"] or gemini.inner_text(), "gemini's span count")
    assert page.get_by_test_id("facet-model").get_by_label("Model gpt-4o").is_checked()
    shoot(page, "spans-filtered")

    # the span table's own kind filter: without the models, the failed tool call
    for model in ("gpt-4o", "claude-3-5-sonnet"):
        page.get_by_role("button", name=f"Remove filter model: {model}").click()
    page.get_by_test_id("filters").get_by_label("Kind").select_option("tool")
    page.wait_for_url("**kind=tool**")
    want = _api(ui, pid, headers, "spans", [("attr", "error.type:exists"), ("kind", "tool")])
    assert want == ["sp-0-tool"]
    wait_until(lambda: _span_rows(page) == want or _span_rows(page), "the failed tool call")
    page.get_by_test_id("filters").get_by_label("Kind").select_option("llm_call")
    want = _api(ui, pid, headers, "spans", [("attr", "error.type:exists"), ("kind", "llm_call")])
    assert want == ["sp-2-llm", "sp-1-llm", "sp-0-llm"]
    wait_until(lambda: _span_rows(page) == want or _span_rows(page), "the failed LLM calls")

    # a view saved here belongs to the span table, and the filters go back to the traces list
    page.get_by_test_id("saved-views").locator("summary").click()
    page.get_by_label("View name").fill("failed LLM calls")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("saved-view").get_by_text("failed LLM calls").wait_for()
    with closing(ui.admin_client()) as admin:
        views = admin.get(f"/api/projects/{pid}/views").json()["items"]
    assert [(v["name"], v["page"]) for v in views] == [("failed LLM calls", "spans")]
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Traces", exact=True).click()
    page.wait_for_url("**/ui/traces?**")
    traces = _api(ui, pid, headers, "traces", [("attr", "error.type:exists"), ("kind", "llm_call")])
    assert set(traces) == {"sp-0", "sp-1", "sp-2"}
    wait_until(lambda: set(_ids(page, "trace-row", "dataset.traceId")) == set(traces), "the traces of those spans")
    page.get_by_test_id("saved-views").locator("summary").click()
    page.get_by_text("No saved views yet").wait_for()

    # and a traces URL with filters, opened as /spans, keeps them
    page.goto(f"{ui.url}/ui/spans?model=gemini-1.5&model=gpt-4o&attr=error.type:exists")
    want = _api(ui, pid, headers, "spans", [("model", "gemini-1.5"), ("model", "gpt-4o"),
                                            ("attr", "error.type:exists")])  # fmt: skip
    assert want == ["sp-2-llm", "sp-0-llm"]
    wait_until(lambda: _span_rows(page) == want or _span_rows(page), "the spans of the opened URL")
