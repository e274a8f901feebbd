"""Sorting, totals and per-trace error rates in the Traces, Sessions and Users lists, as a user sees them.

The sorting tests use a project of their own with traces of distinct costs (the seed's chat traces all cost the same),
so the order the page shows can be compared with the API's; the totals are checked against the shared seed.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from contextlib import closing
from functools import cache
from typing import Any

import httpx

from tests.ui.conftest import UI
from tests.ui.seed import BIG_TRACE

COSTS = [0.0031, 0.5, None, 0.0007, 2.25, 0.12, 0.0452, 0.018]
SHOWN = {0.0031: "$0.0031", 0.5: "$0.5", None: "—", 0.0007: "$0.0007", 2.25: "$2.25", 0.12: "$0.12",
         0.0452: "$0.0452", 0.018: "$0.018"}  # fmt: skip


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _trace(i: int, cost: float | None, start: dt.datetime) -> list[dict[str, Any]]:
    """An agent with one LLM call carrying the cost and a tool; user u-half has two traces, the second failed."""
    user = "u-half" if i < 2 else "u-other"
    common = {"trace_id": f"sort-{i}", "user_id": user, "session_id": f"s-{user}"}
    t0 = start + dt.timedelta(seconds=30 * i)
    llm: dict[str, Any] = {**common, "event_id": f"sort-{i}-llm", "span_id": f"sort-{i}-llm",
                           "parent_span_id": f"sort-{i}-root", "name": "chat", "type": "llm", "model": "m",
                           "start_time": _iso(t0), "end_time": _iso(t0 + dt.timedelta(milliseconds=300))}  # fmt: skip
    if cost is not None:
        llm["cost"] = {"total": cost}
    failed = {"status": "error", "error": {"type": "Timeout", "message": "slow"}} if i == 1 else {}
    return [
        {**common, "event_id": f"sort-{i}-root", "span_id": f"sort-{i}-root", "name": f"agent-{i}", "type": "agent",
         "start_time": _iso(t0), "end_time": _iso(t0 + dt.timedelta(milliseconds=500 + 10 * i))},
        llm,
        {**common, "event_id": f"sort-{i}-tool", "span_id": f"sort-{i}-tool", "parent_span_id": f"sort-{i}-root",
         "name": "search", "type": "tool", "start_time": _iso(t0), "end_time": _iso(t0), **failed},
    ]  # fmt: skip


@cache
def _project(ui: UI) -> str:
    """A project holding the traces of COSTS (made once per test run)."""
    pid = ui.new_project(f"sorting-{secrets.token_hex(3)}")
    with closing(ui.admin_client()) as admin:
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "ingest", "name": "ui sorting test"})
        assert r.status_code == 201, r.text
        key = r.json()["api_key"]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=20)
    events = [e for i, cost in enumerate(COSTS) for e in _trace(i, cost, start)]
    r = httpx.post(f"{ui.url}/v1/projects/{pid}/events", json={"events": events},
                   headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while _api(ui, pid, "traces")["total"] != len(COSTS):
        assert time.monotonic() < deadline, "the sorting project's traces never became visible"
        time.sleep(0.2)
    return pid


def _api(ui: UI, pid: str, path: str, **params: Any) -> Any:
    with closing(ui.admin_client()) as admin:
        r = admin.get(f"/v1/projects/{pid}/{path}", params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        return r.json()


def _open(ui: UI, page: Any, pid: str, path: str) -> None:
    ui.login(page)
    page.get_by_test_id("project-switcher").select_option(pid)
    page.goto(f"{ui.url}/ui{path}")


def _trace_ids(page: Any) -> list[str]:
    rows = page.get_by_test_id("trace-row")
    return [rows.nth(i).get_attribute("data-trace-id") for i in range(rows.count())]


def _wait_order(page: Any, want: list[str]) -> None:
    deadline = time.monotonic() + 15
    while _trace_ids(page) != want:
        assert time.monotonic() < deadline, f"rows {_trace_ids(page)} != {want}"
        time.sleep(0.1)


def test_clicking_cost_orders_traces_by_cost_as_the_api_does(ui: UI, page: Any) -> None:
    pid = _project(ui)
    _open(ui, page, pid, "/traces")
    page.get_by_test_id("traces-total").get_by_text(f"{len(COSTS)} traces").wait_for()
    header = page.get_by_role("columnheader", name="Cost")
    assert header.get_attribute("aria-sort") == "none"
    header.get_by_role("button").click()
    page.wait_for_url(re.compile(r"order=desc.*sort=cost|sort=cost.*order=desc"))
    desc = [t["trace_id"] for t in _api(ui, pid, "traces", sort="cost", order="desc")["items"]]
    _wait_order(page, desc)
    assert header.get_attribute("aria-sort") == "descending"
    assert desc[0] == "sort-4" and desc[-1] == "sort-2"  # $2.25 first, unknown cost last
    first = page.get_by_test_id("trace-row").first
    assert "$2.25" in first.inner_text()
    shown = [page.get_by_test_id("trace-row").nth(i).inner_text() for i in range(len(COSTS))]
    for trace_id, text in zip(desc, shown, strict=True):
        assert SHOWN[COSTS[int(trace_id.split("-")[1])]] in text

    header.get_by_role("button").click()  # again: flips
    page.wait_for_url("**order=asc**")
    asc = [t["trace_id"] for t in _api(ui, pid, "traces", sort="cost", order="asc")["items"]]
    _wait_order(page, asc)
    assert header.get_attribute("aria-sort") == "ascending" and asc[0] == "sort-3"

    page.reload()  # the order is in the URL: a shared link opens sorted
    _wait_order(page, asc)
    assert page.get_by_role("columnheader", name="Cost").get_attribute("aria-sort") == "ascending"


def test_users_error_rate_is_per_trace_and_the_lists_sort(ui: UI, page: Any) -> None:
    pid = _project(ui)
    _open(ui, page, pid, "/users")
    page.get_by_test_id("users-total").get_by_text("2 users").wait_for()
    half = page.get_by_test_id("users-row").filter(has_text="u-half")
    half.wait_for()
    # 1 of its 2 traces failed (1 of its 6 spans): 50%, not 16.7%
    assert "50%" in half.inner_text() and "16.7%" not in half.inner_text()
    head = page.get_by_role("columnheader", name="Error rate")
    head.get_by_role("button").click()
    page.wait_for_url("**sort=error_rate**")
    page.get_by_test_id("users-row").first.filter(has_text="u-half").wait_for()
    assert head.get_attribute("aria-sort") == "descending"
    page.get_by_role("columnheader", name="Cost").get_by_role("button").click()
    page.wait_for_url("**sort=cost**")
    page.get_by_test_id("users-row").first.filter(has_text="u-other").wait_for()  # $2.43 against $0.50

    page.goto(f"{ui.url}/ui/sessions")
    page.get_by_test_id("sessions-total").get_by_text("2 sessions").wait_for()
    page.get_by_role("columnheader", name="Session").get_by_role("button").click()
    page.wait_for_url("**sort=session**")
    rows = page.get_by_test_id("sessions-row")
    rows.first.filter(has_text="s-u-half").wait_for()
    assert page.get_by_role("columnheader", name="Session").get_attribute("aria-sort") == "ascending"
    assert rows.nth(1).inner_text().startswith("s-u-other")


def test_totals_equal_the_seed(ui: UI, page: Any) -> None:
    roots = [e for e in ui.seed.events if e["event_id"].endswith("-root")]
    traces = len(ui.seed.chat_traces) + 1  # and the big trace
    assert any(e["trace_id"] == BIG_TRACE for e in ui.seed.events)
    ui.login(page)
    page.goto(f"{ui.url}/ui/traces")
    page.get_by_test_id("traces-total").get_by_text(f"{traces} traces", exact=True).wait_for()
    # the facets count traces as the list does (gpt-4o: its traces, not their two LLM spans each)
    gpt = page.get_by_test_id("facet-model").locator(".facet-item").filter(has_text="gpt-4o")
    gpt.wait_for()
    assert gpt.locator(".num").inner_text() == str(len(ui.seed.model_traces["gpt-4o"]))
    page.goto(f"{ui.url}/ui/sessions")
    sessions = {e["session_id"] for e in roots if e.get("session_id")}
    page.get_by_test_id("sessions-total").get_by_text(f"{len(sessions)} sessions", exact=True).wait_for()
    page.goto(f"{ui.url}/ui/users")
    users = {e["user_id"] for e in roots if e.get("user_id")}
    page.get_by_test_id("users-total").get_by_text(f"{len(users)} users", exact=True).wait_for()
