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
from lynex_box.query.sql import DETECTOR_PATTERN, FILTER_STRINGS, GROUP_COLUMNS, TOP_BY, Filters
from lynex_box.schema.timefmt import parse_time_us

INTERVAL_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_LIMIT: Final = 1000
LIST_LIMIT: Final = PageLimit(MAX_LIMIT, 50)  # the data lists: traces, spans, sessions, users, scores


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


def parse_filters(params: Mapping[str, str]) -> Filters:
    start, end = _time(params, "from"), _time(params, "to")
    if start is not None and end is not None and end < start:
        raise ApiError(400, "bad_filter", "`to` is before `from`")
    equals = {k: params[k] for k in FILTER_STRINGS if params.get(k)}
    for key, value in equals.items():
        if len(value) > 512:
            raise ApiError(400, "bad_filter", f"{key} is longer than 512 characters")
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
        tag=params.get("tag") or None,
        q=q,
        min_cost=_number(params, "min_cost"),
        max_cost=_number(params, "max_cost"),
        min_duration_ms=_number(params, "min_duration_ms"),
        max_duration_ms=_number(params, "max_duration_ms"),
        min_hallucination_risk=_number(params, "min_hallucination_risk"),
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
    ("tag", "a tag the span carries"),
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
)
RANGE: Final = FILTERS[:2]
LIST_PARAMS: Final = [*FILTERS, *spec.page(LIST_LIMIT)]  # a data list: filters, limit and cursor
