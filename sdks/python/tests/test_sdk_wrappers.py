"""The OpenAI and Anthropic wrappers record calls to a local fake provider (real HTTP, the real client libraries):
plain and streamed answers, tool calls, errors, sync and async; and the caller gets exactly what it got before."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import lynex
import openai
import pytest
from conftest import Api
from sdk_support import ANSWER, TOOL_ARGS, FakeLLM

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ANTHROPIC_TOOLS = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Close the provider clients a test made (their connection pools would leak sockets: warnings are errors)."""
    made: list[Any] = []
    yield lambda client: made.append(client) or client
    for client in made:
        client.close()


def llm_span(api: Api, trace_id: str) -> dict[str, Any]:
    spans = api.wait_spans(trace_id, 2)
    return next(s for s in spans if s["kind"] == "llm")


def test_openai_chat_is_recorded(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_openai(closing(openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1")), lynex=lx)
    with lx.trace("openai") as root:
        response = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.2)
    assert type(response) is openai.types.chat.ChatCompletion and response.choices[0].message.content == ANSWER
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert (span["name"], span["provider"], span["model"], span["response_model"]) == (
        "chat gpt-4o",
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert span["input"] == {"messages": MESSAGES}
    assert span["output"]["messages"] == [{"role": "assistant", "content": ANSWER}]
    assert span["output"]["finish_reason"] == "stop"
    assert (span["input_tokens"], span["output_tokens"], span["cached_tokens"]) == (21, 7, 5)
    assert span["total_cost"] > 0 and span["cost_source"] == "computed"
    assert span["attributes"]["metadata"]["parameters"] == {"temperature": 0.2}
    assert span["parent_span_id"] == root.span_id


def test_openai_tool_call_is_recorded(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_openai(closing(openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1")), lynex=lx)
    with lx.trace("openai-tools") as root:
        response = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=TOOLS)
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[index,union-attr]
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert span["tool_calls"] == [{"id": "call_1", "name": "get_weather", "arguments": json.dumps(TOOL_ARGS)}]
    assert span["output"]["messages"][0]["tool_calls"][0]["name"] == "get_weather"
    assert span["output"]["finish_reason"] == "tool_calls"
    assert span["attributes"]["metadata"]["parameters"]["tools"] == TOOLS


@pytest.mark.parametrize("tools", [False, True])
def test_openai_stream_is_recorded_when_consumed(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, tools: bool, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_openai(closing(openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1")), lynex=lx)
    extra: dict[str, Any] = {"tools": TOOLS} if tools else {}
    with lx.trace("openai-stream") as root:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **extra
        )
        assert type(stream) is openai.Stream  # the caller's object, not a stand-in
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ("" if tools else ANSWER + " ")
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert (span["input_tokens"], span["output_tokens"], span["response_model"]) == (21, 7, "gpt-4o-2024-08-06")
    if tools:
        assert span["tool_calls"] == [{"id": "call_1", "name": "get_weather", "arguments": json.dumps(TOOL_ARGS)}]
        assert span["output"]["finish_reason"] == "tool_calls"
    else:
        assert span["output"]["messages"] == [{"role": "assistant", "content": ANSWER + " "}]
    assert fake.requests[-1]["body"].get("stream_options") == {"include_usage": True}


def test_openai_stream_closed_early_is_recorded(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_openai(closing(openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1")), lynex=lx)
    with (
        lx.trace("openai-stream-early") as root,
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream,
    ):
        for _ in zip(range(2), stream, strict=False):
            pass
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert span["status"] == "ok" and span["output"]["messages"][0]["content"] == "Paris "
    assert span["input_tokens"] is None  # the request did not ask for usage: the wrapper does not add it
    assert "stream_options" not in fake.requests[-1]["body"]


def test_openai_error_is_recorded_and_raised(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_openai(
        closing(openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1", max_retries=0)), lynex=lx
    )
    with lx.trace("openai-error") as root, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="bad-model", messages=MESSAGES)
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert span["status"] == "error" and "bad-model does not exist" in span["status_message"]
    assert span["attributes"]["error.type"] == "BadRequestError"
    assert span["input"] == {"messages": MESSAGES}


def test_async_openai_plain_and_streamed(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()

    async def main() -> tuple[str, str, str]:
        raw = openai.AsyncOpenAI(api_key="sk-test", base_url=f"{fake.url}/v1")
        client = lynex.wrap_openai(raw, lynex=lx)
        async with raw, lx.trace("async-openai") as root:
            response = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            assert type(stream) is openai.AsyncStream
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return root.trace_id, response.choices[0].message.content or "", text

    trace_id, plain, streamed = asyncio.run(main())
    assert plain == ANSWER and streamed == ANSWER + " "
    assert lx.flush(timeout=20)
    spans = [s for s in api.wait_spans(trace_id, 3) if s["kind"] == "llm"]
    outputs = sorted(s["output"]["messages"][0]["content"] for s in spans)
    assert outputs == [ANSWER, ANSWER + " "]
    assert {s["model"] for s in spans} == {"gpt-4o-mini"}


def test_anthropic_message_and_tool_use(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_anthropic(closing(anthropic.Anthropic(api_key="sk-ant", base_url=fake.url)), lynex=lx)
    with lx.trace("anthropic") as root:
        message = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            system="Be brief.",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=ANTHROPIC_TOOLS,
        )
    assert type(message) is anthropic.types.Message and message.stop_reason == "tool_use"
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert (span["provider"], span["model"], span["response_model"]) == (
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250101",
    )
    assert span["input"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert span["tool_calls"] == [{"id": "toolu_1", "name": "get_weather", "arguments": TOOL_ARGS}]
    assert span["output"]["messages"][0]["content"] == "Let me check."
    assert span["output"]["finish_reason"] == "tool_use"
    # Anthropic's input_tokens leaves out the cache: the event's includes it
    assert (span["input_tokens"], span["cached_tokens"], span["output_tokens"]) == (19, 4, 9)


@pytest.mark.parametrize("tools", [False, True])
def test_anthropic_stream(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, tools: bool, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = lynex.wrap_anthropic(closing(anthropic.Anthropic(api_key="sk-ant", base_url=fake.url)), lynex=lx)
    extra: dict[str, Any] = {"tools": ANTHROPIC_TOOLS} if tools else {}
    with lx.trace("anthropic-stream") as root:
        stream = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            **extra,
        )
        assert type(stream) is anthropic.Stream
        events = [e.type for e in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert lx.flush(timeout=20)
    span = llm_span(api, root.trace_id)
    assert (span["input_tokens"], span["output_tokens"]) == (19, 9)
    if tools:
        assert span["tool_calls"] == [{"id": "toolu_1", "name": "get_weather", "arguments": TOOL_ARGS}]
    else:
        assert span["output"]["messages"][0]["content"] == ANSWER


def test_async_anthropic_and_error(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()

    async def main() -> str:
        raw = anthropic.AsyncAnthropic(api_key="sk-ant", base_url=fake.url, max_retries=0)
        client = lynex.wrap_anthropic(raw, lynex=lx)
        async with raw, lx.trace("async-anthropic") as root:
            message = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
            )
            assert message.content[0].text == ANSWER  # type: ignore[union-attr]
            stream = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            assert len([e async for e in stream]) > 3
            with pytest.raises(anthropic.BadRequestError):
                await client.messages.create(model="bad-model", max_tokens=10, messages=[])
        return root.trace_id

    trace_id = asyncio.run(main())
    assert lx.flush(timeout=20)
    spans = [s for s in api.wait_spans(trace_id, 4) if s["kind"] == "llm"]
    assert sorted(s["status"] for s in spans) == ["error", "ok", "ok"]
    assert all(s["output"]["messages"][0]["content"] == ANSWER for s in spans if s["status"] == "ok")


def test_wrapping_twice_records_once(
    make_client: Callable[..., lynex.Lynex], api: Api, fake: FakeLLM, closing: Callable[[Any], Any]
) -> None:
    lx = make_client()
    client = closing(openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1"))
    lynex.wrap_openai(lynex.wrap_openai(client, lynex=lx), lynex=lx)
    with lx.trace("twice") as root:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert lx.flush(timeout=20)
    assert len(api.wait_spans(root.trace_id, 2)) == 2
