"""`wrap_anthropic(client)`: record every `client.messages.create` call (sync or async, streamed or not).

Each call becomes a generation span as for OpenAI: model, the system prompt and messages sent, parameters (in
metadata), the answer's text and `tool_use` blocks (as tool calls), the stop reason, the model that answered and
the usage. Anthropic counts cache reads and cache writes apart from `input_tokens`; the event's `input_tokens`
includes them (the event schema's rule) and `cached_tokens` is the cache reads. `messages.stream()` (the helper
with its own event accumulator) is not recorded: use `messages.create(stream=True)`.

It patches the one client instance it is given and imports nothing from `anthropic`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from lynex._json import plain
from lynex.integrations._common import Accumulator, Call, get, given, parameters, patch, record_call, watch_stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from lynex._client import Lynex

C = TypeVar("C")


def wrap_anthropic(client: C, *, lynex: Lynex | None = None, provider: str = "anthropic", name: str | None = None) -> C:
    """Record the messages calls of an `anthropic.Anthropic` / `AsyncAnthropic` client; returns the client."""
    messages = client.messages  # type: ignore[attr-defined]

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def create(*args: Any, **kwargs: Any) -> Any:
            call = Call(lynex, name or f"chat {kwargs.get('model', '')}".strip(), _request_fields(kwargs, provider))
            return record_call(original, args, kwargs, call, _response_fields, _watch)

        return create

    patch(messages, "create", make)
    return client


def _request_fields(kwargs: dict[str, Any], provider: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"provider": provider}
    if given(kwargs.get("model")):
        fields["model"] = str(kwargs["model"])
    sent = plain(list(kwargs["messages"])) if given(kwargs.get("messages")) else []
    if given(kwargs.get("system")):
        sent = [{"role": "system", "content": plain(kwargs["system"])}, *sent]
    fields["input"] = sent
    params = parameters(kwargs, ("model", "messages", "system"))
    if params:
        fields["metadata"] = {"parameters": params}
    return fields


def usage_fields(usage: Any) -> dict[str, int]:
    """Anthropic usage as the event's: input includes cache reads and writes, cached is the reads."""
    read = get(usage, "cache_read_input_tokens") or 0
    written = get(usage, "cache_creation_input_tokens") or 0
    out: dict[str, int] = {}
    if isinstance(get(usage, "input_tokens"), int):
        out["input_tokens"] = get(usage, "input_tokens") + read + written
    if read:
        out["cached_tokens"] = read
    if isinstance(get(usage, "output_tokens"), int):
        out["output_tokens"] = get(usage, "output_tokens")
    return out


def _answer(blocks: list[Any], stop: Any, model: Any, usage: dict[str, int] | None) -> dict[str, Any]:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = get(block, "type")
        if kind == "text":
            texts.append(get(block, "text") or "")
        elif kind in ("tool_use", "server_tool_use"):
            tool_calls.append(
                {"id": get(block, "id"), "name": get(block, "name") or "", "arguments": get(block, "input")}
            )
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = [{**tc, "arguments": json.dumps(plain(tc["arguments"]))} for tc in tool_calls]
    fields: dict[str, Any] = {"output": {"messages": [message], "finish_reason": stop}}
    if tool_calls:
        fields["tool_calls"] = [{**tc, "arguments": plain(tc["arguments"])} for tc in tool_calls]
    if isinstance(model, str):
        fields["response_model"] = model
    if usage:
        fields["usage"] = usage
    return fields


def _response_fields(message: Any) -> dict[str, Any]:
    usage = get(message, "usage")
    return _answer(
        list(get(message, "content") or []),
        get(message, "stop_reason"),
        get(message, "model"),
        usage_fields(usage) if usage is not None else None,
    )


class _EventAccumulator(Accumulator):
    """Rebuilds the message from stream events: message_start, content_block_start/delta, message_delta."""

    def __init__(self) -> None:
        self.model: Any = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.json_parts: dict[int, list[str]] = {}
        self.usage: dict[str, Any] = {}
        self.stop: Any = None

    def add(self, event: Any) -> None:
        kind = get(event, "type")
        if kind == "message_start":
            message = get(event, "message")
            self.model = get(message, "model")
            self._usage(get(message, "usage"))
        elif kind == "content_block_start":
            block = plain(get(event, "content_block")) or {}
            self.blocks[get(event, "index") or 0] = dict(block)
        elif kind == "content_block_delta":
            index = get(event, "index") or 0
            delta = get(event, "delta")
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            if get(delta, "type") == "text_delta":
                block["text"] = (block.get("text") or "") + (get(delta, "text") or "")
            elif get(delta, "type") == "input_json_delta":
                self.json_parts.setdefault(index, []).append(get(delta, "partial_json") or "")
        elif kind == "message_delta":
            self.stop = get(get(event, "delta"), "stop_reason") or self.stop
            self._usage(get(event, "usage"))

    def _usage(self, usage: Any) -> None:
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = get(usage, key)
            if isinstance(value, int):
                self.usage[key] = value

    def fields(self) -> dict[str, Any]:
        for index, parts in self.json_parts.items():
            text = "".join(parts)
            try:
                self.blocks[index]["input"] = json.loads(text) if text else {}
            except ValueError:
                self.blocks[index]["input"] = text
        blocks = [self.blocks[i] for i in sorted(self.blocks)]
        return _answer(blocks, self.stop, self.model, usage_fields(self.usage) if self.usage else None)


def _watch(stream: Any, call: Call) -> Any:
    return watch_stream(stream, call, _EventAccumulator())
