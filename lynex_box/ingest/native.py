"""The native event (lynex_box/schema/event.schema.json): cheap validation at ingest, normalisation after.

`validate_event` runs on the request path and only checks what would make normalisation fail or store
a wrong value; `normalize_event` runs in the pipeline on events that passed it, and never raises for
them. Both are pure. Nothing here may trust a client's field to pick a project: the caller passes it.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from lynex_box.ingest.timefmt import parse_time_us
from lynex_box.schema.span import SPAN_KINDS

TYPE_ALIASES: Final = {"generation": "llm", "completion": "llm", "function": "tool", "workflow": "chain"}
_ID_MAX = 256
_STR_FIELDS: Final = (
    "event_id", "trace_id", "span_id", "parent_span_id", "name", "model", "provider", "response_model",
    "session_id", "user_id", "environment", "release", "status_message",
)  # fmt: skip
_USAGE_KEYS: Final = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")
_COST_KEYS: Final = ("input", "output", "total")


def _check_str(event: dict[str, Any], key: str, limit: int) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{key} must be a string"
    if len(value) > limit:
        return f"{key} is longer than {limit} characters"
    return None


def _check_number_map(obj: Any, key: str, allowed: tuple[str, ...], integer: bool) -> str | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        return f"{key} must be an object"
    for name, value in obj.items():
        if name not in allowed:
            return f"{key}.{name} is not one of {list(allowed)}"
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return f"{key}.{name} must be a number >= 0"
        if integer and isinstance(value, float) and not value.is_integer():
            return f"{key}.{name} must be a whole number"
        if not integer and value != value:  # NaN
            return f"{key}.{name} must be a number"
    return None


def validate_event(event: Any, max_field_bytes: int) -> str | None:
    """None if the event can be stored, else a message that names the offending field."""
    if not isinstance(event, dict):
        return "event must be a JSON object"
    for key in _STR_FIELDS:
        error = _check_str(event, key, _ID_MAX if key.endswith("_id") else max_field_bytes)
        if error:
            return error
    kind = event.get("type")
    if kind is not None and (not isinstance(kind, str) or (kind not in SPAN_KINDS and kind not in TYPE_ALIASES)):
        return f"type {kind!r} is not one of {sorted(SPAN_KINDS)}"
    for key in ("start_time", "end_time"):
        if event.get(key) is not None:
            try:
                parse_time_us(event[key])
            except ValueError as exc:
                return f"{key}: {exc}"
    status = event.get("status")
    if status is not None and status not in ("ok", "error", "unset"):
        return "status must be one of ['ok', 'error', 'unset']"
    error = _check_number_map(event.get("usage"), "usage", _USAGE_KEYS, integer=True)
    error = error or _check_number_map(event.get("cost"), "cost", _COST_KEYS, integer=False)
    if error:
        return error
    tags = event.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        return "tags must be a list of strings"
    for key in ("metadata", "error", "prompt"):
        if event.get(key) is not None and not isinstance(event[key], dict):
            return f"{key} must be an object"
    if event.get("tool_calls") is not None and not isinstance(event["tool_calls"], list):
        return "tool_calls must be a list"
    for key in ("input", "output"):
        value = event.get(key)
        if isinstance(value, str) and len(value) > max_field_bytes:
            return f"{key} is longer than {max_field_bytes} characters"
    return None


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _io_text(value: Any) -> str | None:
    """Inputs/outputs are JSON text: a list of messages is wrapped as {"messages": [...]}."""
    if value is None:
        return None
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        value = {"messages": value}
    return _json_text(value)


def normalize_event(event: dict[str, Any], project_id: str, received_us: int, fallback_id: str) -> dict[str, Any]:
    """A validated native event as a span row (keys of SPAN_SCHEMA; `_`-keys are transient)."""
    event_id = event.get("event_id") or fallback_id
    start = parse_time_us(event["start_time"]) if event.get("start_time") is not None else received_us
    end = parse_time_us(event["end_time"]) if event.get("end_time") is not None else None
    usage = event.get("usage") or {}
    cost = event.get("cost") or {}
    error = event.get("error") or {}
    prompt = event.get("prompt") or {}
    kind = event.get("type") or "span"
    input_tokens, output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    total_tokens = usage.get("total_tokens")
    if total_tokens is None and (input_tokens is not None or output_tokens is not None):
        total_tokens = (input_tokens or 0) + (output_tokens or 0)
    has_cost = any(cost.get(k) is not None for k in _COST_KEYS)
    total_cost = cost.get("total")
    if total_cost is None and has_cost:
        total_cost = (cost.get("input") or 0.0) + (cost.get("output") or 0.0)
    status = event.get("status") or ("error" if error else "ok")
    attributes = {}
    if event.get("metadata"):
        attributes["metadata"] = event["metadata"]
    if error.get("type"):
        attributes["error.type"] = error["type"]
    version = prompt.get("version")
    return {
        "project_id": project_id,
        "trace_id": event.get("trace_id") or event_id,
        "span_id": event.get("span_id") or event_id,
        "parent_span_id": event.get("parent_span_id") or None,
        "event_id": event_id,
        "name": event.get("name"),
        "kind": TYPE_ALIASES.get(kind, kind),
        "start_time": start,
        "end_time": end,
        "duration_ms": (end - start) / 1000.0 if end is not None else None,
        "status": status,
        "status_message": event.get("status_message") or error.get("message"),
        "provider": event.get("provider"),
        "model": event.get("model"),
        "response_model": event.get("response_model"),
        "input_tokens": _int_or_none(input_tokens),
        "output_tokens": _int_or_none(output_tokens),
        "cached_tokens": _int_or_none(usage.get("cached_tokens")),
        "reasoning_tokens": _int_or_none(usage.get("reasoning_tokens")),
        "total_tokens": _int_or_none(total_tokens),
        "input_cost": _float_or_none(cost.get("input")),
        "output_cost": _float_or_none(cost.get("output")),
        "total_cost": _float_or_none(total_cost),
        "cost_source": "reported" if has_cost else None,
        "input": _io_text(event.get("input")),
        "output": _io_text(event.get("output")),
        "tool_calls": _json_text(event.get("tool_calls")),
        "session_id": event.get("session_id"),
        "user_id": event.get("user_id"),
        "environment": event.get("environment"),
        "release": event.get("release"),
        "tags": event.get("tags"),
        "attributes": _json_text(attributes) if attributes else None,
        "prompt_name": prompt.get("name"),
        "prompt_version": None if version is None else str(version),
        "hallucination_risk": None,
        "pii": None,
        "ingested_at": received_us,
        "source": "sdk",
    }


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
