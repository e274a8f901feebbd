"""Map decoded OTLP spans to span rows (the columns of `lynex_box.schema.span`), driven by `conventions`.

A row has every stored column except `project_id` and `ingested_at` (the caller sets them), timestamps as epoch
microseconds, and the transient `_cache_write_tokens` (read by the pricing step, not stored). Attributes that
feed a column are consumed; the rest stays in `attributes` (JSON, sorted keys). `map_values` is the one
implementation: it returns a span's values as a tuple in `ROW_COLUMNS` order, which `map_span` turns into a dict
and `map_columns` transposes into column lists (the pipeline's form). It runs once per span in the pipeline, so
each attribute key is classified by one dict lookup (`keys.key_spec`), resource-level work is done once per
resource (`ResourceContext`), and parts a span has no key for are skipped. No I/O, no regex, no mutation of the
input, and no exception other than `SpanRejected` for a span whose ids or start time are unusable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

import orjson

from lynex_box.sources.otlp import conventions as c
from lynex_box.sources.otlp.content import content_of
from lynex_box.sources.otlp.context import ResourceContext, apply_context, resource_context
from lynex_box.sources.otlp.keys import KeyPlan, plan_of
from lynex_box.sources.otlp.records import OtlpEvent, OtlpSpan
from lynex_box.sources.otlp.usage import costs_of, tokens_of
from lynex_box.sources.otlp.values import as_str, first

__all__ = [
    "ROW_COLUMNS",
    "MappedBatch",
    "MappedColumns",
    "SpanRejected",
    "map_columns",
    "map_span",
    "map_spans",
    "map_values",
    "reject_reason",
]

_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16
_STATUS_BY_CODE = {1: "ok", 2: "error"}
_MAX_REASONS = 5  # rejection reasons quoted in one partial_success message
_SORT_KEYS = orjson.OPT_SORT_KEYS

# The order of the values `map_values` returns: the keys of a mapped row.
ROW_COLUMNS: Final = (
    "trace_id", "span_id", "parent_span_id", "event_id", "name", "kind", "start_time", "end_time", "duration_ms",
    "status", "status_message", "provider", "model", "response_model", "input_tokens", "output_tokens",
    "cached_tokens", "reasoning_tokens", "total_tokens", "input_cost", "output_cost", "total_cost", "cost_source",
    "input", "output", "tool_calls", "session_id", "user_id", "environment", "release", "tags", "attributes",
    "prompt_name", "prompt_version", "hallucination_risk", "pii", "source", "_cache_write_tokens",
)  # fmt: skip
_START: Final = itemgetter(ROW_COLUMNS.index("start_time"))
_NO_TOKENS: Final = (None, None, None, None, None, None)
_NO_COSTS: Final = (None, None, None, None)


class SpanRejected(ValueError):
    """This span cannot be stored (bad ids or no start time); the rest of its batch can."""


def _reason(trace_id: str, span_id: str, parent: str | None, start: int) -> str | None:
    if (
        len(trace_id) == 32
        and len(span_id) == 16
        and start > 0
        and (parent is None or len(parent) == 16)
        and trace_id != _ZERO_TRACE_ID
        and span_id != _ZERO_SPAN_ID
    ):
        return None  # the usual case: no message is formatted
    where = f"span {span_id!r} of trace {trace_id!r}"
    if len(trace_id) != 32 or trace_id == _ZERO_TRACE_ID:
        return f"{where}: the trace id is not 16 non-zero bytes"
    if len(span_id) != 16 or span_id == _ZERO_SPAN_ID:
        return f"{where}: the span id is not 8 non-zero bytes"
    if start <= 0:
        return f"{where}: no start time"
    return f"{where}: the parent span id {parent!r} is not 8 bytes"


def reject_reason(span: OtlpSpan) -> str | None:
    """Why `map_span` would refuse this span (bad trace/span/parent id, no start time), or None.

    Cheap enough for the ingest path, so that the partial_success count there matches what the pipeline maps."""
    return _reason(span.trace_id, span.span_id, span.parent_span_id, span.start_time_unix_nano)


def _scan(
    attrs: dict[str, Any], rest: dict[str, Any]
) -> tuple[dict[str, Any], bool, bool, dict[str, dict[str, Any]], KeyPlan]:
    """The attributes sorted by use, following the `KeyPlan` of their key list: scalar columns by priority (into
    one dict keyed by column, plus whether a token or a cost column was found), flattened families grouped
    (prefix stripped), other keys to `rest`; and the plan itself.
    A scalar whose value does not convert (a token count "n/a") stays in `rest`."""
    plan = plan_of(tuple(attrs))
    for key in plan.others:
        rest[key] = attrs[key]
    values: dict[str, Any] = {}
    ints = floats = False
    # Priorities are tracked only for a key list where two keys feed one column (`plan.shared`, rare).
    priorities: dict[str, int] | None = {} if plan.shared else None
    for key, column, priority, convert, kind in plan.scalars:
        value = attrs[key]
        if kind == "s" and type(value) is str:  # the common case, without a call
            converted: Any = value or None
        elif kind == "i" and type(value) is int:
            converted = value
        else:
            converted = convert(value)
        if converted is None:
            if value is not None:
                rest[key] = value
            continue
        if priorities is not None:
            current = priorities.get(column)
            if current is not None and priority >= current:
                continue
            priorities[column] = priority
        values[column] = converted
        if kind == "i":
            ints = True
        elif kind == "f":
            floats = True
    groups = (
        {group: {suffix: attrs[key] for key, suffix in members} for group, members in plan.groups}
        if plan.groups
        else {}
    )
    return values, ints, floats, groups, plan


def _kind(
    attrs: dict[str, Any], sources: tuple[tuple[str, dict[str, str]], ...], model: str | None, rest: dict[str, Any]
) -> str:
    """The kind from the first of `sources` (the `KIND_SOURCES` present) that names one other than "span"."""
    found: str | None = None
    for key, table in sources:
        value = attrs[key]
        if value is None:
            continue
        mapped = table.get(value.lower()) if isinstance(value, str) else None
        if mapped is None:
            rest[key] = value  # e.g. gen_ai.operation.name=create_memory: no kind for it, keep it visible
        elif found is None and mapped != "span":
            found = mapped
    return found or ("llm" if model else "span")


def _status(
    code: int, message: str, attrs: dict[str, Any], events: list[OtlpEvent], keys: bool, rest: dict[str, Any]
) -> tuple[str, str | None]:
    status = _STATUS_BY_CODE.get(code, "unset")
    if not keys and not events:
        return status, message or None
    found = message or as_str(attrs.get(c.LANGFUSE_STATUS_MESSAGE))
    level = attrs.get(c.LANGFUSE_LEVEL)
    if level is not None:
        if isinstance(level, str) and level.upper() == "ERROR":
            status = "error"
        else:
            rest[c.LANGFUSE_LEVEL] = level  # DEBUG/WARNING say something the status cannot
    error_type = first(attrs, (c.ERROR_TYPE,), as_str, rest)
    if error_type is not None:
        status = "error"
        found = error_type if not found else found if error_type in found else f"{error_type}: {found}"
    if status == "error" and not found:
        for event in events:
            if event.name == "exception":
                parts = (as_str(event.attributes.get(key)) for key in ("exception.type", "exception.message"))
                found = ": ".join(part for part in parts if part) or None
                break
    return status, found or None


def map_values(span: OtlpSpan, resource: ResourceContext) -> tuple[Any, ...]:
    """The span's row as a tuple in `ROW_COLUMNS` order; raises `SpanRejected` for unusable ids or start time.

    `resource` is `resource_context(span.resource_attributes)`, computed once for all the spans of a resource."""
    trace_id, span_id, parent, start = span.trace_id, span.span_id, span.parent_span_id, span.start_time_unix_nano
    reason = _reason(trace_id, span_id, parent, start)
    if reason is not None:
        raise SpanRejected(reason)
    if parent == _ZERO_SPAN_ID:
        parent = None
    attrs, events = span.attributes, span.events
    rest: dict[str, Any] = {}
    values, ints, floats, groups, plan = _scan(attrs, rest)
    seen = plan.sections
    tags = apply_context(attrs, groups, plan, values, rest, resource, span.scope_name, span.scope_version)
    get = values.get
    model = get("model")
    response_model = get("response_model")
    kind = _kind(attrs, plan.kinds, model, rest) if plan.kinds else "llm" if model else "span"
    tokens = tokens_of(values, attrs, rest) if ints or "usage" in seen else _NO_TOKENS
    costs = costs_of(values, attrs, rest) if floats or "cost" in seen else _NO_COSTS
    if groups or events or kind == "tool" or seen:
        content = content_of(attrs, events, span.name, groups, seen, kind, rest)
    else:
        content = None
    status, status_message = (
        _status(span.status_code, span.status_message, attrs, events, "status" in seen, rest)
        if events or "status" in seen
        else (_STATUS_BY_CODE.get(span.status_code, "unset"), span.status_message or None)
    )
    end = span.end_time_unix_nano
    return (
        trace_id,
        span_id,
        parent,
        f"{trace_id}:{span_id}",
        span.name,
        kind,
        start // 1000,
        end // 1000 if end > 0 else None,
        (end - start) / 1e6 if end >= start else None,
        status,
        status_message,
        get("provider"),
        model or response_model,
        response_model,
        *tokens[:5],
        *costs,
        *(content or (None, None, None)),
        get("session_id"),
        get("user_id"),
        get("environment"),
        get("release"),
        tags,
        orjson.dumps(rest, option=_SORT_KEYS).decode() if rest else None,
        get("prompt_name"),
        get("prompt_version"),
        None,
        None,
        "otlp",
        tokens[5],
    )


def map_span(span: OtlpSpan) -> dict[str, Any]:
    """One span row; raises `SpanRejected` if the span's ids or start time are unusable."""
    return dict(zip(ROW_COLUMNS, map_values(span, resource_context(span.resource_attributes)), strict=True))


@dataclass(slots=True)
class MappedBatch:
    """Rows of the spans that mapped, and how many were rejected (for `partial_success`)."""

    rows: list[dict[str, Any]]
    rejected: int
    error_message: str


@dataclass(slots=True)
class MappedColumns:
    """The spans that mapped as column lists keyed by `ROW_COLUMNS`, their count, and the rejected ones."""

    columns: dict[str, list[Any]]
    count: int
    rejected: int
    error_message: str


def _map_all(spans: Iterable[OtlpSpan]) -> tuple[list[tuple[Any, ...]], int, str]:
    """Every span's values; a span that cannot be mapped is counted as rejected instead of failing its batch."""
    out: list[tuple[Any, ...]] = []
    append = out.append
    reasons: list[str] = []
    rejected = 0
    last_resource: dict[str, Any] | None = None
    context = resource_context({})
    for span in spans:
        if span.resource_attributes is not last_resource:  # the spans of one resource share its dict
            last_resource = span.resource_attributes
            context = resource_context(last_resource)
        try:
            append(map_values(span, context))
        except SpanRejected as exc:
            rejected += 1
            if len(reasons) < _MAX_REASONS:
                reasons.append(str(exc))
        except Exception as exc:  # a mapping bug must cost one span, not a batch the client would retry forever
            rejected += 1
            if len(reasons) < _MAX_REASONS:
                reasons.append(f"span {span.span_id!r}: could not be mapped ({type(exc).__name__})")
    suffix = "; ..." if rejected > len(reasons) else ""
    return out, rejected, "; ".join(reasons) + suffix


def map_spans(spans: Iterable[OtlpSpan]) -> MappedBatch:
    """Map every span to a row dict; a span that cannot be mapped is counted as rejected."""
    values, rejected, message = _map_all(spans)
    return MappedBatch([dict(zip(ROW_COLUMNS, row, strict=True)) for row in values], rejected, message)


def map_columns(spans: Iterable[OtlpSpan], in_time_order: bool = False) -> MappedColumns:
    """Map every span into column lists (one transposition, no per-span dict); rejected spans are counted.

    `in_time_order` puts the rows in start time order (stable: spans that start together keep request order).
    The pipeline's head keeps each record's rows as a run in time order; sorting the tuples here costs a
    fraction of sorting every Arrow column afterwards."""
    values, rejected, message = _map_all(spans)
    if in_time_order:
        values.sort(key=_START)
    if not values:
        return MappedColumns({column: [] for column in ROW_COLUMNS}, 0, rejected, message)
    columns = dict(zip(ROW_COLUMNS, map(list, zip(*values, strict=True)), strict=True))
    return MappedColumns(columns, len(values), rejected, message)
