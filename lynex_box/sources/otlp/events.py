"""Legacy GenAI content carried by events: span events and OTLP log events, turned into normalised messages.

Generations handled: span events `gen_ai.content.prompt` / `gen_ai.content.completion` (attributes `gen_ai.prompt`
/ `gen_ai.completion`); log (or span) events `gen_ai.{system,user,assistant,tool}.message` and `gen_ai.choice`
(<= semconv v1.36); and `gen_ai.client.inference.operation.details` (attributes `gen_ai.input.messages`, ...).
`join_log_events` attaches log events to already mapped span rows. Pure code: it must never do I/O, and it
mutates only the row dicts handed to `join_log_events`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from lynex_box.sources.otlp.messages import normalize_input, normalize_output, tool_calls_of
from lynex_box.sources.otlp.records import OtlpLogRecord
from lynex_box.sources.otlp.values import dumps, loads_maybe

__all__ = ["GENAI_EVENT_NAMES", "event_payloads", "join_log_events"]

EVENT_ROLES: dict[str, str] = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
PROMPT_EVENT = "gen_ai.content.prompt"
COMPLETION_EVENT = "gen_ai.content.completion"
GENAI_EVENT_NAMES = frozenset({*EVENT_ROLES, CHOICE_EVENT, DETAILS_EVENT, PROMPT_EVENT, COMPLETION_EVENT})


def _extend(target: list[Any], value: Any, role: str) -> None:
    value = loads_maybe(value)
    if isinstance(value, list):
        target.extend(value)
    elif isinstance(value, str):
        target.append({"role": role, "content": value})  # OpenLIT-style plain text prompt/completion
    elif value is not None:
        target.append(value)


def _role_message(payload: Any, role: str) -> dict[str, Any]:
    payload = loads_maybe(payload)
    if isinstance(payload, dict):
        return payload if payload.get("role") else {**payload, "role": role}
    return {"role": role, "content": payload}


def event_payloads(events: Iterable[tuple[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(name, payload) pairs in time order → (normalised input, normalised output), None where absent.

    The payload is a log record's body, or the event's attributes when it has no body (span events).
    """
    inputs: list[Any] = []
    outputs: list[Any] = []
    choices: list[tuple[int, Any]] = []
    system: Any = None
    for name, payload in events:
        role = EVENT_ROLES.get(name)
        if role is not None:
            inputs.append(_role_message(payload, role))
        elif name == CHOICE_EVENT:
            payload = loads_maybe(payload)
            index = payload.get("index", 0) if isinstance(payload, dict) else 0
            choices.append((index if isinstance(index, int) else 0, payload))
        elif isinstance(payload, dict):
            if name == PROMPT_EVENT:
                _extend(inputs, payload.get("gen_ai.prompt"), "user")
            elif name == COMPLETION_EVENT:
                _extend(outputs, payload.get("gen_ai.completion"), "assistant")
            elif name == DETAILS_EVENT:
                _extend(inputs, payload.get("gen_ai.input.messages"), "user")
                _extend(outputs, payload.get("gen_ai.output.messages"), "assistant")
                system = payload.get("gen_ai.system_instructions", system)
    choices.sort(key=lambda pair: pair[0])
    outputs.extend(choice for _, choice in choices)
    input_payload = normalize_input(inputs, system) if inputs or system is not None else None
    output_payload = normalize_output(outputs) if outputs else None
    return input_payload, output_payload


def _merge_messages(row: dict[str, Any], column: str, payload: dict[str, Any]) -> None:
    """Add the payload's messages to the row's column; existing equal messages are not repeated."""
    existing = row.get(column)
    if existing is None:
        row[column] = dumps(payload)
        return
    try:
        current = orjson.loads(existing)
    except orjson.JSONDecodeError:
        return
    if not isinstance(current, dict) or not isinstance(current.get("messages"), list):
        return  # the span already holds a non-message value: keep it
    messages: list[Any] = current["messages"]
    messages.extend(message for message in payload["messages"] if message not in messages)
    if payload.get("finish_reason") and not current.get("finish_reason"):
        current["finish_reason"] = payload["finish_reason"]
    row[column] = dumps(current)


def _merge_tool_calls(row: dict[str, Any], output: dict[str, Any]) -> None:
    calls = tool_calls_of(output["messages"])
    if not calls:
        return
    existing = row.get("tool_calls")
    current: list[Any] = []
    if existing is not None:
        try:
            loaded = orjson.loads(existing)
        except orjson.JSONDecodeError:
            loaded = None
        current = loaded if isinstance(loaded, list) else []
    current.extend(call for call in calls if call not in current)
    row["tool_calls"] = dumps(current)


def join_log_events(
    spans_by_id: Mapping[str, dict[str, Any]], log_records: Iterable[OtlpLogRecord]
) -> list[OtlpLogRecord]:
    """Attach legacy GenAI log events to mapped span rows (keyed by `event_id`, "trace_id:span_id").

    Fills or extends the rows' `input`, `output` and `tool_calls`. Returns the GenAI events whose span is not in
    `spans_by_id` (to keep for a later batch); log records that are not GenAI events are ignored.
    """
    groups: dict[str, list[OtlpLogRecord]] = {}
    for record in log_records:
        if record.event_name in GENAI_EVENT_NAMES:
            key = f"{record.trace_id}:{record.span_id}"
            groups.setdefault(key, []).append(record)
    unmatched: list[OtlpLogRecord] = []
    for event_id, records in groups.items():
        row = spans_by_id.get(event_id)
        if row is None:
            unmatched.extend(records)
            continue
        records.sort(key=lambda record: record.time_unix_nano)
        pairs = ((str(r.event_name), r.body if r.body is not None else r.attributes) for r in records)
        input_payload, output_payload = event_payloads(pairs)
        if input_payload is not None:
            _merge_messages(row, "input", input_payload)
        if output_payload is not None:
            _merge_messages(row, "output", output_payload)
            _merge_tool_calls(row, output_payload)
    return unmatched
