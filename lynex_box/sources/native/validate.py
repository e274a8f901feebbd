"""Cheap validation of native events on the request path: one pass over each event's keys.

It checks only what would make normalisation fail or store a wrong value (types, ranges, sizes, times, and
times outside the request's `window.TimeWindow`) and names the offending field. It runs for every event
before the `202`, so it avoids per-key function calls: one dictionary dispatch per present key, nothing
for absent ones. Unknown keys are ignored
(the schema allows senders to be newer than us).
"""

from __future__ import annotations

from typing import Any, Final

from lynex_box.schema.span import SPAN_KINDS
from lynex_box.schema.timefmt import parse_time_us
from lynex_box.sources.common.window import TimeWindow

TYPE_ALIASES: Final = {"generation": "llm", "completion": "llm", "function": "tool", "workflow": "chain"}
ALLOWED_TYPES: Final = frozenset(SPAN_KINDS | TYPE_ALIASES.keys())
ID_MAX: Final = 256
_USAGE_KEYS: Final = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")
_COST_KEYS: Final = ("input", "output", "total")

# kind of check per key: "id" short string, "text" long string, then the special ones
_CHECKS: Final = {
    "event_id": "id", "trace_id": "id", "span_id": "id", "parent_span_id": "id", "session_id": "id",
    "user_id": "id", "name": "text", "model": "text", "provider": "text", "response_model": "text",
    "environment": "text", "release": "text", "status_message": "text", "input": "content", "output": "content",
    "type": "type", "start_time": "time", "end_time": "time", "status": "status", "usage": "usage", "cost": "cost",
    "tags": "tags", "metadata": "object", "error": "object", "prompt": "object", "tool_calls": "list",
}  # fmt: skip


def _numbers(obj: Any, key: str, allowed: tuple[str, ...], integer: bool) -> str | None:
    if not isinstance(obj, dict):
        return f"{key} must be an object"
    for name, value in obj.items():
        if name not in allowed:
            return f"{key}.{name} is not one of {list(allowed)}"
        if value is None:
            continue
        if value.__class__ is bool or not isinstance(value, int | float) or not value >= 0:
            return f"{key}.{name} must be a number >= 0"
        if integer and isinstance(value, float) and not value.is_integer():
            return f"{key}.{name} must be a whole number"
    return None


def _check(check: str, key: str, value: Any, max_text: int, window: TimeWindow | None) -> str | None:
    """The rare and structured checks; strings are handled inline by `validate_event`."""
    if check == "type":
        if isinstance(value, str) and value in ALLOWED_TYPES:  # a list or object must not reach the set lookup
            return None
        return f"type {value!r} is not one of {sorted(SPAN_KINDS)}"
    if check == "time":
        try:
            us = parse_time_us(value)
        except ValueError as exc:
            return f"{key}: {exc}"
        problem = window.problem(us) if window is not None else None
        return None if problem is None else f"{key}: {problem}"
    if check == "status":
        return None if value in ("ok", "error", "unset") else "status must be one of ['ok', 'error', 'unset']"
    if check == "usage":
        return _numbers(value, "usage", _USAGE_KEYS, integer=True)
    if check == "cost":
        return _numbers(value, "cost", _COST_KEYS, integer=False)
    if check == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            return "tags must be a list of strings"
        return None
    if check == "object":
        return None if isinstance(value, dict) else f"{key} must be an object"
    if check == "list":
        return None if isinstance(value, list) else f"{key} must be a list"
    if check == "content":
        if isinstance(value, str) and len(value) > max_text:
            return f"{key} is longer than {max_text} characters"
        return None
    return None


def validate_event(event: Any, max_field_bytes: int, window: TimeWindow | None = None) -> str | None:
    """None if the event can be stored, else a message that names the offending field. With a `window`, its
    times must lie in it (the request path always passes one)."""
    if not isinstance(event, dict):
        return "event must be a JSON object"
    checks = _CHECKS
    for key, value in event.items():
        check = checks.get(key)
        if check is None or value is None:
            continue
        if check == "id" or check == "text":
            if value.__class__ is not str:
                return f"{key} must be a string"
            limit = ID_MAX if check == "id" else max_field_bytes
            if len(value) > limit:
                return f"{key} is longer than {limit} characters"
            continue
        error = _check(check, key, value, max_field_bytes, window)
        if error is not None:
            return error
    return None
