"""The SQL of a rule's metric over the `spans` relation the query engine provides: pure, no I/O.

The engine restricts `spans` to the rule's project and window (segments and the not-yet-flushed head alike),
so nothing here can widen a rule's tenancy. Filter values are bound parameters; the metric's expression is
picked from a fixed table by name, never built from client text.
"""

from __future__ import annotations

from typing import Any, Final

_ERRORS = "count(*) FILTER (WHERE status = 'error')"
EXPRESSIONS: Final = {
    "error_rate": f"CASE WHEN count(*) = 0 THEN NULL ELSE {_ERRORS}::DOUBLE / count(*) END",
    "error_count": _ERRORS,
    "span_count": "count(*)",
    "total_cost": "coalesce(sum(total_cost), 0)",
    "p95_latency_ms": "quantile_cont(duration_ms, 0.95)",
    "tokens": "coalesce(sum(coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))), 0)",
}
_FILTER_COLUMNS: Final = ("model", "name", "environment")


def metric_sql(metric: str, filters: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """`SELECT value, spans` for one rule; parameters are prefixed `alf_` (the engine reserves its own names)."""
    expr = EXPRESSIONS[metric]
    conds: list[str] = []
    params: dict[str, Any] = {}
    for column in _FILTER_COLUMNS:  # identifiers from this fixed list only
        if column in filters:
            conds.append(f"{column} = $alf_{column}")
            params[f"alf_{column}"] = filters[column]
    where = " AND ".join(conds) or "TRUE"
    return f"SELECT ({expr})::DOUBLE AS value, count(*) AS spans FROM spans WHERE {where}", params
