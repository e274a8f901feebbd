"""OpenTelemetry GenAI conventions: current (`gen_ai.provider.name`, parts messages) and deprecated generations."""

from __future__ import annotations

from typing import Any

import pytest

from lynex_box.sources.otlp.mapping import map_span

from .builders import END_NS, START_NS, js, loads, make_span

CURRENT_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.max_tokens": 512,
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.top_p": 0.9,
    "gen_ai.request.seed": 7,
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.finish_reasons": ["tool_calls"],
    "gen_ai.output.type": "text",
    "gen_ai.conversation.id": "conv-9",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 80,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.cache_creation.input_tokens": 100,
    "gen_ai.usage.reasoning.output_tokens": 16,
    "server.address": "api.openai.com",
    "server.port": 443,
    "gen_ai.system_instructions": js([{"type": "text", "content": "You are a weather bot."}]),
    "gen_ai.input.messages": js(
        [
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "call_0", "name": "geo", "arguments": {"city": "Paris"}}],
            },
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_0", "result": {"lat": 48.8}}]},
        ]
    ),
    "gen_ai.output.messages": js(
        [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": "Let me check."},
                    {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"lat": 48.8}},
                ],
                "finish_reason": "tool_call",
            }
        ]
    ),
}
RESOURCE = {"service.name": "weather-api", "service.version": "3.1.0", "deployment.environment.name": "production"}


def test_current_chat_span_maps_every_column() -> None:
    row = map_span(make_span(CURRENT_CHAT, name="chat gpt-4o", resource=RESOURCE, scope=("openai_v2", "2.1b0")))
    assert (row["kind"], row["provider"], row["model"], row["response_model"]) == (
        "chat",
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert row["start_time"] == START_NS // 1000 and row["end_time"] == END_NS // 1000
    assert row["duration_ms"] == pytest.approx(1500.0)
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (
        1200,
        80,
        1024,
        16,
    )
    assert row["total_tokens"] == 1280 and row["_cache_write_tokens"] == 100
    assert (row["input_cost"], row["total_cost"], row["cost_source"]) == (None, None, None)
    assert (row["session_id"], row["environment"], row["release"]) == ("conv-9", "production", "3.1.0")
    assert loads(row["input"]) == {
        "messages": [
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "name": "geo", "arguments": '{"city":"Paris"}'}],
            },
            {"role": "tool", "content": '{"lat":48.8}', "tool_call_id": "call_0"},
        ]
    }
    assert loads(row["output"]) == {
        "messages": [
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"lat":48.8}'}],
            }
        ],
        "finish_reason": "tool_call",
    }
    assert loads(row["tool_calls"]) == [{"id": "call_1", "name": "get_weather", "arguments": '{"lat":48.8}'}]
    assert loads(row["attributes"]) == {
        "gen_ai.output.type": "text",
        "gen_ai.response.id": "chatcmpl-123",
        "model_parameters": {"max_tokens": 512, "temperature": 0.2, "top_p": 0.9, "seed": 7},
        "otel.scope.name": "openai_v2",
        "otel.scope.version": "2.1b0",
        "server.address": "api.openai.com",
        "server.port": 443,
        "service.name": "weather-api",
    }


def test_finish_reasons_attribute_fills_a_missing_output_reason() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.output.messages": js([{"role": "assistant", "parts": [{"type": "text", "content": "Hi"}]}]),
        "gen_ai.response.finish_reasons": ["stop"],
    }
    assert loads(map_span(make_span(attrs))["output"])["finish_reason"] == "stop"


def test_finish_reasons_without_output_stay_in_attributes() -> None:
    row = map_span(make_span({"gen_ai.operation.name": "chat", "gen_ai.response.finish_reasons": ["length"]}))
    assert row["output"] is None and loads(row["attributes"])["gen_ai.response.finish_reasons"] == ["length"]


def test_structured_messages_from_kvlist_attributes_are_accepted() -> None:
    """Non-Python SDKs may send the messages as AnyValue arrays instead of JSON text."""
    attrs = {"gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]}
    assert loads(map_span(make_span(attrs))["input"]) == {"messages": [{"role": "user", "content": "Hi"}]}


def test_execute_tool_span() -> None:
    attrs = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Weather by coordinates",
        "gen_ai.tool.call.arguments": js({"lat": 48.8}),
        "gen_ai.tool.call.result": js({"temp_c": 21}),
    }
    row = map_span(make_span(attrs, name="execute_tool get_weather"))
    assert row["kind"] == "tool"
    assert loads(row["input"]) == {"lat": 48.8} and loads(row["output"]) == {"temp_c": 21}
    assert loads(row["tool_calls"]) == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"lat": 48.8}', "result": '{"temp_c": 21}'}
    ]
    assert loads(row["attributes"]) == {
        "gen_ai.tool.description": "Weather by coordinates",
        "gen_ai.tool.type": "function",
    }


@pytest.mark.parametrize(
    "operation, kind",
    [
        ("chat", "chat"),
        ("text_completion", "llm"),
        ("generate_content", "llm"),
        ("embeddings", "embedding"),
        ("execute_tool", "tool"),
        ("invoke_agent", "agent"),
        ("create_agent", "agent"),
        ("retrieval", "retriever"),
        ("invoke_workflow", "chain"),
    ],
)
def test_operation_name_gives_the_kind(operation: str, kind: str) -> None:
    assert map_span(make_span({"gen_ai.operation.name": operation}))["kind"] == kind


def test_unmapped_operation_stays_visible() -> None:
    row = map_span(make_span({"gen_ai.operation.name": "create_memory"}))
    assert row["kind"] == "span" and loads(row["attributes"]) == {"gen_ai.operation.name": "create_memory"}


def test_invoke_agent_span_keeps_agent_attributes() -> None:
    attrs = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "planner",
        "gen_ai.agent.id": "agent-1",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.input.messages": js([{"role": "user", "parts": [{"type": "text", "content": "Plan a trip"}]}]),
    }
    row = map_span(make_span(attrs))
    assert (row["kind"], row["provider"], row["model"]) == ("agent", "anthropic", "claude-sonnet-4")
    assert loads(row["attributes"]) == {"gen_ai.agent.id": "agent-1", "gen_ai.agent.name": "planner"}


# --- deprecated generation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "system, provider",
    [
        ("az.ai.openai", "azure.ai.openai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("xai", "x_ai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("openai", "openai"),
        ("Anthropic", "anthropic"),
    ],
)
def test_deprecated_gen_ai_system_values_are_normalised(system: str, provider: str) -> None:
    assert map_span(make_span({"gen_ai.system": system}))["provider"] == provider


def test_provider_name_wins_over_deprecated_system() -> None:
    row = map_span(make_span({"gen_ai.provider.name": "azure.ai.openai", "gen_ai.system": "az.ai.openai"}))
    assert row["provider"] == "azure.ai.openai" and row["attributes"] is None


def test_deprecated_usage_and_content_span_events() -> None:
    attrs = {
        "gen_ai.system": "az.ai.openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.prompt_tokens": 30,
        "gen_ai.usage.completion_tokens": 7,
        "gen_ai.response.finish_reasons": ["stop"],
    }
    events = [
        (
            "gen_ai.content.prompt",
            {"gen_ai.prompt": js([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])},
        ),
        ("gen_ai.content.completion", {"gen_ai.completion": js([{"role": "assistant", "content": "Hello!"}])}),
    ]
    row = map_span(make_span(attrs, events=events))
    assert (row["provider"], row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (
        "azure.ai.openai",
        30,
        7,
        37,
    )
    assert loads(row["input"]) == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    }
    assert loads(row["output"]) == {"messages": [{"role": "assistant", "content": "Hello!"}], "finish_reason": "stop"}
    assert row["attributes"] is None  # consumed events are not kept as otel.events


def test_plain_text_prompt_event_becomes_a_user_message() -> None:
    """OpenLIT-style events carry the prompt as plain text."""
    events = [
        ("gen_ai.content.prompt", {"gen_ai.prompt": "user: hello"}),
        ("gen_ai.content.completion", {"gen_ai.completion": "hi!"}),
    ]
    row = map_span(make_span({"gen_ai.operation.name": "chat"}, events=events))
    assert loads(row["input"]) == {"messages": [{"role": "user", "content": "user: hello"}]}
    assert loads(row["output"]) == {"messages": [{"role": "assistant", "content": "hi!"}], "finish_reason": None}


def test_legacy_message_events_recorded_as_span_events() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("gen_ai.system.message", {"content": "Be brief."}),
        ("gen_ai.user.message", {"content": "Hi"}),
        (
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": js({"role": "assistant", "content": "Hello"})},
        ),
    ]
    row = map_span(make_span({"gen_ai.operation.name": "chat"}, events=events))
    assert [m["role"] for m in loads(row["input"])["messages"]] == ["system", "user"]
    assert loads(row["output"]) == {"messages": [{"role": "assistant", "content": "Hello"}], "finish_reason": "stop"}


def test_openlit_reported_cost() -> None:
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cost": 0.000125,
    }
    row = map_span(make_span(attrs, resource={"telemetry.sdk.name": "openlit"}))
    assert (row["total_cost"], row["input_cost"], row["output_cost"], row["cost_source"]) == (
        0.000125,
        None,
        None,
        "reported",
    )
    assert row["kind"] == "llm"  # a model and nothing else: an LLM call
