"""A model-based judge's verdict lands where the detectors' do (docs/detectors.md, "Judges"): a judge reads an LLM
span through the API, asks a model (here a real HTTP server standing in for the provider, on 127.0.0.1) and posts
its verdict as a `hallucination_risk` score on the span with an API key; the traces and spans lists then find the
span by `min_hallucination_risk` and `detector`, the trace shows the judge's risk, and the span its reason in
`detections` beside the detectors' entries. The verdict goes through the WAL (a SCORES record), so it survives a
restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.e2e.accounts import wait_for_trace
from tests.e2e.server import RunningServer

DOCS = ["The Eiffel Tower in Paris was completed in 1889 and is 330 metres tall."]


class Provider(BaseHTTPRequestHandler):
    """A chat-completions endpoint whose "model" judges an answer: 330 metres is right, anything else is not."""

    asked: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).asked.append(body)
        answer = body["messages"][-1]["content"]
        verdict = {"score": 0.0, "reason": "consistent with the documents"}
        if "1999" in answer:
            verdict = {"score": 0.9, "reason": "the documents say the tower was completed in 1889, not 1999"}
        elif "tallest" in answer:
            verdict = {"score": 0.8, "reason": "the documents do not say it is the tallest building"}
        out = {"choices": [{"message": {"role": "assistant", "content": json.dumps(verdict)}}]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat/completions"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _send(server: RunningServer, trace: str, answer: str) -> None:
    events = [
        {"trace_id": trace, "span_id": f"{trace}-docs", "type": "retriever", "name": "search", "output": DOCS},
        {"trace_id": trace, "span_id": f"{trace}-llm", "parent_span_id": f"{trace}-docs", "type": "generation",
         "name": "answer", "model": "gpt-4o", "input": [{"role": "user", "content": "When was it completed?"}],
         "output": [{"role": "assistant", "content": answer}]},
    ]  # fmt: skip
    r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": events},
                   headers=server.headers())  # fmt: skip
    assert r.status_code == 202, r.text
    wait_for_trace(server, server.project, server.creds["api_key"], trace)


def judge(server: RunningServer, provider: str, trace: str) -> None:
    """What an LLM-as-judge evaluator does: read the LLM spans of a trace, ask the model, post its verdicts."""
    base = f"{server.url}/v1/projects/{server.project}"
    spans = httpx.get(f"{base}/traces/{trace}", headers=server.headers()).json()["spans"]
    for span in spans:
        if span["kind"] not in ("llm", "chat"):
            continue
        answer = span["output"]["messages"][-1]["content"] if isinstance(span["output"], dict) else span["output"]
        asked = {"model": "judge-1", "messages": [{"role": "system", "content": "Judge the answer."},
                                                  {"role": "user", "content": answer}]}  # fmt: skip
        verdict = json.loads(httpx.post(provider, json=asked).json()["choices"][0]["message"]["content"])
        code = "contradiction" if verdict["score"] else "consistent"
        score = {"trace_id": trace, "span_id": span["span_id"], "name": "hallucination_risk",
                 "value": verdict["score"], "data_type": "NUMERIC", "source": "EVAL", "comment": verdict["reason"],
                 "metadata": {"judge": "judge-1", "code": code}}  # fmt: skip
        r = httpx.post(f"{base}/scores", json=score, headers=server.headers())
        assert r.status_code == 202 and r.json()["accepted"] == 1, r.text


def _ids(server: RunningServer, what: str, key: str, **params: Any) -> set[str]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/{what}", headers=server.headers(), params=params)
    assert r.status_code == 200, r.text
    return {item[key] for item in r.json()["items"]}


def _span(server: RunningServer, trace: str, span: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace}/spans/{span}", headers=server.headers())
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found.get("span", found)


def test_a_judges_verdict_is_found_by_the_risk_and_detector_filters_with_its_reason(
    tmp_path: Path, provider: str
) -> None:
    server = RunningServer(tmp_path / "data").start()
    try:
        _send(server, "right", "It was completed in 1889.")
        _send(server, "tallest", "It was completed in 1889 and is the tallest building on earth.")  # no detector
        _send(server, "wrong", "It was completed in 1999.")  # the grounding detector flags 1999 (risk 1.0)
        assert _ids(server, "spans", "span_id", min_hallucination_risk=0.5) == {"wrong-llm"}
        assert _ids(server, "spans", "span_id", detector="contradiction") == set()
        for trace in ("right", "tallest", "wrong"):
            judge(server, provider, trace)
        assert len(Provider.asked) == 3
        assert _ids(server, "spans", "span_id", detector="contradiction") == {"wrong-llm", "tallest-llm"}
        assert _ids(server, "traces", "trace_id", detector="judge-1") == {"right", "tallest", "wrong"}
        assert _ids(server, "traces", "trace_id", min_hallucination_risk=0.75) == {"tallest", "wrong"}
        assert _ids(server, "traces", "trace_id", min_hallucination_risk=0.75, detector="grounding") == {"wrong"}
        risks = {t["trace_id"]: t["hallucination_risk"] for t in httpx.get(
            f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers()).json()["items"]}  # fmt: skip
        assert risks == {"right": 0.0, "tallest": pytest.approx(0.8), "wrong": 1.0}
        tallest = _span(server, "tallest", "tallest-llm")
        assert tallest["hallucination_risk"] == pytest.approx(0.8)  # the judge's verdict alone
        assert tallest["detections"] == [{
            "detector": "judge-1", "code": "contradiction", "score": pytest.approx(0.8),
            "excerpt": "the documents do not say it is the tallest building",
        }]  # fmt: skip
        wrong = _span(server, "wrong", "wrong-llm")
        assert wrong["hallucination_risk"] == 1.0  # the detector's 1.0 beats the judge's 0.9
        assert [(d["detector"], d["code"]) for d in wrong["detections"]] == [
            ("grounding", "ungrounded_number"), ("judge-1", "contradiction")]  # fmt: skip
        right = _span(server, "right", "right-llm")
        assert right["hallucination_risk"] == 0.0
        assert right["detections"] == [
            {"detector": "judge-1", "code": "consistent", "score": 0.0, "excerpt": "consistent with the documents"}
        ]
        server.stop()
        server.start()  # the verdicts are scores: through the WAL into meta.db, kept across a restart
        assert _ids(server, "spans", "span_id", detector="contradiction", min_hallucination_risk=0.75) == {
            "wrong-llm", "tallest-llm"}  # fmt: skip
    finally:
        server.stop()
