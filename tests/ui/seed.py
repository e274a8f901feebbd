"""Seeded data for the browser tests: chat traces with tool calls, errors, users, sessions and prompt
versions, plus one trace of 30,000 spans. `Seed.totals` is what the dashboard must show."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.server import RunningServer

BIG_TRACE = "big-trace-30k"
BIG_SPANS = 30_000
PROMPT_V1 = "You are a support agent for Acme.\nAnswer briefly.\nAlways be polite.\nUse the weather tool for weather."
PROMPT_V2 = "You are a support agent for Acme Corp.\nAnswer briefly.\nUse the weather tool for weather.\nCite sources."


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class Seed:
    events: list[dict[str, Any]] = field(default_factory=list)
    chat_traces: list[str] = field(default_factory=list)
    model_traces: dict[str, set[str]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, float]:
        return {
            "count": len(self.events),
            "errors": sum(1 for e in self.events if e.get("status") == "error"),
            "cost": sum(e.get("cost", {}).get("total", 0.0) for e in self.events),
            "input_tokens": sum(e.get("usage", {}).get("input_tokens", 0) for e in self.events),
            "output_tokens": sum(e.get("usage", {}).get("output_tokens", 0) for e in self.events),
        }


def chat_trace(seed: Seed, i: int, start: dt.datetime) -> None:
    """agent -> llm (asks for get_weather) -> tool -> llm (answers)."""
    trace = f"chat-{i:03d}"
    model, provider = ("gpt-4o", "openai") if i % 3 else ("claude-3-5-sonnet", "anthropic")
    seed.chat_traces.append(trace)
    seed.model_traces.setdefault(model, set()).add(trace)
    user, session = f"user-{i % 4 + 1}", f"sess-{i % 6 + 1}"
    common = {"trace_id": trace, "user_id": user, "session_id": session, "environment": "prod" if i % 2 else "staging"}
    version = "1" if i < 12 else "2"
    ms = dt.timedelta(milliseconds=1)
    failed = i % 8 == 5
    city = ["Paris", "Berlin", "Tokyo", "Lima"][i % 4]
    call_id = f"call-{i}"
    system = PROMPT_V1 if version == "1" else PROMPT_V2
    args = f'{{"city": "{city}", "unit": "celsius"}}'
    ask = {"role": "user", "content": f"What is the weather in {city}?"}
    request_call = {"id": call_id, "name": "get_weather", "arguments": args}
    tool_call = {
        **request_call,
        "arguments": f'{{"city": "{city}"}}',
        "result": "" if failed else f"sunny, 21C in {city}",
    }
    error = {"status": "error", "error": {"type": "TimeoutError", "message": "weather API timed out"}} if failed else {}
    llm = {"type": "llm", "model": model, "provider": provider, "prompt": {"name": "support", "version": version}}

    def span(name: str, kind: str, parent: str | None, t0: int, t1: int) -> dict[str, Any]:
        sid = f"{trace}-{kind}"
        times = {"start_time": _iso(start + t0 * ms), "end_time": _iso(start + t1 * ms)}
        return {**common, "event_id": sid, "span_id": sid, "parent_span_id": parent, "name": name, **times}

    root = f"{trace}-root"
    seed.events += [
        {**span("support-agent", "root", None, 0, 1800), "type": "agent", "tags": ["support"]},
        {
            **span(f"chat {model}", "llm1", root, 10, 700),
            **llm,
            "input": [{"role": "system", "content": system}, ask],
            "output": {"messages": [{"role": "assistant", "content": None, "tool_calls": [request_call]}],
                       "finish_reason": "tool_calls"},
            "tool_calls": [request_call],
            "usage": {"input_tokens": 120 + i, "output_tokens": 20},
            "cost": {"input": 0.001, "output": 0.0005, "total": 0.0015},
        },
        {**span("get_weather", "tool", root, 710, 900), "type": "tool", "tool_calls": [tool_call], **error},
        {
            **span(f"chat {model}", "llm2", root, 910, 1790),
            **llm,
            "input": [ask, {"role": "tool", "content": f"sunny, 21C in {city}", "tool_call_id": call_id}],
            "output": f"It is sunny and 21 degrees in {city}.",
            "usage": {"input_tokens": 200, "output_tokens": 30 + i},
            "cost": {"input": 0.002, "output": 0.001, "total": 0.003},
        },
    ]  # fmt: skip


def big_trace(seed: Seed, start: dt.datetime) -> None:
    """One root, 300 steps under it, 99 leaves under each step: 30,000 spans over 60 s."""
    us = dt.timedelta(microseconds=1)
    seed.events.append(
        {"trace_id": BIG_TRACE, "event_id": "big-root", "span_id": "big-root", "name": "bulk-pipeline", "type": "chain",
         "start_time": _iso(start), "end_time": _iso(start + 60_000_000 * us)}
    )  # fmt: skip
    for step in range(300):
        s0 = start + step * 200_000 * us
        seed.events.append(
            {"trace_id": BIG_TRACE, "event_id": f"big-s{step}", "span_id": f"big-s{step}", "parent_span_id": "big-root",
             "name": f"step-{step}", "type": "chain", "start_time": _iso(s0), "end_time": _iso(s0 + 190_000 * us)}
        )  # fmt: skip
        for leaf in range(99 if step else 98):
            t0 = s0 + leaf * 1_900 * us
            seed.events.append(
                {"trace_id": BIG_TRACE, "event_id": f"big-{step}-{leaf}", "span_id": f"big-{step}-{leaf}",
                 "parent_span_id": f"big-s{step}", "name": f"lookup-{leaf}", "type": "tool",
                 "start_time": _iso(t0), "end_time": _iso(t0 + 1_500 * us)}
            )  # fmt: skip
    assert sum(1 for e in seed.events if e["trace_id"] == BIG_TRACE) == BIG_SPANS


def build(now: dt.datetime) -> Seed:
    seed = Seed()
    for i in range(24):
        chat_trace(seed, i, now - dt.timedelta(minutes=50) + dt.timedelta(minutes=2 * i))
    big_trace(seed, now - dt.timedelta(minutes=40))
    return seed


def load(server: RunningServer) -> Seed:
    """Send the seed, register two prompt versions, and wait until every span is queryable."""
    seed = build(dt.datetime.now(dt.UTC).replace(microsecond=0))
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as client:
        for at in range(0, len(seed.events), 5000):
            r = client.post(f"/v1/projects/{server.project}/events", json={"events": seed.events[at : at + 5000]})
            assert r.status_code == 202 and r.json()["rejected"] == [], r.text
        for version, text in (("1", PROMPT_V1), ("2", PROMPT_V2)):
            body = {"name": "support", "version": version, "template": text}
            r = client.post(f"/v1/projects/{server.project}/prompts", json=body)
            assert r.status_code in (200, 201), r.text
        deadline = time.monotonic() + 60
        want = len(seed.events)
        while time.monotonic() < deadline:
            r = client.get(f"/v1/projects/{server.project}/metrics", params={"from": "2000-01-01T00:00:00Z"})
            series = r.json()["series"]
            if series and series[0]["points"][0]["count"] == want:
                return seed
            time.sleep(0.2)
    raise AssertionError(f"seeded spans did not all become queryable: {r.text}")
