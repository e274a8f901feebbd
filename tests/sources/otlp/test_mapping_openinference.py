"""OpenInference (Arize) spans: span kinds, flattened messages, token counts, costs, generic input/output."""

from __future__ import annotations

import pytest

from lynex_box.sources.otlp.mapping import map_span

from .builders import js, loads, make_span

OPENAI_LLM = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.provider": "openai",
    "llm.system": "openai",
    "llm.invocation_parameters": js({"model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": 256}),
    "input.value": js({"messages": [{"role": "user", "content": "ignored raw request"}], "model": "gpt-4o-mini"}),
    "input.mime_type": "application/json",
    "output.value": js({"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant"}}]}),
    "output.mime_type": "application/json",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.contents.0.message_content.type": "text",
    "llm.input_messages.1.message.contents.0.message_content.text": "What is in this image?",
    "llm.input_messages.1.message.contents.1.message_content.type": "image",
    "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://example.com/cat.png",
    "llm.input_messages.2.message.role": "assistant",
    "llm.input_messages.2.message.tool_calls.0.tool_call.id": "call_0",
    "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "describe",
    "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"detail": "high"}',
    "llm.input_messages.3.message.role": "tool",
    "llm.input_messages.3.message.content": "a cat on a mat",
    "llm.input_messages.3.message.tool_call_id": "call_0",
    "llm.input_messages.3.message.name": "describe",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "A cat.",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "cat"}',
    "llm.token_count.prompt": 120,
    "llm.token_count.completion": 15,
    "llm.token_count.total": 135,
    "llm.token_count.prompt_details.cache_read": 64,
    "llm.token_count.prompt_details.cache_write": 8,
    "llm.token_count.completion_details.reasoning": 4,
    "llm.cost.prompt": 0.0018,
    "llm.cost.completion": 0.0006,
    "llm.cost.total": 0.0024,
    "llm.cost.prompt_details.cache_read": 0.0001,
    "llm.prompt_template.template": "Describe {image}",
    "llm.prompt_template.variables": js({"image": "cat.png"}),
    "llm.prompt_template.version": "v3",
    "llm.tools.0.tool.json_schema": js({"type": "function", "function": {"name": "lookup"}}),
    "session.id": "sess-1",
    "user.id": "user-7",
    "tag.tags": ["prod", "beta"],
    "metadata": js({"team": "search", "ab": 2}),
}


def test_llm_span_with_flattened_messages() -> None:
    row = map_span(
        make_span(OPENAI_LLM, name="ChatCompletion", scope=("openinference.instrumentation.openai", "0.1.30"))
    )
    assert (row["kind"], row["provider"], row["model"], row["response_model"]) == (
        "llm",
        "openai",
        "gpt-4o-mini-2024-07-18",
        None,
    )
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (120, 15, 135)
    assert (row["cached_tokens"], row["_cache_write_tokens"], row["reasoning_tokens"]) == (64, 8, 4)
    assert (row["input_cost"], row["output_cost"], row["total_cost"], row["cost_source"]) == (
        0.0018,
        0.0006,
        0.0024,
        "reported",
    )
    assert (row["session_id"], row["user_id"], row["tags"], row["prompt_version"]) == (
        "sess-1",
        "user-7",
        ["prod", "beta"],
        "v3",
    )
    assert loads(row["input"]) == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": "What is in this image?",
                "attachments": [{"type": "image", "url": "https://example.com/cat.png"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "name": "describe", "arguments": '{"detail": "high"}'}],
            },
            {"role": "tool", "content": "a cat on a mat", "tool_call_id": "call_0", "name": "describe"},
        ]
    }
    assert loads(row["output"]) == {
        "messages": [
            {
                "role": "assistant",
                "content": "A cat.",
                "tool_calls": [{"id": "call_1", "name": "lookup", "arguments": '{"q": "cat"}'}],
            }
        ],
        "finish_reason": None,
    }
    assert loads(row["tool_calls"]) == [{"id": "call_1", "name": "lookup", "arguments": '{"q": "cat"}'}]
    attributes = loads(row["attributes"])
    assert attributes["metadata"] == {"team": "search", "ab": 2}
    assert attributes["model_parameters"] == {"model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": 256}
    assert set(attributes) == {
        "llm.cost.prompt_details.cache_read",
        "llm.prompt_template.template",
        "llm.prompt_template.variables",
        "llm.tools.0.tool.json_schema",
        "metadata",
        "model_parameters",
        "otel.scope.name",
        "otel.scope.version",
    }


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("LLM", "llm"),
        ("CHAIN", "chain"),
        ("TOOL", "tool"),
        ("RETRIEVER", "retriever"),
        ("EMBEDDING", "embedding"),
        ("AGENT", "agent"),
        ("RERANKER", "reranker"),
        ("GUARDRAIL", "guardrail"),
        ("EVALUATOR", "evaluator"),
        ("UNKNOWN", "span"),
        ("PROMPT", "span"),
    ],
)
def test_span_kinds(kind: str, expected: str) -> None:
    assert map_span(make_span({"openinference.span.kind": kind}))["kind"] == expected


def test_chain_values_are_stored_as_they_are() -> None:
    attrs = {
        "openinference.span.kind": "CHAIN",
        "input.value": "What is 2+2?",
        "input.mime_type": "text/plain",
        "output.value": js({"answer": 4, "sources": ["calc"]}),
        "output.mime_type": "application/json",
    }
    row = map_span(make_span(attrs, name="RunnableSequence"))
    assert loads(row["input"]) == "What is 2+2?"  # a string stays a JSON string
    assert loads(row["output"]) == {"answer": 4, "sources": ["calc"]}
    assert row["attributes"] is None


def test_text_plain_that_looks_like_json_is_kept_as_text() -> None:
    attrs = {"openinference.span.kind": "CHAIN", "input.value": '{"not": "parsed"}', "input.mime_type": "text/plain"}
    assert loads(map_span(make_span(attrs))["input"]) == '{"not": "parsed"}'


def test_chain_with_a_messages_state_is_not_rewritten() -> None:
    state = {"messages": [{"role": "user", "content": "hi"}], "step": 3}
    attrs = {"openinference.span.kind": "CHAIN", "input.value": js(state), "input.mime_type": "application/json"}
    assert loads(map_span(make_span(attrs))["input"]) == state


def test_llm_span_without_flattened_messages_normalises_input_value() -> None:
    request = {"model": "gpt-4o", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}
    response = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"}]}
    attrs = {
        "openinference.span.kind": "LLM",
        "input.value": js(request),
        "input.mime_type": "application/json",
        "output.value": js(response),
        "output.mime_type": "application/json",
    }
    row = map_span(make_span(attrs))
    assert loads(row["input"]) == {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}
    assert loads(row["output"]) == {"messages": [{"role": "assistant", "content": "A"}], "finish_reason": "stop"}


def test_tool_span() -> None:
    attrs = {
        "openinference.span.kind": "TOOL",
        "tool.name": "lookup",
        "tool.description": "Search the catalogue",
        "tool.parameters": js({"type": "object"}),
        "input.value": '{"q": "cat"}',
        "input.mime_type": "application/json",
        "output.value": "3 results",
        "output.mime_type": "text/plain",
    }
    row = map_span(make_span(attrs, name="lookup"))
    assert row["kind"] == "tool"
    assert loads(row["tool_calls"]) == [
        {"id": None, "name": "lookup", "arguments": '{"q": "cat"}', "result": "3 results"}
    ]
    assert set(loads(row["attributes"])) == {"tool.description", "tool.parameters"}


def test_retriever_documents_stay_in_attributes() -> None:
    attrs = {
        "openinference.span.kind": "RETRIEVER",
        "input.value": "cats",
        "retrieval.documents.0.document.id": "d1",
        "retrieval.documents.0.document.content": "Cats purr.",
        "retrieval.documents.0.document.score": 0.92,
    }
    row = map_span(make_span(attrs))
    assert row["kind"] == "retriever" and loads(row["input"]) == "cats"
    assert loads(row["attributes"])["retrieval.documents.0.document.score"] == 0.92


def test_llm_system_fallback_and_anthropic_provider_names() -> None:
    assert map_span(make_span({"llm.system": "vertexai"}))["provider"] == "gcp.vertex_ai"
    assert map_span(make_span({"llm.provider": "mistralai"}))["provider"] == "mistral_ai"
    assert map_span(make_span({"llm.provider": "azure"}))["provider"] == "azure.ai.openai"


def test_request_and_response_model_names() -> None:
    attrs = {
        "llm.request.model_name": "claude-3-5-sonnet-latest",
        "llm.response.model_name": "claude-3-5-sonnet-20241022",
    }
    row = map_span(make_span(attrs))
    assert (row["model"], row["response_model"]) == ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022")


def test_odd_flattened_keys_are_kept_not_dropped() -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "llm.input_messages.0.message.mystery": "x",
        "llm.input_messages.oops": "y",
    }
    row = map_span(make_span(attrs))
    assert loads(row["input"]) == {"messages": [{"role": "user", "content": "hi"}]}
    assert loads(row["attributes"]) == {"llm.input_messages.0.message.mystery": "x", "llm.input_messages.oops": "y"}
