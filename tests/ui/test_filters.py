"""The traces list's filter workflow in the browser: a custom absolute time range (shared by every view), drag to
zoom on an overview chart, the filter builder and multi-select facets compared with what the API answers, a copied
link that brings back the same filters and rows in a fresh browser, and saved views."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from tests.ui.conftest import UI, sync_api, wait_until

MIN = dt.timedelta(minutes=1)


def _rows(page: Any) -> set[str]:
    """The trace ids the table shows, read in one go (rows come and go while the list reloads)."""
    ids = page.eval_on_selector_all('[data-testid="trace-row"]', "rows => rows.map(r => r.dataset.traceId)")
    return set(ids)


def _rows_are(page: Any, want: set[str]) -> None:
    wait_until(lambda: _rows(page) == want or (_rows(page), want), "the table's traces")


def _api_traces(url: str, project: str, headers: dict[str, str], params: Any) -> set[str]:
    r = httpx.get(f"{url}/v1/projects/{project}/traces", params=params, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return {t["trace_id"] for t in r.json()["items"]}


def _local_input(t: dt.datetime) -> str:
    """A datetime-local value (the browser's local time, as the machine's: Chromium shares its time zone)."""
    return t.astimezone().strftime("%Y-%m-%dT%H:%M")


def _root_start(ui: UI, trace: str) -> dt.datetime:
    event = next(e for e in ui.seed.events if e["event_id"] == f"{trace}-root")
    return dt.datetime.fromisoformat(event["start_time"].replace("Z", "+00:00"))


def test_custom_absolute_range_shows_exactly_the_traces_in_it_and_is_shared(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("trace-row").first.wait_for()
    lo = _root_start(ui, "chat-003").replace(second=0)  # whole minutes, as the fields take them
    hi = _root_start(ui, "chat-008").replace(second=0)
    page.get_by_test_id("range").select_option("custom")
    page.get_by_label("From", exact=True).fill(_local_input(lo))
    page.get_by_label("To", exact=True).fill(_local_input(hi))
    page.get_by_role("form", name="Custom time range").get_by_role("button", name="Apply").click()
    page.wait_for_url("**from=**")
    q = parse_qs(urlparse(page.url).query)
    assert q["from"] == [lo.isoformat().replace("+00:00", ".000Z")] and q["to"] == [
        hi.isoformat().replace("+00:00", ".000Z")
    ]
    want = _api_traces(ui.url, ui.server.project, ui.server.headers(), {"from": q["from"][0], "to": q["to"][0]})
    assert {f"chat-{i:03d}" for i in range(3, 8)} <= want and "chat-008" not in want and "chat-002" not in want
    _rows_are(page, want)
    # the same range is every view's default now: the overview opens on it
    page.get_by_role("link", name="Overview", exact=True).click()
    page.get_by_test_id("stat-cost").wait_for()
    sync_api.expect(page.get_by_test_id("range")).to_have_value("custom")  # the picker follows the URL a render later
    assert page.get_by_label("From", exact=True).input_value() == _local_input(lo)
    page.get_by_role("link", name="Sessions", exact=True).click()
    assert page.get_by_label("To", exact=True).input_value() == _local_input(hi)


def test_dragging_across_an_overview_chart_zooms_into_that_range(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/?range=1h")
    chart = page.get_by_test_id("chart-traces").locator(".u-over")
    chart.wait_for()
    time.sleep(0.3)  # the first data drawn
    before = time.time() * 1000
    box = chart.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    page.wait_for_url("**from=**")
    q = parse_qs(urlparse(page.url).query)
    frm = dt.datetime.fromisoformat(q["from"][0].replace("Z", "+00:00")).timestamp() * 1000
    to = dt.datetime.fromisoformat(q["to"][0].replace("Z", "+00:00")).timestamp() * 1000
    # about 30% of the hour, inside it
    assert 0.25 * 3_600_000 < to - frm < 0.35 * 3_600_000, (frm, to)
    assert before - 3_700_000 < frm < to < before + 120_000
    assert "range" not in q
    sync_api.expect(page.get_by_test_id("range")).to_have_value("custom")  # the picker follows the URL a render later
    # the charts now cover the picked range: the x axis of the zoomed chart starts at `from`
    page.get_by_test_id("chart-traces").locator(".u-over").wait_for()


def _own_project(ui: UI) -> tuple[str, dict[str, str], list[dict[str, Any]]]:
    """A project of its own with six traces: models, environments and metadata to filter on."""
    pid = ui.new_project(f"filters-{secrets.token_hex(3)}")
    with closing(ui.admin_client()) as admin:
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "admin", "name": "filters test"})
        assert r.status_code == 201, r.text
        headers = {"Authorization": f"Bearer {r.json()['api_key']}"}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    plans = ["pro", "free", "pro", "pro", None, "free"]
    models = ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5", "claude-3-5-sonnet", "gpt-4o", "gpt-4o"]
    events = []
    for i in range(6):
        e: dict[str, Any] = {
            "event_id": f"f-{i}", "trace_id": f"f-{i}", "span_id": f"f-{i}", "name": f"call {i}", "type": "llm",
            "model": models[i], "environment": "prod" if i % 2 else "staging",
            "start_time": (now - (10 - i) * MIN).isoformat().replace("+00:00", "Z"),
        }  # fmt: skip
        if plans[i]:
            e["metadata"] = {"plan": plans[i], "team": f"team-{i % 2}"}
        events.append(e)
    r = httpx.post(f"{ui.url}/v1/projects/{pid}/events", json={"events": events}, headers=headers, timeout=30)
    assert r.status_code == 202 and r.json()["rejected"] == [], r.text
    wait_until(lambda: len(_api_traces(ui.url, pid, headers, {"from": "2020-01-01T00:00:00Z"})) == 6, "ingested traces")
    return pid, headers, events


def _open_traces(ui: UI, page: Any, pid: str) -> None:
    page.get_by_test_id("project-switcher").select_option(pid)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("trace-row").first.wait_for()


def _add_meta_condition(page: Any) -> None:
    page.get_by_test_id("add-filter").click()
    builder = page.get_by_test_id("filter-builder")
    builder.get_by_label("Filter field").select_option("meta")
    builder.get_by_label("Key", exact=True).fill("plan")
    builder.get_by_label("Operator").select_option("eq")
    builder.get_by_label("Value").fill("pro")
    builder.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url("**meta=plan**")


def test_builder_condition_and_multi_select_facets_match_the_api_and_a_copied_link(
    ui: UI, page: Any, browser: Any
) -> None:
    pid, headers, _ = _own_project(ui)
    ui.login(page)
    _open_traces(ui, page, pid)
    _rows_are(page, {f"f-{i}" for i in range(6)})
    # the builder suggests the metadata keys found in the data
    page.get_by_test_id("add-filter").click()
    page.get_by_test_id("filter-builder").get_by_label("Filter field").select_option("meta")
    wait_until(
        lambda: (
            {o.get_attribute("value") for o in page.get_by_test_id("key-suggestions").locator("option").all()}
            == {"plan", "team"}
        ),
        "suggested metadata keys",
    )
    page.get_by_role("button", name="Cancel").click()
    _add_meta_condition(page)
    base = {"from": "2020-01-01T00:00:00Z"}
    want = _api_traces(ui.url, pid, headers, {**base, "meta": "plan:eq:pro"})
    assert want == {"f-0", "f-2", "f-3"}
    _rows_are(page, want)
    # two models picked in the facet: either of them
    facet = page.get_by_test_id("facet-model")
    facet.get_by_label("Model gpt-4o").check()
    page.wait_for_url("**model=gpt-4o**")
    facet.get_by_label("Model claude-3-5-sonnet").check()
    page.wait_for_url("**model=claude-3-5-sonnet**")
    params = [*base.items(), ("meta", "plan:eq:pro"), ("model", "gpt-4o"), ("model", "claude-3-5-sonnet")]
    want = _api_traces(ui.url, pid, headers, params)
    assert want == {"f-0", "f-3"}
    _rows_are(page, want)
    chips = page.get_by_test_id("active-filters").inner_text()
    assert "metadata.plan = pro" in chips and "model: gpt-4o" in chips and "model: claude-3-5-sonnet" in chips

    # the copied link opens the same project, filters and rows in a fresh browser
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_test_id("copy-link").click()
    page.get_by_test_id("copy-link").get_by_text("Copied").wait_for()
    link = page.evaluate("navigator.clipboard.readText()")
    assert f"project={pid}" in link
    fresh = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        other = fresh.new_page()
        other.set_default_timeout(10_000)
        ui.login(other)
        other.goto(link)
        _rows_are(other, want)
        assert other.get_by_test_id("active-filters").inner_text() == chips
        assert other.get_by_test_id("facet-model").get_by_label("Model gpt-4o").is_checked()
    finally:
        fresh.close()


def test_a_saved_view_is_listed_after_a_reload_and_opens_its_filters(ui: UI, page: Any) -> None:
    pid, headers, _ = _own_project(ui)
    ui.login(page)
    _open_traces(ui, page, pid)
    _add_meta_condition(page)
    page.get_by_test_id("facet-environment").get_by_label("Environment prod").check()
    page.wait_for_url("**environment=prod**")
    saved_query = urlparse(page.url).query
    want = _api_traces(ui.url, pid, headers, [("from", "2020-01-01T00:00:00Z"), ("meta", "plan:eq:pro"),
                                              ("environment", "prod")])  # fmt: skip
    assert want == {"f-3"}
    _rows_are(page, want)
    page.get_by_test_id("saved-views").locator("summary").click()
    page.get_by_label("View name").fill("pro plan in prod")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("saved-view").get_by_text("pro plan in prod").wait_for()

    # a reload without the filters: the view is still listed, and opening it brings them back
    page.goto(f"{ui.url}/ui/traces")
    _rows_are(page, {f"f-{i}" for i in range(6)})
    page.get_by_test_id("saved-views").locator("summary").click()
    page.get_by_test_id("saved-view").get_by_role("button", name="pro plan in prod", exact=True).click()
    page.wait_for_url("**environment=prod**")
    assert parse_qs(urlparse(page.url).query) == parse_qs(saved_query)
    _rows_are(page, want)
    # deleting it empties the list (the API agrees)
    page.get_by_test_id("saved-views").locator("summary").click()
    page.get_by_role("button", name="Delete view pro plan in prod").click()
    page.get_by_text("No saved views yet").wait_for()
    with closing(ui.admin_client()) as admin:
        assert admin.get(f"/api/projects/{pid}/views").json()["items"] == []
