"""The overview's numbers mean what they say: traces, LLM calls and spans counted apart, error rates per trace and per
LLM call, latency of LLM calls by default (the 30,000 tool and chain spans of the big trace do not set it) with a
kind selector, and the environment, tag, model and prompt filters applied to every number and kept in the URL.
Each value is compared with the seed and with the metrics API."""

from __future__ import annotations

import statistics
from contextlib import closing
from datetime import datetime
from typing import Any

from tests.ui.conftest import UI

LLM_KINDS = ("llm", "chat")  # lynex_box/schema/span.py LLM_CALL_KINDS (the seed sends `type: llm`)


def _n(n: float) -> str:
    return f"{round(n):,}"


def _pct(part: int, whole: int) -> str:
    return f"{part / whole * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _ms(text: str) -> str:
    """lib/format.ts fmtDuration for the values below one second."""
    value = float(text)
    return f"{value:.1f}".removesuffix(".0") + " ms" if value < 10 else f"{round(value)} ms"


def _counts(events: list[dict[str, Any]]) -> dict[str, int]:
    llm = [e for e in events if e.get("type") in LLM_KINDS]
    return {
        "traces": len({e["trace_id"] for e in events}),
        "trace_errors": len({e["trace_id"] for e in events if e.get("status") == "error"}),
        "llm_calls": len(llm),
        "llm_errors": sum(1 for e in llm if e.get("status") == "error"),
        "spans": len(events),
    }


def _api_point(ui: UI, **params: str) -> dict[str, Any]:
    with closing(ui.admin_client()) as client:
        r = client.get(f"/v1/projects/{ui.server.project}/metrics", params={"from": "2000-01-01T00:00:00Z", **params})
        assert r.status_code == 200, r.text
        point: dict[str, Any] = r.json()["series"][0]["points"][0]
        return point


def _stat(page: Any, test_id: str) -> str:
    return str(page.get_by_test_id(test_id).locator(".stat-value").inner_text())


def _wait_stat(page: Any, test_id: str, value: str) -> None:
    page.get_by_test_id(test_id).locator(".stat-value").get_by_text(value, exact=True).wait_for()


def _duration(e: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(e[k].replace("Z", "+00:00")) for k in ("start_time", "end_time"))
    return (end - start).total_seconds() * 1000


def test_traces_llm_calls_and_spans_are_counted_apart(ui: UI, page: Any) -> None:
    want = _counts(ui.seed.events)
    assert want == {"traces": 25, "trace_errors": 3, "llm_calls": 48, "llm_errors": 0, "spans": 30_096}
    ui.login(page)
    _wait_stat(page, "stat-spans", _n(want["spans"]))
    _wait_stat(page, "stat-traces", _n(want["traces"]))
    assert _stat(page, "stat-llm-calls") == _n(want["llm_calls"])
    assert _stat(page, "stat-errors") == _pct(want["trace_errors"], want["traces"])  # 12%, not 3 of 30,096 spans
    errors = page.get_by_test_id("stat-errors").inner_text()
    assert f"{want['trace_errors']} of {want['traces']}" in errors and "LLM calls 0%" in errors
    api = _api_point(ui)
    assert (api["traces"], api["llm_calls"], api["count"]) == (want["traces"], want["llm_calls"], want["spans"])
    # the breakdown counts traces and LLM calls per model too
    gpt = [e for e in ui.seed.events if e.get("model") == "gpt-4o"]
    row = page.get_by_test_id("breakdown").locator("tr", has=page.get_by_role("link", name="gpt-4o", exact=True))
    cells = row.locator("td").all_inner_texts()
    assert cells[1:4] == [_n(_counts(gpt)["traces"]), _n(_counts(gpt)["llm_calls"]), _n(len(gpt))]


def test_latency_is_of_llm_calls_by_default_with_a_kind_selector(ui: UI, page: Any) -> None:
    llm = sorted(_duration(e) for e in ui.seed.events if e.get("type") in LLM_KINDS)
    every = sorted(_duration(e) for e in ui.seed.events)
    want_llm = _ms(str(statistics.median(llm)))
    ui.login(page)
    latency = page.get_by_test_id("stat-latency")
    latency.get_by_text("LLM calls").wait_for()
    _wait_stat(page, "stat-latency", want_llm)
    assert want_llm == _ms(str(_api_point(ui, latency_kind="llm_call")["p50_ms"]))
    assert "Latency of LLM calls" in page.get_by_test_id("chart-latency").inner_text()
    # every span: the big trace's 1.5 ms lookups set the median
    page.get_by_test_id("latency-kind").select_option("all")
    page.wait_for_url("**latency_kind=all**")
    _wait_stat(page, "stat-latency", _ms(str(statistics.median(every))))
    assert "all spans" in latency.inner_text()
    page.get_by_test_id("latency-kind").select_option("tool")
    page.wait_for_url("**latency_kind=tool**")
    tools = [_duration(e) for e in ui.seed.events if e.get("type") == "tool"]
    _wait_stat(page, "stat-latency", _ms(str(statistics.median(tools))))
    page.reload()
    page.get_by_test_id("stat-latency").get_by_text("tool spans").wait_for()


def test_filters_apply_to_every_number_and_live_in_the_url(ui: UI, page: Any) -> None:
    events = ui.seed.events
    ui.login(page)
    _wait_stat(page, "stat-spans", _n(len(events)))
    page.get_by_test_id("filter-model").select_option("gpt-4o")
    page.wait_for_url("**model=gpt-4o**")
    gpt = [e for e in events if e.get("model") == "gpt-4o"]
    _wait_stat(page, "stat-spans", _n(len(gpt)))
    assert _stat(page, "stat-traces") == _n(_counts(gpt)["traces"])
    assert _stat(page, "stat-llm-calls") == _n(_counts(gpt)["llm_calls"])
    page.get_by_test_id("filter-environment").select_option("prod")
    page.wait_for_url("**environment=prod**")
    both = [e for e in gpt if e.get("environment") == "prod"]
    _wait_stat(page, "stat-traces", _n(_counts(both)["traces"]))
    cost = sum(e.get("cost", {}).get("total", 0.0) for e in both)
    assert _api_point(ui, model="gpt-4o", environment="prod")["total_cost"] == cost
    assert f"${cost:.4f}".rstrip("0") in page.get_by_test_id("stat-cost").inner_text()
    # the URL reproduces the filtered page; a tag and a prompt filter from the URL apply as well
    page.reload()
    _wait_stat(page, "stat-traces", _n(_counts(both)["traces"]))
    assert page.get_by_test_id("filter-model").input_value() == "gpt-4o"
    page.goto(f"{ui.url}/ui/?tag=support")
    tagged = [e for e in events if "support" in e.get("tags", [])]
    _wait_stat(page, "stat-spans", _n(len(tagged)))
    assert _stat(page, "stat-traces") == _n(_counts(tagged)["traces"]) and _stat(page, "stat-llm-calls") == "0"
    page.goto(f"{ui.url}/ui/?prompt_name=support&environment=staging")
    prompted = [e for e in events if e.get("prompt", {}).get("name") == "support" and e.get("environment") == "staging"]
    _wait_stat(page, "stat-llm-calls", _n(len(prompted)))
    assert _stat(page, "stat-traces") == _n(_counts(prompted)["traces"])
    page.get_by_role("button", name="Clear filters").click()
    _wait_stat(page, "stat-spans", _n(len(events)))
    assert "prompt_name" not in page.url and "environment" not in page.url
