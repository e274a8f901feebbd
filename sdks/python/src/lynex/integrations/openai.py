"""`wrap_openai(client)`: record every `client.chat.completions.create` call (sync or async, streamed or not).

Each call becomes a generation span: the model asked for, the messages sent, the request's other parameters (in
metadata), the answer's messages, tool calls and finish reason, the model that answered, and the token usage (the
server computes the cost from model and usage). A failed call is recorded with its error and the exception
reaches the caller unchanged. A streamed answer is recorded when the stream ends; its usage is known only when
the request asked for it (`stream_options={"include_usage": True}`): the wrapper never changes the request.

It patches the one client instance it is given and imports nothing from `openai`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from lynex._json import plain
from lynex.integrations._common import Accumulator, Call, get, given, parameters, patch, record_call, watch_stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from lynex._client import Lynex

C = TypeVar("C")


def wrap_openai(client: C, *, lynex: Lynex | None = None, provider: str = "openai", name: str | None = None) -> C:
    """Record the chat completions of an `openai.OpenAI` / `AsyncOpenAI` (or Azure) client; returns the client.

    lynex: the client to record with (default: the current span's, else `lynex.get_client()`); provider: the
    provider name stored (e.g. "azure"); name: the span name (default "chat <model>")."""
    completions = client.chat.completions  # type: ignore[attr-defined]

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def create(*args: Any, **kwargs: Any) -> Any:
            call = Call(lynex, name or f"chat {kwargs.get('model', '')}".strip(), _request_fields(kwargs, provider))
            return record_call(original, args, kwargs, call, _response_fields, _watch)

        return create

    patch(completions, "create", make)
    return client


def _request_fields(kwargs: dict[str, Any], provider: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"provider": provider}
    if given(kwargs.get("model")):
        fields["model"] = str(kwargs["model"])
    if given(kwargs.get("messages")):
        fields["input"] = plain(list(kwargs["messages"]))
    params = parameters(kwargs, ("model", "messages"))
    if params:
        fields["metadata"] = {"parameters": params}
    return fields


def usage_fields(usage: Any) -> dict[str, int]:
    """OpenAI usage (prompt/completion tokens and their details) as the event's usage object."""
    out = {
        "input_tokens": get(usage, "prompt_tokens"),
        "output_tokens": get(usage, "completion_tokens"),
        "total_tokens": get(usage, "total_tokens"),
        "cached_tokens": get(get(usage, "prompt_tokens_details"), "cached_tokens"),
        "reasoning_tokens": get(get(usage, "completion_tokens_details"), "reasoning_tokens"),
    }
    return {k: v for k, v in out.items() if isinstance(v, int)}


def _tool_call(tc: Any) -> dict[str, Any]:
    function = get(tc, "function")
    return {"id": get(tc, "id"), "name": get(function, "name") or "", "arguments": get(function, "arguments")}


def _response_fields(response: Any) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    finish_reason = None
    for choice in get(response, "choices") or []:
        message = get(choice, "message")
        out: dict[str, Any] = {"role": get(message, "role") or "assistant", "content": get(message, "content")}
        calls = [_tool_call(tc) for tc in get(message, "tool_calls") or []]
        if calls:
            out["tool_calls"] = calls
            tool_calls.extend(calls)
        messages.append(out)
        finish_reason = finish_reason or get(choice, "finish_reason")
    return _answer(messages, tool_calls, finish_reason, get(response, "model"), get(response, "usage"))


def _answer(
    messages: list[dict[str, Any]], tool_calls: list[dict[str, Any]], finish: Any, model: Any, usage: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"output": {"messages": messages, "finish_reason": finish}}
    if tool_calls:
        fields["tool_calls"] = tool_calls
    if isinstance(model, str):
        fields["response_model"] = model
    if usage is not None:
        fields["usage"] = usage_fields(usage)
    return fields


class _ChunkAccumulator(Accumulator):
    """Rebuilds the answer from `chat.completion.chunk`s: text and tool-call deltas per choice, usage, model."""

    def __init__(self) -> None:
        self.text: dict[int, list[str]] = {}
        self.calls: dict[int, dict[int, dict[str, Any]]] = {}
        self.finish: dict[int, Any] = {}
        self.model: Any = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        self.model = self.model or get(chunk, "model")
        if get(chunk, "usage") is not None:
            self.usage = get(chunk, "usage")
        for choice in get(chunk, "choices") or []:
            index = get(choice, "index") or 0
            delta = get(choice, "delta")
            content = get(delta, "content")
            if content:
                self.text.setdefault(index, []).append(content)
            for tc in get(delta, "tool_calls") or []:
                slot = self.calls.setdefault(index, {}).setdefault(
                    get(tc, "index") or 0, {"id": None, "name": "", "arguments": ""}
                )
                function = get(tc, "function")
                slot["id"] = slot["id"] or get(tc, "id")
                slot["name"] += get(function, "name") or ""
                slot["arguments"] += get(function, "arguments") or ""
            if get(choice, "finish_reason") is not None:
                self.finish[index] = get(choice, "finish_reason")

    def fields(self) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        tool_calls: list[dict[str, Any]] = []
        for index in sorted(set(self.text) | set(self.calls) | set(self.finish)):
            text = self.text.get(index)
            message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
            calls = [self.calls[index][i] for i in sorted(self.calls.get(index, {}))]
            if calls:
                message["tool_calls"] = calls
                tool_calls.extend(calls)
            messages.append(message)
        finish = self.finish.get(min(self.finish)) if self.finish else None
        return _answer(messages, tool_calls, finish, self.model, self.usage)


def _watch(stream: Any, call: Call) -> Any:
    return watch_stream(stream, call, _ChunkAccumulator())
