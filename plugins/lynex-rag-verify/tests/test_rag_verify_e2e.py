"""rag-verify through a real server started with the plugin enabled: RAG traces sent by the real OpenTelemetry SDK
exporter, OpenInference-shaped (a RETRIEVER span with `retrieval.documents.*`, an LLM span with its output
messages) and OTel GenAI-shaped (`gen_ai.retrieval.documents`, `gen_ai.output.messages`); once each trace is
complete the plugin writes a `rag_support` score, read back through the scores API: 1.0 for a grounded answer,
1/3 for an answer with two invented facts (naming them in the comment); a trace without documents gets none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

DOCS = [
    "The Eiffel Tower is located in Paris, France. It was completed in 1889 and is 330 metres tall.",
    "Gustave Eiffel's engineering company designed and built the tower for the 1889 World's Fair.",
]
GROUNDED = (
    "The Eiffel Tower is in Paris and was completed in 1889. It is 330 metres tall. "
    "Gustave Eiffel's company built the tower for the World's Fair."
)
INVENTED = (
    "The Eiffel Tower is in Paris and was completed in 1889. It was painted gold by Napoleon in 1920. "
    "The tower has 12 elevators operated by Acme Corp."
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    config = tmp_path / "lynex.toml"
    config.write_text(
        '[plugins]\nenabled = ["rag-verify"]\ntrace_idle_s = 1.0\n[plugins.rag-verify]\nthreshold = 0.6\n'
    )
    running = RunningServer(tmp_path / "data", env={"LYNEX_CONFIG": str(config)}).start()
    yield running
    running.stop()


def _openinference_trace(provider: TracerProvider, answer: str, documents: list[str]) -> str:
    tracer = provider.get_tracer("rag-app")
    with tracer.start_as_current_span("rag query") as root:
        root.set_attributes({"openinference.span.kind": "CHAIN", "input.value": "Tell me about the Eiffel Tower"})
        with tracer.start_as_current_span("retrieve") as retriever:
            attributes: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": "Eiffel Tower"}
            for i, text in enumerate(documents):
                attributes[f"retrieval.documents.{i}.document.id"] = f"doc-{i}"
                attributes[f"retrieval.documents.{i}.document.content"] = text
                attributes[f"retrieval.documents.{i}.document.score"] = 0.9 - i / 10
            retriever.set_attributes(attributes)
        with tracer.start_as_current_span("ChatCompletion") as llm:
            llm.set_attributes({
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Tell me about the Eiffel Tower",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": answer,
            })  # fmt: skip
        return format(root.get_span_context().trace_id, "032x")


def _genai_trace(provider: TracerProvider, answer: str, documents: list[str]) -> str:
    tracer = provider.get_tracer("rag-app")
    with tracer.start_as_current_span("invoke_agent helper") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("retrieval") as retriever:
            docs = [{"id": f"d{i}", "score": 0.8, "content": text} for i, text in enumerate(documents)]
            retriever.set_attributes(
                {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": orjson.dumps(docs).decode()}
            )
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            output = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.output.messages": orjson.dumps(output).decode(),
            })  # fmt: skip
        return format(root.get_span_context().trace_id, "032x")


def _score(server: RunningServer, trace_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    url = f"{server.url}/v1/projects/{server.project}/scores"
    while time.monotonic() < deadline:
        r = httpx.get(url, params={"trace_id": trace_id, "name": "rag_support"}, headers=server.headers())
        assert r.status_code == 200, r.text
        if r.json()["items"]:
            [item] = r.json()["items"]
            return dict(item)
        time.sleep(0.2)
    raise AssertionError(f"no rag_support score for trace {trace_id} after {timeout_s} s")


def test_grounded_and_invented_answers_are_scored(server: RunningServer) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=server.headers())
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    grounded = _openinference_trace(provider, GROUNDED, DOCS)
    invented = _openinference_trace(provider, INVENTED, DOCS)
    genai = _genai_trace(provider, INVENTED, DOCS)
    no_docs = _openinference_trace(provider, GROUNDED, [])
    provider.shutdown()

    good = _score(server, grounded)
    assert good["value"] == 1.0 and good["data_type"] == "NUMERIC" and good["source"] == "EVAL"
    assert good["metadata"]["plugin"] == "rag-verify"
    assert (good["metadata"]["claims"], good["metadata"]["documents"]) == (3, 2)
    assert good["comment"].startswith("all 3 claims supported")

    bad = _score(server, invented)
    assert bad["value"] == pytest.approx(1 / 3, abs=1e-3)
    assert "painted gold by Napoleon" in bad["comment"] and "Acme Corp" in bad["comment"]
    assert "completed in 1889" not in bad["comment"]

    assert _score(server, genai)["value"] == pytest.approx(1 / 3, abs=1e-3)  # the OTel GenAI spelling too

    # the trace without documents completed with the others but got no score
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/scores", params={"trace_id": no_docs},
                  headers=server.headers())  # fmt: skip
    assert r.status_code == 200 and r.json()["items"] == []
    web = Browsers(server)
    try:
        r = web.admin().get("/v1/plugins")
    finally:
        web.close()
    [plugin] = [p for p in r.json()["items"] if p["name"] == "rag-verify"]
    assert plugin["state"] == "loaded" and plugin["errors"] == 0 and plugin["delivered"] >= 4
