"""The built-in `detectors` plugin in a real server with the default settings (no `[plugins] enabled`): two RAG
traces sent through the native API, each a retriever span (its documents as output) and a generation in one
request; the invented answer's generation reads back with its `hallucination_risk` and its reasons in `detections`,
the grounded one with 0.0 and none; `min_hallucination_risk` and `detector` on the traces and spans lists keep only
the flagged one; GET /v1/plugins counts the detectors' calls; `builtin_detectors = []` turns them off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import Browsers, wait_for_trace
from tests.e2e.server import RunningServer

DOCS = ["The Eiffel Tower in Paris was completed in 1889 and is 330 metres tall."]
QUESTION = [{"role": "user", "content": "How tall is the Eiffel Tower and when was it completed?"}]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path / "data").start()  # the defaults: the detectors are built in
    try:
        yield running
    finally:
        running.stop()


def _send(server: RunningServer, trace: str, answer: str) -> None:
    events = [
        {"trace_id": trace, "span_id": f"{trace}-docs", "type": "retriever", "name": "search", "output": DOCS},
        {"trace_id": trace, "span_id": f"{trace}-llm", "parent_span_id": f"{trace}-docs", "type": "generation",
         "name": "answer", "model": "gpt-4o", "input": QUESTION,
         "output": [{"role": "assistant", "content": answer}]},
    ]  # fmt: skip
    r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": events},
                   headers=server.headers())  # fmt: skip
    assert r.status_code == 202, r.text
    wait_for_trace(server, server.project, server.creds["api_key"], trace)


def _span(server: RunningServer, trace: str, span: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace}", headers=server.headers())
    assert r.status_code == 200, r.text
    return next(s for s in r.json()["spans"] if s["span_id"] == span)


def _ids(server: RunningServer, what: str, risk: float | None, key: str, **more: str) -> set[str]:
    params = {"min_hallucination_risk": risk} if risk is not None else {}
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/{what}", headers=server.headers(),
                  params={**params, **more})  # fmt: skip
    assert r.status_code == 200, r.text
    return {item[key] for item in r.json()["items"]}


def test_an_invented_answer_is_flagged_with_reasons_and_a_grounded_one_is_not(server: RunningServer) -> None:
    _send(server, "grounded", "It is 330 metres tall and was completed in 1889.")
    _send(server, "invented", "It is 412 metres tall, was completed in 1889 and was painted by Acme Corp.")
    grounded, invented = _span(server, "grounded", "grounded-llm"), _span(server, "invented", "invented-llm")
    assert grounded["hallucination_risk"] == 0.0
    assert grounded["detections"] is None
    assert invented["hallucination_risk"] == pytest.approx(0.5 + 0.5 * 2 / 3)  # two of its three facts
    score = pytest.approx(0.5 + 0.5 * 2 / 3)
    assert invented["detections"] == [
        {"detector": "grounding", "code": "ungrounded_number", "score": score, "excerpt": "412"},
        {"detector": "grounding", "code": "ungrounded_entity", "score": score, "excerpt": "Acme Corp"},
    ]
    assert _ids(server, "spans", None, "span_id", detector="grounding") == {"invented-llm"}
    assert _ids(server, "traces", None, "trace_id", detector="ungrounded_entity") == {"invented"}
    assert _ids(server, "traces", None, "trace_id", detector="refusal") == set()
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers(),
                  params={"detector": "x\"y"})  # fmt: skip
    assert r.status_code == 400 and "detector" in r.json()["error"]["message"]
    risks = {
        t["trace_id"]: t["hallucination_risk"]
        for t in httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers()).json()[
            "items"
        ]
    }
    assert risks == {"grounded": 0.0, "invented": score}  # the list shows each trace's highest
    assert _span(server, "invented", "invented-docs")["hallucination_risk"] is None  # not an LLM call
    assert _ids(server, "traces", 0.5, "trace_id") == {"invented"}
    assert _ids(server, "spans", 0.5, "span_id") == {"invented-llm"}
    assert _ids(server, "spans", 0.0, "span_id") == {"invented-llm", "grounded-llm"}
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/spans", headers=server.headers(),
                  params={"min_hallucination_risk": "high"})  # fmt: skip
    assert r.status_code == 400 and "min_hallucination_risk" in r.json()["error"]["message"]
    web = Browsers(server)
    try:
        plugin = {p["name"]: p for p in web.admin().get("/v1/plugins").json()["items"]}["detectors"]
    finally:
        web.close()
    assert plugin["state"] == "loaded" and plugin["errors"] == 0
    assert plugin["pipeline"][0]["hook"] == "lynex_detectors" and plugin["pipeline"][0]["calls"] >= 1


def test_builtin_detectors_can_be_turned_off(tmp_path: Path) -> None:
    env = {"LYNEX_PLUGINS_BUILTIN_DETECTORS": ""}
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        _send(server, "invented", "It is 412 metres tall, was completed in 1889 and was painted by Acme Corp.")
        span = _span(server, "invented", "invented-llm")
        assert span["hallucination_risk"] is None and span["detections"] is None
    finally:
        server.stop()
