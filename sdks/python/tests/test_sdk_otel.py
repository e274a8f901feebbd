"""`lynex.otel.configure()`: spans of the OpenTelemetry SDK reach the server over OTLP/HTTP and are queryable."""

from __future__ import annotations

import lynex
import lynex.otel
import pytest
from conftest import Api

from tests.e2e.server import RunningServer


def test_configure_exports_spans_to_the_appliance(server: RunningServer, api: Api) -> None:
    provider = lynex.otel.configure(
        server.creds["api_key"], server.url, service_name="sdk-test", set_global=False, batch=False
    )
    tracer = provider.get_tracer("lynex-test")
    with tracer.start_as_current_span("agent run") as root:
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.system", "openai")
            llm.set_attribute("gen_ai.usage.input_tokens", 12)
            llm.set_attribute("gen_ai.usage.output_tokens", 4)
        trace_id = f"{root.get_span_context().trace_id:032x}"
    provider.shutdown()
    spans = {s["name"]: s for s in api.wait_spans(trace_id, 2)}
    assert spans["chat gpt-4o"]["model"] == "gpt-4o"
    assert (spans["chat gpt-4o"]["input_tokens"], spans["chat gpt-4o"]["output_tokens"]) == (12, 4)
    assert spans["chat gpt-4o"]["parent_span_id"] == spans["agent run"]["span_id"]
    assert spans["agent run"]["source"] == "otlp"


def test_configure_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LYNEX_API_KEY", raising=False)
    with pytest.raises(lynex.ConfigError, match="LYNEX_API_KEY"):
        lynex.otel.configure(set_global=False)
