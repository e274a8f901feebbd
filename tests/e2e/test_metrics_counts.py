"""The metrics API counts what its names say: traces, LLM calls (every generation-like kind) and spans apart, errors
per trace and per LLM call, latency percentiles of one kind, the overview's filters (environment, tag, model,
prompt) and the dashboard's group-by dimensions, each compared with what was sent."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _events() -> list[dict[str, Any]]:
    """Six traces: an agent root (long), an `llm` and a `chat` call, and a tool; trace 1's chat call and trace 4's
    tool fail. Environments, tags, models and prompts differ per trace."""
    out: list[dict[str, Any]] = []
    for i in range(6):
        span = _span_maker(i)
        model = "gpt-4o" if i < 4 else "claude"
        out += [
            span("root", "agent", 6_000_000, tags=["vip", "beta"] if i == 0 else ["beta"]),
            span("plan", "llm", 100 * (i + 1), model=model, prompt={"name": "p1" if i < 3 else "p2", "version": "1"},
                 usage={"input_tokens": 10, "output_tokens": 5}, cost={"total": 0.25}),
            span("answer", "chat", 1000 + i, model=model, **({"status": "error"} if i == 1 else {})),
            span("tool", "tool", 50, **({"status": "error"} if i == 4 else {})),
        ]  # fmt: skip
    return out


def _span_maker(i: int) -> Any:
    t0 = NOW - dt.timedelta(minutes=30) + dt.timedelta(minutes=i)
    common = {"trace_id": f"t{i}", "environment": "prod" if i % 2 else "dev", "user_id": f"u{i % 2}"}

    def span(name: str, kind: str, ms: int, **extra: Any) -> dict[str, Any]:
        sid = f"t{i}-{name}"
        end = t0 + dt.timedelta(milliseconds=ms)
        return {**common, "event_id": sid, "span_id": sid, "name": name, "type": kind,
                "start_time": _iso(t0), "end_time": _iso(end), **extra}  # fmt: skip

    return span


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = RunningServer(tmp_path_factory.mktemp("metrics") / "data").start()
    events = _events()
    r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": events},
                   headers=server.headers())  # fmt: skip
    assert r.status_code == 202 and r.json()["rejected"] == [], r.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _metrics(server).get("series") and _metrics(server)["series"][0]["points"][0]["count"] == len(events):
            break
        time.sleep(0.1)
    yield server, events
    server.stop()


def _metrics(server: RunningServer, **params: Any) -> Any:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/metrics", params=params, headers=server.headers())
    assert r.status_code == 200, r.text
    return r.json()


def _expected(events: list[dict[str, Any]]) -> dict[str, Any]:
    llm = [e for e in events if e["type"] in ("llm", "chat")]
    traces = {e["trace_id"] for e in events}
    failed = {e["trace_id"] for e in events if e.get("status") == "error"}
    return {
        "count": len(events),
        "errors": sum(1 for e in events if e.get("status") == "error"),
        "traces": len(traces),
        "trace_errors": len(failed),
        "llm_calls": len(llm),
        "llm_errors": sum(1 for e in llm if e.get("status") == "error"),
    }


def _ms(e: dict[str, Any]) -> float:
    start, end = (dt.datetime.fromisoformat(e[k].replace("Z", "+00:00")) for k in ("start_time", "end_time"))
    return (end - start) / dt.timedelta(milliseconds=1)


def test_traces_llm_calls_and_spans_are_counted_apart(sent: Any) -> None:
    server, events = sent
    point = _metrics(server)["series"][0]["points"][0]
    assert {k: point[k] for k in _expected(events)} == _expected(events) == {
        "count": 24, "errors": 2, "traces": 6, "trace_errors": 2, "llm_calls": 12, "llm_errors": 1,
    }  # fmt: skip
    # the default percentiles are over every span: the agent roots (100 minutes each) dominate p99
    assert point["p99_ms"] > 5_000_000


def test_latency_percentiles_of_llm_calls_only(sent: Any) -> None:
    server, events = sent
    point = _metrics(server, latency_kind="llm_call")["series"][0]["points"][0]
    durations = [_ms(e) for e in events if e["type"] in ("llm", "chat")]
    assert point["p50_ms"] == pytest.approx(statistics.median(durations))
    assert point["p99_ms"] < 1100 and point["count"] == len(events)  # the counts stay over every span
    tools = _metrics(server, latency_kind="tool")["series"][0]["points"][0]
    assert tools["p50_ms"] == pytest.approx(50)
    bad = httpx.get(f"{server.url}/v1/projects/{server.project}/metrics", params={"latency_kind": "llm; DROP"},
                    headers=server.headers())  # fmt: skip
    assert bad.status_code == 400 and "latency_kind" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"environment": "prod"}, lambda e: e["environment"] == "prod"),
        ({"tag": "vip"}, lambda e: "vip" in e.get("tags", [])),
        ({"model": "claude"}, lambda e: e.get("model") == "claude"),
        ({"prompt_name": "p2"}, lambda e: e.get("prompt", {}).get("name") == "p2"),
        ({"model": "gpt-4o", "environment": "dev"}, lambda e: e.get("model") == "gpt-4o" and e["environment"] == "dev"),
    ],
)
def test_overview_filters_apply_to_every_count(sent: Any, params: dict[str, str], keep: Any) -> None:
    server, events = sent
    want = _expected([e for e in events if keep(e)])
    point = _metrics(server, **params)["series"][0]["points"][0]
    assert {k: point[k] for k in want} == want


def test_group_by_status_tag_and_kind_counts_each_group(sent: Any) -> None:
    server, _ = sent
    by_status = {s["group"]: s["points"][0]["count"] for s in _metrics(server, group_by="status")["series"]}
    assert by_status == {"error": 2, "ok": 22}
    by_tag = {s["group"]: s["points"][0]["traces"] for s in _metrics(server, group_by="tag")["series"]}
    assert by_tag == {"beta": 6, "vip": 1, "(none)": 6}  # every trace has untagged spans
    by_kind = {s["group"]: s["points"][0] for s in _metrics(server, group_by="kind", latency_kind="llm_call")["series"]}
    assert {k: v["count"] for k, v in by_kind.items()} == {"agent": 6, "llm": 6, "chat": 6, "tool": 6}
    assert by_kind["tool"]["p50_ms"] is None and by_kind["chat"]["llm_errors"] == 1
    series = _metrics(server, group_by="model", interval="1h", top=1, top_by="count")["series"]
    assert [s["group"] for s in series] == ["(none)"]
    assert sum(p["llm_calls"] for p in series[0]["points"]) == 0


def test_group_by_outside_the_allow_list_is_refused(sent: Any) -> None:
    server, _ = sent
    for group in ("input", "attributes", "model; DROP TABLE spans"):
        r = httpx.get(f"{server.url}/v1/projects/{server.project}/metrics", params={"group_by": group},
                      headers=server.headers())  # fmt: skip
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_group_by", r.text
