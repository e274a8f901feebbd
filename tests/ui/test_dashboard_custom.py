"""The project's custom dashboard: charts of a metric grouped by a dimension are added, arranged, removed and saved;
their values match the metrics API and what was sent; the saved dashboard is there after a reload; a viewer sees it
but cannot change it; another project has its own."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from contextlib import closing
from typing import Any

import httpx

from tests.ui.conftest import UI

PASSWORD = "dashboard viewer pw 1"


def _events() -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=20)
    out = []
    for i, (model, cost) in enumerate([("gpt-4o", 0.01), ("gpt-4o", 0.01), ("gpt-4o", 0.01), ("claude", 0.5)]):
        t = (now + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
        out += [
            {"trace_id": f"d{i}", "event_id": f"d{i}-root", "span_id": f"d{i}-root", "name": "agent", "type": "agent",
             "start_time": t, "end_time": t},
            {"trace_id": f"d{i}", "event_id": f"d{i}-llm", "span_id": f"d{i}-llm", "parent_span_id": f"d{i}-root",
             "name": "chat", "type": "llm", "model": model, "cost": {"total": cost}, "start_time": t, "end_time": t,
             **({"status": "error"} if i == 3 else {})},
        ]  # fmt: skip
    return out


def _project_with_data(ui: UI) -> str:
    pid = ui.new_project(f"dash-{secrets.token_hex(3)}")
    with closing(ui.admin_client()) as admin:
        key = admin.post(f"/api/projects/{pid}/keys", json={"name": "ingest", "scope": "ingest"}).json()["api_key"]
        events = _events()
        r = httpx.post(f"{ui.url}/v1/projects/{pid}/events", json={"events": events},
                       headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
        assert r.status_code == 202 and r.json()["rejected"] == [], r.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            series = admin.get(f"/v1/projects/{pid}/metrics").json()["series"]
            if series and series[0]["points"][0]["count"] == len(events):
                return pid
            time.sleep(0.2)
    raise AssertionError("the dashboard project's spans did not become queryable")


def _add(page: Any, metric: str, group: str, chart: str) -> None:
    form = page.get_by_role("form", name="Add a chart")
    form.get_by_label("Metric").select_option(label=metric)
    form.get_by_label("Grouped by").select_option(label=group)
    form.get_by_label("Chart type").select_option(label=chart)
    form.get_by_role("button", name="Add chart").click()


def _titles(page: Any) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("dash-chart").locator(".card-head h2").all_inner_texts()]


def _bars(page: Any, chart_index: int) -> dict[str, str]:
    rows = page.get_by_test_id("dash-chart").nth(chart_index).get_by_test_id("dash-bar")
    rows.first.wait_for()
    return {r.locator(".top-name").inner_text(): r.get_by_test_id("dash-bar-value").inner_text() for r in rows.all()}


def test_add_arrange_remove_save_and_reload(ui: UI, page: Any) -> None:
    pid = _project_with_data(ui)
    ui.login(page)
    page.get_by_test_id("project-switcher").select_option(pid)
    page.get_by_role("link", name="Dashboard", exact=True).click()
    page.get_by_test_id("dashboard-empty").wait_for()
    _add(page, "Cost", "Model", "Bars per group")
    _add(page, "Traces", "Nothing (one total)", "Line over time")
    _add(page, "Error rate (traces)", "Model", "Bars per group")
    assert _titles(page) == ["Cost by model", "Traces", "Error rate (traces) by model"]
    # the values are the sent ones, and the metrics API's
    with closing(ui.admin_client()) as admin:
        api = admin.get(f"/v1/projects/{pid}/metrics", params={"group_by": "model"}).json()["series"]
    cost = {s["group"]: s["points"][0]["total_cost"] for s in api}
    assert cost == {"gpt-4o": 0.03, "claude": 0.5, "(none)": 0}
    assert _bars(page, 0) == {"claude": "$0.5", "gpt-4o": "$0.03", "(none)": "$0"}
    # claude's one trace failed in its LLM call; the agent spans (no model) of the 4 traces did not fail
    assert _bars(page, 2) == {"claude": "100%", "gpt-4o": "0%", "(none)": "0%"}
    page.get_by_test_id("dash-line-" + page.get_by_test_id("dash-chart").nth(1).get_attribute("data-chart-id")).locator(
        "canvas"
    ).wait_for()
    # arrange: the error rate up to the top, the traces line removed; then save
    page.get_by_role("button", name="Move Error rate (traces) by model up").click()
    page.get_by_role("button", name="Move Error rate (traces) by model up").click()
    page.get_by_role("button", name="Remove Traces", exact=True).click()
    assert _titles(page) == ["Error rate (traces) by model", "Cost by model"]
    page.get_by_role("button", name="Save dashboard").click()
    page.get_by_test_id("dashboard-saved").get_by_text(f"by {ui.creds['admin_email']}").wait_for()
    page.reload()
    page.get_by_test_id("dash-chart").nth(1).wait_for()
    assert _titles(page) == ["Error rate (traces) by model", "Cost by model"]
    assert _bars(page, 1) == {"claude": "$0.5", "gpt-4o": "$0.03", "(none)": "$0"}
    with closing(ui.admin_client()) as admin:
        stored = admin.get(f"/api/projects/{pid}/dashboard").json()["charts"]
    assert [(c["metric"], c["group_by"], c["chart"]) for c in stored] == [
        ("error_rate", "model", "bar"),
        ("total_cost", "model", "bar"),
    ]


def test_a_viewer_sees_the_dashboard_but_cannot_edit_and_other_projects_have_their_own(ui: UI, page: Any) -> None:
    pid = _project_with_data(ui)
    other = ui.new_project(f"dash-other-{secrets.token_hex(3)}")
    charts = [{"id": "c1", "title": "Spend", "metric": "total_cost", "group_by": "model", "chart": "bar"}]
    with closing(ui.admin_client()) as admin:
        assert admin.put(f"/api/projects/{pid}/dashboard", json={"charts": charts}).status_code == 200
    email = f"viewer-{secrets.token_hex(3)}@acme.io"
    ui.new_user(email, PASSWORD, role="viewer")
    ui.login(page, email, PASSWORD)
    page.get_by_test_id("project-switcher").select_option(pid)
    page.goto(f"{ui.url}/ui/dashboards")
    page.get_by_test_id("dash-chart").first.wait_for()
    assert _titles(page) == ["Spend"] and _bars(page, 0)["claude"] == "$0.5"
    assert "you can view this dashboard" in page.get_by_test_id("dashboard-saved").inner_text()
    assert page.get_by_role("form", name="Add a chart").count() == 0
    assert page.get_by_role("button", name="Save dashboard").count() == 0
    assert page.get_by_role("button", name="Remove Spend").count() == 0
    # the API refuses the viewer's write, whatever the page shows
    status = page.evaluate(
        """async ([pid]) => {
            const csrf = document.cookie.split('; ').find((c) => c.startsWith('lynex_csrf='))?.split('=')[1] ?? ''
            const r = await fetch(`/api/projects/${pid}/dashboard`, {method: 'PUT', body: '{"charts": []}',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': decodeURIComponent(csrf)}})
            return r.status
        }""",
        [pid],
    )
    assert status == 403
    # another project shows its own (empty) dashboard, not this one
    page.get_by_test_id("project-switcher").select_option(other)
    page.get_by_test_id("dashboard-empty").wait_for()
    assert page.get_by_test_id("dash-chart").count() == 0
