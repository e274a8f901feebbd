"""A span's content: the `input`, `output` and `tool_calls` columns, from whichever convention carried them.

Message sources (always normalised to `{"messages": [...]}`, see docs/messages.md), first found wins:
`gen_ai.input.messages`/`output.messages` (+ `gen_ai.system_instructions`), OpenInference `llm.input_messages.*`,
OpenLLMetry `gen_ai.prompt.N.*` (and older `llm.prompts.N.*`), the `gen_ai.prompt` attribute, GenAI span events.
Otherwise a generic value (tool arguments/result, Langfuse, Traceloop entity, `input.value`) is stored as JSON text
as it is, or as messages when the span is an LLM call and the value is message-shaped. Pure code, never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lynex_box.sources.otlp import conventions as c
from lynex_box.sources.otlp.events import event_payloads
from lynex_box.sources.otlp.flattened import unflatten_indexed, unflatten_openinference
from lynex_box.sources.otlp.messages import as_message_payload, normalize_input, normalize_output, tool_calls_of
from lynex_box.sources.otlp.records import OtlpEvent
from lynex_box.sources.otlp.values import as_str, dumps, first, json_value, loads_maybe, raw_text

__all__ = ["Content", "content_of"]

Unflatten = Callable[[dict[str, Any]], tuple[list[dict[str, Any]], dict[str, Any]]]
_INPUT_FAMILIES: tuple[tuple[str, str, Unflatten], ...] = (
    ("oi_input", "llm.input_messages.", unflatten_openinference),
    ("indexed_input", "gen_ai.prompt.", unflatten_indexed),
    ("indexed_input_old", "llm.prompts.", unflatten_indexed),
)
_OUTPUT_FAMILIES: tuple[tuple[str, str, Unflatten], ...] = (
    ("oi_output", "llm.output_messages.", unflatten_openinference),
    ("indexed_output", "gen_ai.completion.", unflatten_indexed),
    ("indexed_output_old", "llm.completions.", unflatten_indexed),
)


# (input, output, tool_calls): JSON text or None each.
Content = tuple[str | None, str | None, str | None]
_NO_CONTENT: Content = (None, None, None)
_CONTENT_SECTIONS = frozenset({"input", "output", "tool"})


def _flattened(
    groups: dict[str, dict[str, Any]], families: tuple[tuple[str, str, Unflatten], ...], rest: dict[str, Any]
) -> list[dict[str, Any]] | None:
    if not groups:
        return None
    for group, prefix, unflatten in families:
        items = groups.get(group)
        if items:
            rows, leftovers = unflatten(items)
            for key, value in leftovers.items():
                rest[prefix + key] = value
            if rows:
                return rows
    return None


def _input_messages(attrs: dict[str, Any], groups: dict[str, dict[str, Any]], rest: dict[str, Any]) -> Any:
    messages, system = attrs.get(c.INPUT_MESSAGES), attrs.get(c.SYSTEM_INSTRUCTIONS)
    if messages is not None or system is not None:
        return normalize_input(messages, system)
    rows = _flattened(groups, _INPUT_FAMILIES, rest)
    if rows is not None:
        return normalize_input(rows)
    legacy = attrs.get(c.LEGACY_PROMPT)
    return normalize_input(legacy) if legacy is not None else None


def _output_messages(attrs: dict[str, Any], groups: dict[str, dict[str, Any]], rest: dict[str, Any]) -> Any:
    messages = attrs.get(c.OUTPUT_MESSAGES)
    if messages is not None:
        return normalize_output(messages)
    rows = _flattened(groups, _OUTPUT_FAMILIES, rest)
    if rows is not None:
        return normalize_output(rows)
    legacy = attrs.get(c.LEGACY_COMPLETION)
    return normalize_output(legacy) if legacy is not None else None


def _value(attrs: dict[str, Any], sources: tuple[str, ...]) -> tuple[Any, Any]:
    """(raw value, parsed value) of the first generic source present, else (None, None)."""
    for key in sources:
        raw = attrs.get(key)
        if raw is None:
            continue
        mime_key = c.MIME_TYPES.get(key)
        if mime_key is None:
            return raw, json_value(raw)
        mime = attrs.get(mime_key)
        if not isinstance(mime, str):
            return raw, loads_maybe(raw)  # OpenInference's default is text/plain, but JSON without a type is common
        return raw, json_value(raw) if "json" in mime else raw
    return None, None


def _span_events(events: list[OtlpEvent], rest: dict[str, Any]) -> tuple[Any, Any]:
    genai: list[tuple[str, Any]] = []
    others: list[dict[str, Any]] = []
    for event in events:
        if event.name in c.GENAI_SPAN_EVENTS:
            genai.append((event.name, event.attributes))
        else:
            others.append({"name": event.name, "time": event.time_unix_nano // 1000, "attributes": event.attributes})
    if others:
        rest["otel.events"] = others
    return event_payloads(genai) if genai else (None, None)


def _finish_reason_fallback(attrs: dict[str, Any], output: Any, rest: dict[str, Any]) -> None:
    """`gen_ai.response.finish_reasons` / `llm.finish_reason` feed the output's reason, or stay in attributes."""
    for key in c.FINISH_REASON_SOURCES:
        value = attrs.get(key)
        if value is None:
            continue
        if output is None:
            rest[key] = value
        elif output["finish_reason"] is None:
            reasons = loads_maybe(value)
            reason = reasons[0] if isinstance(reasons, list) and reasons else reasons
            output["finish_reason"] = as_str(reason)


_TOOL_KEYS = (*c.TOOL_ID_SOURCES, *c.TOOL_NAME_SOURCES)  # the "tool" section of `conventions.SECTION_KEYS`


def _tool_calls(
    attrs: dict[str, Any],
    span_name: str,
    kind: str,
    seen: frozenset[str],
    arguments: Any,
    result: Any,
    output: Any,
    rest: dict[str, Any],
) -> str | None:
    if kind == "tool":
        name = first(attrs, c.TOOL_NAME_SOURCES, as_str, rest) or as_str(attrs.get("traceloop.entity.name"))
        call: dict[str, Any] = {
            "id": first(attrs, c.TOOL_ID_SOURCES, as_str, rest),
            "name": name or span_name,
            "arguments": raw_text(arguments),
        }
        if result is not None:
            call["result"] = raw_text(result)
        return dumps([call])
    if "tool" in seen:
        for key in _TOOL_KEYS:
            if key in attrs:
                rest[key] = attrs[key]  # not a tool span: these describe something we do not map
    calls = tool_calls_of(output["messages"]) if output is not None else None
    return dumps(calls) if calls else None


def content_of(
    attrs: dict[str, Any],
    events: list[OtlpEvent],
    span_name: str,
    groups: dict[str, dict[str, Any]],
    seen: frozenset[str],
    kind: str,
    rest: dict[str, Any],
) -> Content:
    """The content columns (input, output, tool_calls) of one span; consumed attributes are not put in `rest`.

    `seen` names the sections of `conventions.SECTION_KEYS` that have a key in the span's attributes."""
    if not groups and not events and kind != "tool" and seen.isdisjoint(_CONTENT_SECTIONS):
        return _NO_CONTENT
    input_payload, output_payload = _span_events(events, rest) if events else (None, None)
    raw_input = input_value = raw_output = output_value = None
    if "input" in seen or groups:
        input_payload = _input_messages(attrs, groups, rest) or input_payload
        if input_payload is None or kind == "tool":  # else the raw value duplicates the messages: not parsed
            raw_input, input_value = _value(attrs, c.INPUT_VALUE_SOURCES)
    if "output" in seen or groups:
        output_payload = _output_messages(attrs, groups, rest) or output_payload
        if output_payload is None or kind == "tool":
            raw_output, output_value = _value(attrs, c.OUTPUT_VALUE_SOURCES)
    if kind in c.LLM_KINDS:
        if input_payload is None and raw_input is not None:
            input_payload = as_message_payload(input_value, output=False)
        if output_payload is None and raw_output is not None:
            output_payload = as_message_payload(output_value, output=True)
    if "output" in seen:
        _finish_reason_fallback(attrs, output_payload, rest)
    input_text = dumps(input_payload) if input_payload is not None else None
    if input_text is None and raw_input is not None:
        input_text = dumps(input_value)
    output_text = dumps(output_payload) if output_payload is not None else None
    if output_text is None and raw_output is not None:
        output_text = dumps(output_value)
    tool_calls = _tool_calls(attrs, span_name, kind, seen, raw_input, raw_output, output_payload, rest)
    return input_text, output_text, tool_calls
