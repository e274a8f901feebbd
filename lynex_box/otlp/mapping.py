"""Map one decoded OTLP span to a span row (the columns of `lynex_box.schema.span`), driven by `conventions`.

The row has every stored column except `project_id` and `ingested_at` (the caller sets them), timestamps as epoch
microseconds, and transient keys starting with "_" (`_cache_write_tokens`, read by the pricing step, not stored).
Attributes that feed a column are consumed; the rest stays in `attributes` (JSON, sorted keys). This runs once per
span in the pipeline: no I/O, no regex, no mutation of the input span, and no exception other than `SpanRejected`
for a span whose ids or start time are unusable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from lynex_box.otlp import conventions as c
from lynex_box.otlp.content import content_of
from lynex_box.otlp.context import apply_context
from lynex_box.otlp.records import OtlpSpan
from lynex_box.otlp.usage import costs_of, tokens_of
from lynex_box.otlp.values import as_float, as_int, as_str, first

__all__ = ["MappedBatch", "SpanRejected", "map_span", "map_spans", "reject_reason"]

_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16
_STATUS_BY_CODE = {1: "ok", 2: "error"}
_MAX_REASONS = 5  # rejection reasons quoted in one partial_success message


class SpanRejected(ValueError):
    """This span cannot be stored (bad ids or no start time); the rest of its batch can."""


def reject_reason(span: OtlpSpan) -> str | None:
    """Why `map_span` would refuse this span (bad trace/span/parent id, no start time), or None.

    Cheap enough for the ingest path, so that the partial_success count there matches what the pipeline maps."""
    where = f"span {span.span_id!r} of trace {span.trace_id!r}"
    if len(span.trace_id) != 32 or span.trace_id == _ZERO_TRACE_ID:
        return f"{where}: the trace id is not 16 non-zero bytes"
    if len(span.span_id) != 16 or span.span_id == _ZERO_SPAN_ID:
        return f"{where}: the span id is not 8 non-zero bytes"
    if span.start_time_unix_nano <= 0:
        return f"{where}: no start time"
    parent = span.parent_span_id
    if parent is not None and len(parent) != 16:
        return f"{where}: the parent span id {parent!r} is not 8 bytes"
    return None


def _parent_of(span: OtlpSpan) -> str | None:
    """The parent id (None for a root, also when all zeros); raises `SpanRejected` for an unusable span."""
    reason = reject_reason(span)
    if reason is not None:
        raise SpanRejected(reason)
    parent = span.parent_span_id
    return None if parent == _ZERO_SPAN_ID else parent


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"str": as_str, "int": as_int, "float": as_float}
# attribute key → (column, priority, converter), built once from the declarative tables in `conventions`.
_SCALARS: dict[str, tuple[str, int, Callable[[Any], Any]]] = {
    key: (column, priority, _CONVERTERS[kind])
    for kind, table in (("str", c.STRING_SOURCES), ("int", c.INT_SOURCES), ("float", c.COST_SOURCES))
    for column, sources in table.items()
    for priority, key in enumerate(sources)
}


# A pure memo, bounded: attribute keys repeat from span to span (same instrumentation), so classifying a key is
# paid once rather than per span. It holds no data of any span, only key spellings.
@functools.lru_cache(maxsize=8192)
def _family(key: str) -> tuple[str, str] | None:
    """(group, key without its prefix) for a key of a flattened family, else None.

    The family is found by the key's first two dot segments: one dict lookup, no prefix scan."""
    second = key.find(".", key.find(".") + 1)
    family = c.FLAT_GROUPS.get(key[: second + 1]) if second > 0 else None
    if family is not None and key.startswith(family[0]) and len(key) > len(family[0]):
        return family[1], key[len(family[0]) :]
    return None


def _scan(attrs: dict[str, Any], rest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], set[str]]:
    """One pass over the attributes: scalar columns by priority, flattened families grouped (prefix stripped),
    the sections (`conventions.SECTION_KEYS`) that have a key present, unknown keys to `rest`.
    A scalar whose value does not convert (a token count "n/a") stays in `rest`."""
    found: dict[str, tuple[int, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for key, value in attrs.items():
        spec = _SCALARS.get(key)
        if spec is not None:
            converted = spec[2](value)
            if converted is None:
                if value is not None:
                    rest[key] = value
            else:
                current = found.get(spec[0])
                if current is None or spec[1] < current[0]:
                    found[spec[0]] = (spec[1], converted)
            continue
        section = c.KEY_SECTIONS.get(key)
        if section is not None:
            seen.add(section)
            continue
        family = _family(key)
        if family is not None:
            groups.setdefault(family[0], {})[family[1]] = value
        else:
            rest[key] = value
    return {column: pair[1] for column, pair in found.items()}, groups, seen


def _kind(attrs: dict[str, Any], model: str | None, rest: dict[str, Any]) -> str:
    found: str | None = None
    for key, table in c.KIND_SOURCES:
        value = attrs.get(key)
        if value is None:
            continue
        mapped = table.get(value.lower()) if isinstance(value, str) else None
        if mapped is None:
            rest[key] = value  # e.g. gen_ai.operation.name=create_memory: no kind for it, keep it visible
        elif found is None and mapped != "span":
            found = mapped
    return found or ("llm" if model else "span")


def _status(span: OtlpSpan, has_status_keys: bool, rest: dict[str, Any]) -> tuple[str, str | None]:
    status = _STATUS_BY_CODE.get(span.status_code, "unset")
    if not has_status_keys and not span.events:
        return status, span.status_message or None
    attrs = span.attributes
    message = span.status_message or as_str(attrs.get(c.LANGFUSE_STATUS_MESSAGE))
    level = attrs.get(c.LANGFUSE_LEVEL)
    if level is not None:
        if isinstance(level, str) and level.upper() == "ERROR":
            status = "error"
        else:
            rest[c.LANGFUSE_LEVEL] = level  # DEBUG/WARNING say something the status cannot
    error_type = first(attrs, (c.ERROR_TYPE,), as_str, rest)
    if error_type is not None:
        status = "error"
        message = error_type if not message else message if error_type in message else f"{error_type}: {message}"
    if status == "error" and not message:
        for event in span.events:
            if event.name == "exception":
                parts = (as_str(event.attributes.get(key)) for key in ("exception.type", "exception.message"))
                message = ": ".join(part for part in parts if part) or None
                break
    return status, message or None


def map_span(span: OtlpSpan) -> dict[str, Any]:
    """One span row; raises `SpanRejected` if the span's ids or start time are unusable."""
    parent = _parent_of(span)
    attrs = span.attributes
    rest: dict[str, Any] = {}
    values, groups, seen = _scan(attrs, rest)
    strings = {column: values.get(column) for column in c.STRING_SOURCES}
    tags = apply_context(span, groups, seen, strings, rest)
    kind = _kind(attrs, strings["model"], rest) if "kind" in seen else "llm" if strings["model"] else "span"
    tokens = tokens_of(values, attrs, rest)
    costs = costs_of(values, attrs, rest)
    content = content_of(span, groups, seen, kind, rest)
    status, status_message = _status(span, "status" in seen, rest)
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": parent,
        "event_id": f"{span.trace_id}:{span.span_id}",
        "name": span.name,
        "kind": kind,
        "start_time": start // 1000,
        "end_time": end // 1000 if end > 0 else None,
        "duration_ms": (end - start) / 1e6 if end >= start else None,
        "status": status,
        "status_message": status_message,
        "provider": strings["provider"],
        "model": strings["model"] or strings["response_model"],
        "response_model": strings["response_model"],
        "input_tokens": tokens["input_tokens"],
        "output_tokens": tokens["output_tokens"],
        "cached_tokens": tokens["cached_tokens"],
        "reasoning_tokens": tokens["reasoning_tokens"],
        "total_tokens": tokens["total_tokens"],
        "input_cost": costs["input_cost"],
        "output_cost": costs["output_cost"],
        "total_cost": costs["total_cost"],
        "cost_source": costs["cost_source"],
        "input": content.input,
        "output": content.output,
        "tool_calls": content.tool_calls,
        "session_id": strings["session_id"],
        "user_id": strings["user_id"],
        "environment": strings["environment"],
        "release": strings["release"],
        "tags": tags,
        "attributes": orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode() if rest else None,
        "prompt_name": strings["prompt_name"],
        "prompt_version": strings["prompt_version"],
        "hallucination_risk": None,
        "pii": None,
        "source": "otlp",
        "_cache_write_tokens": tokens["_cache_write_tokens"],
    }


@dataclass(slots=True)
class MappedBatch:
    """Rows of the spans that mapped, and how many were rejected (for `partial_success`)."""

    rows: list[dict[str, Any]]
    rejected: int
    error_message: str


def map_spans(spans: Iterable[OtlpSpan]) -> MappedBatch:
    """Map every span; a span that cannot be mapped is counted as rejected instead of failing its batch."""
    rows: list[dict[str, Any]] = []
    reasons: list[str] = []
    rejected = 0
    for span in spans:
        try:
            rows.append(map_span(span))
        except SpanRejected as exc:
            rejected += 1
            if len(reasons) < _MAX_REASONS:
                reasons.append(str(exc))
        except Exception as exc:  # a mapping bug must cost one span, not a batch the client would retry forever
            rejected += 1
            if len(reasons) < _MAX_REASONS:
                reasons.append(f"span {span.span_id!r}: could not be mapped ({type(exc).__name__})")
    suffix = "; ..." if rejected > len(reasons) else ""
    return MappedBatch(rows, rejected, "; ".join(reasons) + suffix)
