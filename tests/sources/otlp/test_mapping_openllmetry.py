"""OpenLLMetry / Traceloop spans: the old indexed generation (openai 0.49.8) and the new one (0.62.4)."""

from __future__ import annotations

from lynex_box.sources.otlp.mapping import map_span

from .builders import js, loads, make_span

OLD_OPENAI_CHAT = {
    "llm.request.type": "chat",
    "gen_ai.system": "OpenAI",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.temperature": 0.7,
    "gen_ai.request.max_tokens": 300,
    "llm.is_streaming": False,
    "llm.user": "end-user-5",
    "llm.headers": "None",
    "gen_ai.openai.api_base": "https://api.openai.com/v1/",
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "You are a weather bot.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "Weather in Paris?",
    "gen_ai.prompt.2.role": "assistant",
    "gen_ai.prompt.2.tool_calls.0.id": "call_1",
    "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
    "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Paris"}',
    "gen_ai.prompt.3.role": "tool",
    "gen_ai.prompt.3.content": "sunny, 21C",
    "gen_ai.prompt.3.tool_call_id": "call_1",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-9",
    "gen_ai.completion.0.finish_reason": "stop",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "It is sunny in Paris.",
    "llm.usage.total_tokens": 60,
    "gen_ai.usage.prompt_tokens": 50,
    "gen_ai.usage.completion_tokens": 10,
    "gen_ai.usage.cache_read_input_tokens": 32,
    "traceloop.workflow.name": "support_flow",
    "traceloop.entity.path": "answer",
    "traceloop.association.properties.user_id": "u-1",
    "traceloop.association.properties.session_id": "s-1",
    "traceloop.association.properties.tenant": "acme",
}


def test_old_indexed_generation() -> None:
    row = map_span(
        make_span(OLD_OPENAI_CHAT, name="openai.chat", scope=("opentelemetry.instrumentation.openai.v1", "0.49.8"))
    )
    assert (row["kind"], row["provider"], row["model"], row["response_model"]) == (
        "chat",
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"], row["cached_tokens"]) == (50, 10, 60, 32)
    assert (row["user_id"], row["session_id"]) == ("end-user-5", "s-1")  # llm.user wins over the association
    assert loads(row["input"]) == {
        "messages": [
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}],
            },
            {"role": "tool", "content": "sunny, 21C", "tool_call_id": "call_1"},
        ]
    }
    assert loads(row["output"]) == {
        "messages": [{"role": "assistant", "content": "It is sunny in Paris."}],
        "finish_reason": "stop",
    }
    assert row["tool_calls"] is None
    assert loads(row["attributes"]) == {
        "gen_ai.openai.api_base": "https://api.openai.com/v1/",
        "gen_ai.response.id": "chatcmpl-9",
        "llm.headers": "None",
        "metadata": {"tenant": "acme"},
        "model_parameters": {"temperature": 0.7, "max_tokens": 300, "stream": False},
        "otel.scope.name": "opentelemetry.instrumentation.openai.v1",
        "otel.scope.version": "0.49.8",
        "traceloop.entity.path": "answer",
        "traceloop.workflow.name": "support_flow",
    }


def test_old_generation_completion_tool_calls_and_multimodal_content() -> None:
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": js(
            [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
        ),
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.tool_calls.0.id": "call_7",
        "gen_ai.completion.0.tool_calls.0.name": "zoom",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"factor": 2}',
    }
    row = map_span(make_span(attrs))
    assert loads(row["input"]) == {
        "messages": [
            {"role": "user", "content": "What is this?", "attachments": [{"type": "image", "url": "https://x/y.png"}]}
        ]
    }
    assert loads(row["output"])["finish_reason"] == "tool_calls"
    assert loads(row["tool_calls"]) == [{"id": "call_7", "name": "zoom", "arguments": '{"factor": 2}'}]


def test_old_completion_api_prompt() -> None:
    attrs = {
        "llm.request.type": "completion",
        "gen_ai.prompt.0.user": "Once upon a time",
        "gen_ai.completion.0.content": "...",
    }
    row = map_span(make_span(attrs))
    assert row["kind"] == "llm"
    assert loads(row["input"]) == {"messages": [{"role": "user", "content": "Once upon a time"}]}
    assert loads(row["output"])["messages"] == [{"role": "assistant", "content": "..."}]


def test_content_that_merely_looks_like_json_is_kept_as_text() -> None:
    attrs = {"llm.request.type": "chat", "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "[1, 2, 3]"}
    assert loads(map_span(make_span(attrs))["input"]) == {"messages": [{"role": "user", "content": "[1, 2, 3]"}]}


def test_new_generation_anthropic() -> None:
    attrs = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-20250514",
        "gen_ai.response.model": "claude-sonnet-4-20250514",
        "gen_ai.input.messages": js([{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]),
        "gen_ai.output.messages": js(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Hi there"}], "finish_reason": "end_turn"}]
        ),
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 1500,
        "gen_ai.usage.cache_creation.input_tokens": 400,
        "gen_ai.usage.total_tokens": 2020,
        "traceloop.workflow.name": "greeter",
        "traceloop.association.properties.session_id": "s-9",
    }
    row = map_span(make_span(attrs, name="anthropic.chat"))
    assert (row["kind"], row["provider"], row["model"]) == ("chat", "anthropic", "claude-sonnet-4-20250514")
    assert (row["input_tokens"], row["cached_tokens"], row["_cache_write_tokens"], row["total_tokens"]) == (
        2000,
        1500,
        400,
        2020,
    )
    assert row["session_id"] == "s-9"
    assert loads(row["output"]) == {
        "messages": [{"role": "assistant", "content": "Hi there"}],
        "finish_reason": "end_turn",
    }
    assert loads(row["attributes"]) == {"traceloop.workflow.name": "greeter"}


def test_workflow_and_task_spans_keep_entity_values() -> None:
    attrs = {
        "traceloop.span.kind": "workflow",
        "traceloop.workflow.name": "support_flow",
        "traceloop.entity.name": "support_flow",
        "traceloop.entity.input": js({"args": ["Paris"], "kwargs": {"units": "C"}}),
        "traceloop.entity.output": js("sunny"),
    }
    row = map_span(make_span(attrs, name="support_flow.workflow"))
    assert row["kind"] == "chain"
    assert loads(row["input"]) == {"args": ["Paris"], "kwargs": {"units": "C"}}
    assert loads(row["output"]) == "sunny"
    assert map_span(make_span({"traceloop.span.kind": "task"}))["kind"] == "chain"
    assert map_span(make_span({"traceloop.span.kind": "agent"}))["kind"] == "agent"


def test_tool_span_named_by_entity() -> None:
    attrs = {
        "traceloop.span.kind": "tool",
        "traceloop.entity.name": "get_weather",
        "traceloop.entity.input": js({"args": [], "kwargs": {"city": "Paris"}}),
        "traceloop.entity.output": js("sunny"),
    }
    row = map_span(make_span(attrs, name="get_weather.tool"))
    assert row["kind"] == "tool"
    assert loads(row["tool_calls"]) == [
        {
            "id": None,
            "name": "get_weather",
            "arguments": js({"args": [], "kwargs": {"city": "Paris"}}),
            "result": '"sunny"',
        }
    ]
    assert loads(row["attributes"]) == {"traceloop.entity.name": "get_weather"}


def test_managed_prompt_and_helicone_properties() -> None:
    attrs = {
        "traceloop.prompt.key": "welcome",
        "traceloop.prompt.version": 4,
        "traceloop.prompt.managed": True,
        "traceloop.association.properties.Helicone-Session-Id": "hs-1",
        "traceloop.association.properties.Helicone-User-Id": "hu-1",
    }
    row = map_span(make_span(attrs))
    assert (row["prompt_name"], row["prompt_version"], row["session_id"], row["user_id"]) == (
        "welcome",
        "4",
        "hs-1",
        "hu-1",
    )
    assert loads(row["attributes"]) == {"traceloop.prompt.managed": True}


def test_very_old_llm_prompts_prefix() -> None:
    attrs = {
        "llm.request.type": "chat",
        "llm.prompts.0.role": "user",
        "llm.prompts.0.content": "hi",
        "llm.completions.0.content": "yo",
    }
    row = map_span(make_span(attrs))
    assert loads(row["input"]) == {"messages": [{"role": "user", "content": "hi"}]}
    assert loads(row["output"])["messages"] == [{"role": "assistant", "content": "yo"}]
