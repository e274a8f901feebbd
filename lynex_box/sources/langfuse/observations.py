"""Langfuse legacy ingestion events (trace-create, span/generation create and update, event-create) as span rows.

Model: a trace becomes a root row whose span id is the trace id; an observation becomes a row under its
`parentObservationId`, or under that root when it has none. Langfuse's API is upsert-by-id, our store is
append-only, so:

1. Events for the same trace or observation in one request are merged first (later non-null fields win):
   the common `create` + `update` pair becomes one complete row.
2. An update whose create came in an earlier request becomes a row of its own, `source = "langfuse-update"`,
   with the same trace and span id and an event id of its own (the ingestion event's id: the SDK's retry of
   that request is still dropped by the pipeline's dedupe, and a later update is not). Readers fold such rows
   into their observation (`lynex_box.sources.langfuse.fold`). Its start time is a stand-in (the event's timestamp),
   so it has no duration; model and kind come from `ObservationHints` when the create was seen recently, so
   its usage can still be priced.

The row itself is built by the OTLP mapping from the `langfuse.*` attributes Langfuse's own OTel SDKs send,
so both paths share one meaning of usage and cost details, levels and message shapes. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from lynex_box.scores.model import time_us
from lynex_box.sources.langfuse.hints import Hint, ObservationHints
from lynex_box.sources.otlp.mapping import map_span
from lynex_box.sources.otlp.records import OtlpSpan

SOURCE: Final = "langfuse"
UPDATE_SOURCE: Final = "langfuse-update"
TRACE_CREATE: Final = "trace-create"
# event type → (observation type, is a create); None = the type is in the body (`observation-*`).
OBSERVATION_EVENTS: Final[dict[str, tuple[str | None, bool]]] = {
    "span-create": ("span", True),
    "span-update": ("span", False),
    "generation-create": ("generation", True),
    "generation-update": ("generation", False),
    "event-create": ("event", True),
    "observation-create": (None, True),
    "observation-update": (None, False),
}
_FAKE_TRACE = "f" * 32  # the OTLP mapping checks ids; ours are Langfuse's and are put back after mapping
_FAKE_SPAN = "f" * 16
_OBSERVATION_KEYS: Final = {
    "model": "langfuse.observation.model.name",
    "level": "langfuse.observation.level",
    "statusMessage": "langfuse.observation.status_message",
    "promptName": "langfuse.observation.prompt.name",
    "promptVersion": "langfuse.observation.prompt.version",
    "completionStartTime": "langfuse.observation.completion_start_time",
    "version": "langfuse.version",
    "environment": "langfuse.environment",
}
_OBSERVATION_JSON: Final = {
    "input": "langfuse.observation.input",
    "output": "langfuse.observation.output",
    "metadata": "langfuse.observation.metadata",
    "modelParameters": "langfuse.observation.model.parameters",
}
_TRACE_KEYS: Final = {
    "userId": "user.id",
    "sessionId": "session.id",
    "release": "langfuse.release",
    "version": "langfuse.version",
    "environment": "langfuse.environment",
    "public": "langfuse.trace.public",
    "tags": "langfuse.trace.tags",
}
_TRACE_JSON: Final = {
    "input": "langfuse.observation.input",
    "output": "langfuse.observation.output",
    "metadata": "langfuse.trace.metadata",
}
_HANDLED: Final = frozenset(
    {"id", "traceId", "name", "startTime", "endTime", "timestamp", "parentObservationId", "type", "usage",
     "usageDetails", "costDetails", *_OBSERVATION_KEYS, *_OBSERVATION_JSON, *_TRACE_KEYS, *_TRACE_JSON}
)  # fmt: skip


@dataclass(slots=True)
class Merged:
    """All events of one trace or observation in one request, merged in order."""

    is_trace: bool
    id: str
    observation_type: str | None
    created: bool
    event_id: str
    event_time_us: int | None
    body: dict[str, Any] = field(default_factory=dict)


def entity_of(item: dict[str, Any]) -> tuple[bool, str] | None:
    """(is a trace, id) of an ingestion event that creates or updates a trace or observation, else None."""
    kind = item.get("type")
    if kind != TRACE_CREATE and kind not in OBSERVATION_EVENTS:
        return None
    body_id = (item.get("body") or {}).get("id")
    return kind == TRACE_CREATE, body_id if isinstance(body_id, str) and body_id else str(item["id"])


def merge_items(items: Iterable[dict[str, Any]]) -> list[Merged]:
    """Group validated trace/observation events by entity (first appearance order) and merge their bodies."""
    merged: dict[tuple[bool, str], Merged] = {}
    for item in items:
        entity = entity_of(item)
        if entity is None:
            continue
        body = item["body"]
        kind = item["type"]
        observation_type, created = (None, True) if kind == TRACE_CREATE else OBSERVATION_EVENTS[kind]
        if observation_type is None and not entity[0]:
            observation_type = str(body.get("type") or "span").lower()
        current = merged.get(entity)
        if current is None:
            stamp = item.get("timestamp")
            current = Merged(entity[0], entity[1], observation_type, False, item["id"], _time(stamp))
            merged[entity] = current
        if created and not current.created:
            current.created = True
            current.observation_type = observation_type
        current.body.update((k, v) for k, v in body.items() if v is not None)
    return list(merged.values())


def _time(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return time_us(value)
    except ValueError:
        return None


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _openai_usage(usage: dict[str, Any], names: tuple[str, str, str, str, str]) -> dict[str, float]:
    """OpenAI's usage object as Langfuse usage details: detail counts move out of `input`/`output` into
    `input_<detail>` / `output_<detail>`, as Langfuse's server does (so `input` excludes cached tokens)."""
    in_key, out_key, total_key, in_details, out_details = names
    out: dict[str, float] = {}
    for base_key, details_key, prefix in ((in_key, in_details, "input"), (out_key, out_details, "output")):
        base = _number(usage.get(base_key))
        details = usage.get(details_key)
        if isinstance(details, dict):
            for key, value in details.items():
                number = _number(value)
                if number:
                    out[f"{prefix}_{key}"] = number
                    base = None if base is None else base - number
        if base is not None:
            out[prefix] = max(base, 0.0)
    if (total := _number(usage.get(total_key))) is not None:
        out["total"] = total
    return out


def usage_details(body: dict[str, Any]) -> dict[str, float] | None:
    """Token counts in Langfuse's usage-details shape from `usageDetails`, `usage` or OpenAI-style counts."""
    details = body.get("usageDetails")
    if isinstance(details, dict) and details:
        if "prompt_tokens" in details or "completion_tokens" in details:
            names = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                     "completion_tokens_details")  # fmt: skip
            return _openai_usage(details, names)
        if "input_tokens_details" in details or "output_tokens_details" in details:
            names = ("input_tokens", "output_tokens", "total_tokens", "input_tokens_details", "output_tokens_details")
            return _openai_usage(details, names)
        return {k: n for k, v in details.items() if (n := _number(v)) is not None}
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    if any(k in usage for k in ("promptTokens", "completionTokens", "totalTokens")):
        pairs = (("input", "promptTokens"), ("output", "completionTokens"), ("total", "totalTokens"))
    elif str(usage.get("unit") or "TOKENS").upper() == "TOKENS":
        pairs = (("input", "input"), ("output", "output"), ("total", "total"))
    else:
        return None  # characters, images, seconds: not tokens, and not priced as tokens
    found = {ours: n for ours, theirs in pairs if (n := _number(usage.get(theirs))) is not None}
    return found or None


def cost_details(body: dict[str, Any]) -> dict[str, float] | None:
    """Reported costs: `costDetails`, else `usage.inputCost/outputCost/totalCost`."""
    details = body.get("costDetails")
    if isinstance(details, dict) and details:
        found = {k: n for k, v in details.items() if (n := _number(v)) is not None}
        if found:
            return found
    usage = body.get("usage")
    if isinstance(usage, dict):
        pairs = (("input", "inputCost"), ("output", "outputCost"), ("total", "totalCost"))
        found = {ours: n for ours, theirs in pairs if (n := _number(usage.get(theirs))) is not None}
        return found or None
    return None


def _attributes(m: Merged) -> dict[str, Any]:
    body = m.body
    attrs: dict[str, Any] = {}
    plain, as_json = (_TRACE_KEYS, _TRACE_JSON) if m.is_trace else (_OBSERVATION_KEYS, _OBSERVATION_JSON)
    if not m.is_trace:
        attrs["langfuse.observation.type"] = m.observation_type or "span"
    for key, attr in plain.items():
        if body.get(key) is not None:
            attrs[attr] = body[key]
    for key, attr in as_json.items():
        if body.get(key) is not None:
            attrs[attr] = _json(body[key])
    if not m.is_trace:
        if (usage := usage_details(body)) is not None:
            attrs["langfuse.observation.usage_details"] = _json(usage)
        if (costs := cost_details(body)) is not None:
            attrs["langfuse.observation.cost_details"] = _json(costs)
    for key, value in body.items():
        if key not in _HANDLED:
            attrs[f"langfuse.{key}"] = value
    return attrs


def entity_row(m: Merged, project_id: str, received_us: int, hints: ObservationHints | None = None) -> dict[str, Any]:
    """One span row (SPAN_SCHEMA keys plus `_`-hints) for a merged trace or observation."""
    body = m.body
    explicit_start = _time(body.get("timestamp" if m.is_trace else "startTime"))
    start_us = explicit_start or m.event_time_us or received_us
    end_us = None if m.is_trace else _time(body.get("endTime"))
    span = OtlpSpan(
        trace_id=_FAKE_TRACE, span_id=_FAKE_SPAN, parent_span_id=None, name=str(body.get("name") or ""), kind=0,
        start_time_unix_nano=max(start_us, 1) * 1000, end_time_unix_nano=(end_us or 0) * 1000, status_code=0,
        status_message="", attributes=_attributes(m), events=[], resource_attributes={}, scope_name="",
        scope_version="",
    )  # fmt: skip
    row = map_span(span)
    hint = None if m.is_trace or hints is None else hints.get(project_id, m.id)
    trace_id = m.id if m.is_trace else body.get("traceId") or (hint.trace_id if hint else None) or m.id
    patch = not m.created or (m.is_trace and explicit_start is None)
    timed = not patch  # a stand-in start time gives no duration
    if patch and hint is not None:
        row["kind"] = hint.kind or row["kind"]
        row["model"] = row["model"] or hint.model
        row["provider"] = row["provider"] or hint.provider
    row.update(
        project_id=project_id,
        trace_id=trace_id,
        span_id=m.id,
        parent_span_id=None if m.is_trace else body.get("parentObservationId") or trace_id,
        event_id=m.event_id,
        name=body.get("name"),
        start_time=start_us,
        end_time=end_us,
        duration_ms=(end_us - start_us) / 1000 if end_us is not None and timed and end_us >= start_us else None,
        ingested_at=received_us,
        source=UPDATE_SOURCE if patch else SOURCE,
    )
    if hints is not None and not m.is_trace:
        hints.put(project_id, m.id, Hint(trace_id, row["kind"], row["model"], row["provider"]))
    return row


def batch_rows(
    items: Iterable[dict[str, Any]], project_id: str, received_us: int, hints: ObservationHints | None = None
) -> list[dict[str, Any]]:
    """Span rows for the trace and observation events of one ingestion request (already validated)."""
    return [entity_row(m, project_id, received_us, hints) for m in merge_items(items)]
