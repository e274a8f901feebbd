"""Token counts and client-reported costs of a span, from the tables in `conventions` and Langfuse's JSON details.

Semantics (OTel): `input_tokens` includes cache reads and writes, `output_tokens` includes reasoning,
`cached_tokens` are cache reads, `total_tokens` is given or input + output. Costs are only what the client reported;
computing prices belongs to the pipeline. Pure code: must never raise or do I/O.
"""

from __future__ import annotations

from typing import Any

from lynex_box.sources.otlp import conventions as c
from lynex_box.sources.otlp.values import as_float, as_int, first, json_value

__all__ = ["costs_of", "tokens_of"]


def _sum_keys(values: dict[str, Any], base: str, extra: tuple[str, ...] = ()) -> float | None:
    """`base` plus every `base_*` key (and `extra` keys); None if none of them holds a number."""
    total: float | None = None
    prefix = base + "_"
    for key, value in values.items():
        if key == base or key.startswith(prefix) or key in extra:
            number = as_float(value)
            if number is not None:
                total = number if total is None else total + number
    return total


def _sum_all(values: dict[str, Any]) -> float | None:
    numbers = [number for number in map(as_float, values.values()) if number is not None]
    return sum(numbers) if numbers else None


def _langfuse_usage(attrs: dict[str, Any], rest: dict[str, Any]) -> dict[str, int | None]:
    """Langfuse usage_details: "input" excludes cached tokens, reported beside it as input_* / cache_* keys."""
    raw = attrs.get(c.LANGFUSE_USAGE)
    usage = json_value(raw)
    if not isinstance(usage, dict):
        if raw is not None:
            rest[c.LANGFUSE_USAGE] = raw
        return {}
    input_sum = _sum_keys(usage, "input", c.USAGE_EXTRA_INPUT_KEYS)
    output_sum = _sum_keys(usage, "output")
    return {
        "input_tokens": int(input_sum) if input_sum is not None else as_int(usage.get("prompt_tokens")),
        "output_tokens": int(output_sum) if output_sum is not None else as_int(usage.get("completion_tokens")),
        "total_tokens": first(usage, ("total", "total_tokens"), as_int, {}),
        "cached_tokens": first(usage, c.USAGE_CACHE_READ_KEYS, as_int, {}),
        "_cache_write_tokens": first(usage, c.USAGE_CACHE_WRITE_KEYS, as_int, {}),
        "reasoning_tokens": first(usage, c.USAGE_REASONING_KEYS, as_int, {}),
    }


def tokens_of(values: dict[str, Any], attrs: dict[str, Any], rest: dict[str, Any]) -> tuple[int | None, ...]:
    """(input, output, cached, reasoning, total, cache write) tokens.

    `values` holds what the attribute tables (`INT_SOURCES`) resolved; Langfuse details fill the gaps."""
    if c.LANGFUSE_USAGE in attrs:  # one lookup: spans without Langfuse details skip the merge
        tokens: dict[str, int | None] = {column: values.get(column) for column in c.INT_SOURCES}
        for column, value in _langfuse_usage(attrs, rest).items():
            if tokens[column] is None:
                tokens[column] = value
        get = tokens.get
    else:
        get = values.get
    input_tokens, output_tokens, total = get("input_tokens"), get("output_tokens"), get("total_tokens")
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    return input_tokens, output_tokens, get("cached_tokens"), get("reasoning_tokens"), total, get("_cache_write_tokens")


def costs_of(values: dict[str, Any], attrs: dict[str, Any], rest: dict[str, Any]) -> tuple[Any, ...]:
    """(input cost, output cost, total cost, cost source): the source is "reported", or None when the pipeline
    must compute the costs.

    `values` holds what the attribute tables (`COST_SOURCES`) resolved; Langfuse cost_details fill the gaps."""
    costs: dict[str, Any] = {column: values.get(column) for column in c.COST_SOURCES}
    raw = attrs.get(c.LANGFUSE_COST)
    if raw is not None:
        details = json_value(raw)
        if isinstance(details, dict):
            reported = {
                "input_cost": _sum_keys(details, "input"),
                "output_cost": _sum_keys(details, "output"),
                "total_cost": as_float(details.get("total")) if "total" in details else _sum_all(details),
            }
            for column, value in reported.items():
                if costs[column] is None:
                    costs[column] = value
        else:
            rest[c.LANGFUSE_COST] = raw
    has_cost = any(value is not None for value in costs.values())
    input_cost, output_cost, total_cost = costs["input_cost"], costs["output_cost"], costs["total_cost"]
    if total_cost is None and input_cost is not None and output_cost is not None:
        total_cost = input_cost + output_cost
    return input_cost, output_cost, total_cost, "reported" if has_cost else None
