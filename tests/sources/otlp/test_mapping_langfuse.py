"""Langfuse SDK spans (v3 raw metadata values, v5 JSON-encoded ones)."""

from __future__ import annotations

import pytest

from lynex_box.sources.otlp.mapping import map_span

from .builders import js, loads, make_span

V3_GENERATION = {
    "langfuse.observation.type": "generation",
    "langfuse.observation.model.name": "gpt-4o",
    "langfuse.observation.model.parameters": js({"temperature": 0.5, "max_tokens": "100"}),
    "langfuse.observation.input": js([{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]),
    "langfuse.observation.output": js({"role": "assistant", "content": "hello!"}),
    "langfuse.observation.usage_details": js({"input": 10, "output": 5, "input_cached_tokens": 4, "total": 19}),
    "langfuse.observation.cost_details": js({"input": 0.0001, "output": 0.0002}),
    "langfuse.observation.level": "WARNING",
    "langfuse.observation.status_message": "slow upstream",
    "langfuse.observation.completion_start_time": js("2025-01-01T00:00:00.500000Z"),
    "langfuse.observation.prompt.name": "greeting",
    "langfuse.observation.prompt.version": 3,
    "langfuse.observation.metadata.step": "draft",
    "langfuse.trace.name": "chat-session",
    "langfuse.trace.tags": ["a", "b"],
    "langfuse.trace.metadata.region": "eu",
    "user.id": "user-1",
    "session.id": "session-1",
    "langfuse.environment": "staging",
    "langfuse.release": "2.0.0",
    "langfuse.version": "1.0",
}


def test_v3_generation() -> None:
    row = map_span(make_span(V3_GENERATION, resource={"service.version": "9.9.9"}))
    assert (row["kind"], row["model"], row["provider"]) == ("llm", "gpt-4o", None)
    # Langfuse's "input" excludes cached tokens; ours includes them.
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"], row["total_tokens"]) == (14, 4, 5, 19)
    assert row["input_cost"] == pytest.approx(0.0001) and row["output_cost"] == pytest.approx(0.0002)
    assert row["total_cost"] == pytest.approx(0.0003) and row["cost_source"] == "reported"
    assert (row["status"], row["status_message"]) == ("unset", "slow upstream")
    assert (row["prompt_name"], row["prompt_version"]) == ("greeting", "3")
    assert (row["user_id"], row["session_id"], row["environment"], row["release"]) == (
        "user-1",
        "session-1",
        "staging",
        "2.0.0",
    )
    assert row["tags"] == ["a", "b"]
    assert loads(row["input"]) == {
        "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]
    }
    assert loads(row["output"]) == {"messages": [{"role": "assistant", "content": "hello!"}], "finish_reason": None}
    assert loads(row["attributes"]) == {
        "langfuse.observation.completion_start_time": js("2025-01-01T00:00:00.500000Z"),
        "langfuse.observation.level": "WARNING",
        "langfuse.trace.name": "chat-session",
        "langfuse.version": "1.0",
        "metadata": {"region": "eu", "step": "draft"},
        "model_parameters": {"temperature": 0.5, "max_tokens": "100"},
    }


def test_v5_error_level_and_json_encoded_metadata() -> None:
    attrs = {
        "langfuse.observation.type": "agent",
        "langfuse.observation.level": "ERROR",
        "langfuse.observation.status_message": "tool crashed",
        "langfuse.observation.input": js("plan a trip"),
        "langfuse.observation.output": js({"plan": ["fly", "walk"]}),
        "langfuse.observation.metadata.step": js("draft"),
        "langfuse.observation.metadata.attempt": js(2),
        "langfuse.trace.metadata.flags": js({"beta": True}),
        "langfuse.trace.tags": js(["x"]),
    }
    row = map_span(make_span(attrs))
    assert (row["kind"], row["status"], row["status_message"]) == ("agent", "error", "tool crashed")
    assert loads(row["input"]) == "plan a trip" and loads(row["output"]) == {"plan": ["fly", "walk"]}
    assert loads(row["attributes"]) == {"metadata": {"attempt": 2, "flags": {"beta": True}, "step": "draft"}}
    assert row["tags"] == ["x"]


@pytest.mark.parametrize(
    "observation_type, kind",
    [
        ("generation", "llm"),
        ("span", "span"),
        ("event", "event"),
        ("agent", "agent"),
        ("tool", "tool"),
        ("chain", "chain"),
        ("retriever", "retriever"),
        ("evaluator", "evaluator"),
        ("embedding", "embedding"),
        ("guardrail", "guardrail"),
    ],
)
def test_observation_types(observation_type: str, kind: str) -> None:
    assert map_span(make_span({"langfuse.observation.type": observation_type}))["kind"] == kind


def test_anthropic_style_usage_and_cost_details() -> None:
    attrs = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.usage_details": js(
            {"input": 100, "output": 50, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 200}
        ),
        "langfuse.observation.cost_details": js({"input": 0.1, "output": 0.2, "cache_read_input_tokens": 0.05}),
    }
    row = map_span(make_span(attrs))
    assert (row["input_tokens"], row["cached_tokens"], row["_cache_write_tokens"]) == (1200, 900, 200)
    assert (row["output_tokens"], row["total_tokens"]) == (50, 1250)
    assert row["total_cost"] == pytest.approx(0.35)  # no "total": every reported part counts


def test_openai_style_usage_details_keys() -> None:
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
    row = map_span(make_span({"langfuse.observation.usage_details": js(usage)}))
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (30, 12, 42)


def test_reasoning_tokens_from_usage_details() -> None:
    usage = {"input": 5, "output": 40, "output_reasoning_tokens": 30}
    row = map_span(make_span({"langfuse.observation.usage_details": js(usage)}))
    assert (row["output_tokens"], row["reasoning_tokens"]) == (70, 30)


def test_unparseable_usage_details_stay_in_attributes() -> None:
    row = map_span(make_span({"langfuse.observation.usage_details": "lots"}))
    assert row["input_tokens"] is None and loads(row["attributes"]) == {"langfuse.observation.usage_details": "lots"}


def test_langfuse_prefixed_identity_keys() -> None:
    row = map_span(make_span({"langfuse.user.id": "u", "langfuse.session.id": "s"}))
    assert (row["user_id"], row["session_id"]) == ("u", "s")
