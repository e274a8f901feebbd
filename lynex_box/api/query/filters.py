"""Query parameters of the data lists and metrics, decoded into `query.sql.Filters` and friends: a value or a 400
naming the parameter, never a 500. The SQL they feed is planned in `lynex_box/query/` (`sql.py`, `pages.py`).
Their OpenAPI descriptions are here too (`FILTERS`, `LIST_LIMIT`, `RANGE`), beside what enforces them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from lynex_box.api import spec
from lynex_box.api.errors import ApiError
from lynex_box.api.params import PageLimit, bounded_int, whole_number
from lynex_box.query.sql import (
    ATTR_OPS,
    DETECTOR_PATTERN,
    FILTER_STRINGS,
    GROUP_COLUMNS,
    TOP_BY,
    AttrCondition,
    Filters,
)
from lynex_box.schema.span import KIND_GROUPS, SPAN_KINDS
from lynex_box.schema.timefmt import parse_time_us
from lynex_box.scores.store import SCORE_OPS, ScoreCondition

INTERVAL_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_LIMIT: Final = 1000
LIST_LIMIT: Final = PageLimit(MAX_LIMIT, 50)  # the data lists: traces, spans, sessions, users, scores
MAX_VALUES: Final = 50  # values of one repeated filter (`model=a&model=b`: any of them)
MAX_CONDITIONS: Final = 20  # `attr`, `meta` and `score` conditions of one request, together
MAX_TEXT: Final = 512
# An attribute or metadata key: printable, no quote, backslash or colon (the colon separates key, op and value).
_KEY: Final = re.compile(r'[^"\\:\x00-\x1f\x7f]{1,200}')


def _time(params: Mapping[str, str], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_time_us(int(value) if value.isascii() and value.isdigit() else value)
    except ValueError as exc:
        raise ApiError(400, "bad_filter", f"{key}: {exc}") from None


def _number(params: Mapping[str, str], key: str) -> float | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(400, "bad_filter", f"{key} = {value!r} is not a number") from None


def _values(params: Mapping[str, str], key: str) -> list[str]:
    """Every non-empty value of a parameter given once or more (`status=ok&status=error`), each checked."""
    getlist = getattr(params, "getlist", None)
    raw = getlist(key) if getlist is not None else [params.get(key) or ""]
    values = [v for v in raw if v]
    if len(values) > MAX_VALUES:
        raise ApiError(400, "bad_filter", f"{key} is given {len(values)} times; at most {MAX_VALUES} values")
    for value in values:
        if len(value) > MAX_TEXT:
            raise ApiError(400, "bad_filter", f"{key} is longer than {MAX_TEXT} characters")
    return values


def _conditions(params: Mapping[str, str], name: str) -> list[tuple[str, str, str | None]]:
    """`NAME=key:op[:value]` values as (key, op, value), the key checked; the op is checked by the caller."""
    out = []
    for raw in _values(params, name):
        key, _, rest = raw.partition(":")
        op, sep, value = rest.partition(":")
        if not _KEY.fullmatch(key):
            raise ApiError(
                400, "bad_filter", f"{name} key {key!r} must be 1-200 printable characters without a quote, "
                "backslash or colon; hint: write key:op:value, e.g. gen_ai.system:eq:openai",
            )  # fmt: skip
        out.append((key, op, value if sep else None))
    return out


def _attr_conditions(params: Mapping[str, str]) -> tuple[AttrCondition, ...]:
    out = []
    for name in ("attr", "meta"):
        for key, op, value in _conditions(params, name):
            if op not in ATTR_OPS:
                raise ApiError(400, "bad_filter", f"{name} {key!r}: op {op!r} is not one of {list(ATTR_OPS)}")
            if op != "exists" and not value:
                raise ApiError(400, "bad_filter", f"{name} {key!r}: op {op!r} needs a value; hint: {key}:{op}:VALUE")
            out.append(AttrCondition(key, op, value if op != "exists" else None, in_metadata=name == "meta"))
    return tuple(out)


def parse_score_filters(params: Mapping[str, str]) -> list[ScoreCondition]:
    """`score=name:op:value` (op eq, ne, gt, gte, lt, lte): traces with a score of that name that compares so."""
    out = []
    for name, op, value in _conditions(params, "score"):
        if op not in SCORE_OPS:
            raise ApiError(400, "bad_filter", f"score {name!r}: op {op!r} is not one of {list(SCORE_OPS)}")
        if value is None or value == "":
            raise ApiError(400, "bad_filter", f"score {name!r}: needs a value; hint: {name}:{op}:0.5")
        number = _maybe_number(value)
        if number is None and op not in ("eq", "ne"):
            raise ApiError(400, "bad_filter", f"score {name!r}: {op} needs a number, not {value!r}")
        out.append(ScoreCondition(name, op, value, number))
    return out


def _maybe_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def parse_filters(params: Mapping[str, str]) -> Filters:
    start, end = _time(params, "from"), _time(params, "to")
    if start is not None and end is not None and end < start:
        raise ApiError(400, "bad_filter", "`to` is before `from`")
    equals: dict[str, str] = {}
    any_of: dict[str, tuple[str, ...]] = {}
    for key in FILTER_STRINGS:
        values = _values(params, key)
        if len(values) == 1:
            equals[key] = values[0]
        elif values:
            any_of[key] = tuple(values)
    tags = _values(params, "tag")
    attrs = _attr_conditions(params)
    if len(attrs) + len(_values(params, "score")) > MAX_CONDITIONS:
        raise ApiError(400, "bad_filter", f"more than {MAX_CONDITIONS} attr, meta and score conditions")
    detector = params.get("detector") or None
    if detector is not None and not re.fullmatch(DETECTOR_PATTERN, detector):
        raise ApiError(400, "bad_filter", f"detector = {detector[:80]!r} is not a detector name or reason code; "
                       "hint: lowercase letters, digits, _ . -, e.g. grounding or ungrounded_number")  # fmt: skip
    q = params.get("q") or None
    if q is not None and len(q) > 512:
        raise ApiError(400, "bad_filter", "q is longer than 512 characters")
    return Filters(
        start_us=start,
        end_us=end,
        equals=equals,
        tag=tags[0] if len(tags) == 1 else None,
        q=q,
        min_cost=_number(params, "min_cost"),
        max_cost=_number(params, "max_cost"),
        min_duration_ms=_number(params, "min_duration_ms"),
        max_duration_ms=_number(params, "max_duration_ms"),
        min_hallucination_risk=_number(params, "min_hallucination_risk"),
        any_of=any_of,
        tags_any=tuple(tags) if len(tags) > 1 else (),
        attrs=attrs,
        detector=detector,
    )


def parse_limit(params: Mapping[str, str]) -> int:
    return LIST_LIMIT.parse(params)


def parse_interval(params: Mapping[str, str]) -> int | None:
    """Bucket width in seconds (`30s`, `5m`, `1h`, `1d` or plain seconds); None = one point."""
    raw = params.get("interval")
    if not raw:
        return None
    unit = raw[-1] if raw[-1] in INTERVAL_UNITS else "s"
    number = raw[:-1] if raw[-1] in INTERVAL_UNITS else raw
    count = whole_number(number)
    if count is None or count <= 0:
        raise ApiError(400, "bad_interval", f"interval {raw!r} must look like 30s, 5m, 1h or 1d")
    seconds = count * INTERVAL_UNITS[unit]
    if seconds > 366 * 86_400:
        raise ApiError(400, "bad_interval", "interval is longer than a year")
    return seconds


def parse_group(params: Mapping[str, str]) -> str | None:
    group = params.get("group_by") or None
    if group is not None and group not in GROUP_COLUMNS:
        raise ApiError(400, "bad_group_by", f"group_by {group!r} is not one of {list(GROUP_COLUMNS)}")
    return group


def parse_latency_kind(params: Mapping[str, str]) -> str | None:
    """`latency_kind`: the span kind (or `llm_call`) whose durations the latency percentiles describe; None = all."""
    kind = params.get("latency_kind") or None
    if kind is not None and kind not in SPAN_KINDS and kind not in KIND_GROUPS:
        known = sorted([*KIND_GROUPS, *SPAN_KINDS])
        raise ApiError(400, "bad_filter", f"latency_kind {kind!r} is not one of {known}")
    return kind


def parse_top(params: Mapping[str, str]) -> tuple[int | None, str]:
    """`top=N` keeps the N groups ranked highest by `top_by` (total_cost, count or errors)."""
    raw = params.get("top")
    by = params.get("top_by") or "total_cost"
    if by not in TOP_BY:
        raise ApiError(400, "bad_top", f"top_by {by!r} is not one of {list(TOP_BY)}")
    if raw is None or raw == "":
        return None, by
    return bounded_int(params, "top", 1, MAX_LIMIT, 0, "bad_top"), by


# The filters `parse_filters` reads, as the OpenAPI document describes them (`RANGE`: the time range alone).
FILTERS: Final = spec.query(
    ("from", "RFC 3339 time or epoch ms: spans starting at or after"),
    ("to", "RFC 3339 time or epoch ms: spans starting before"),
    ("name", "span name"),
    ("model", "requested model"),
    ("provider", "provider"),
    ("status", "ok, error or unset"),
    ("user_id", "end user"),
    ("session_id", "session"),
    ("environment", "environment"),
    ("kind", "span kind, or `llm_call` for every LLM call (kinds llm and chat)"),
    ("model_id", "canonical model id (docs/models.md), e.g. gpt-4o for gpt-4o-2024-08-06"),
    ("model_family", "model line, e.g. gpt-4o, claude-sonnet, gemini-1.5"),
    ("model_provider", "canonical provider id, e.g. openai, anthropic, google"),
    ("request_fingerprint", "the same call: model, system prompt and parameters (docs/models.md)"),
    ("system_fingerprint", "the provider's system_fingerprint"),
    ("prompt_name", "prompt name"),
    ("prompt_version", "prompt version"),
    ("tag", "a tag the span carries"),
    ("prompt_name", "the prompt's name (the span's `prompt.name`)"),
    ("q", "case-insensitive text in input or output"),
    ("min_cost", "USD"),
    ("max_cost", "USD"),
    ("min_duration_ms", "ms"),
    ("max_duration_ms", "ms"),
    ("min_hallucination_risk", "0-1: spans whose hallucination_risk (detectors' and judges' maximum) is at least this"),
    (
        "detector",
        "spans a detector or judge flagged: its name (grounding, a judge's) or a reason code (ungrounded_number)",
    ),
    ("attr", "key:op[:value], op eq, ne, contains or exists: a span attribute (repeatable, all must hold)"),
    ("meta", "key:op[:value] on the event's metadata (attributes.metadata), as attr"),
    ("score", "name:op:value, op eq, ne, gt, gte, lt, lte: traces with such a score (repeatable)"),
)
RANGE: Final = FILTERS[:2]
LIST_PARAMS: Final = [*FILTERS, *spec.page(LIST_LIMIT)]  # a data list: filters, limit and cursor
