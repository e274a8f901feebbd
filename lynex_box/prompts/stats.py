"""SQL for per-version prompt metrics over spans, and the merge with registered versions: pure, no I/O.

The `spans` relation is already restricted to the caller's project and time range by the query engine;
the prompt name, when given, is a bound parameter.
"""

from __future__ import annotations

from typing import Any

from lynex_box.prompts.registry import PromptVersion

MAX_GROUPS = 1000

METRIC_KEYS = (
    "count", "errors", "error_rate", "input_tokens", "output_tokens", "total_cost", "avg_cost",
    "avg_ms", "p50_ms", "p95_ms", "first_seen", "last_seen",
)  # fmt: skip


def versions_sql(name: str | None) -> tuple[str, dict[str, Any]]:
    """Per (prompt_name, prompt_version): volume, errors, tokens, cost and latency."""
    params: dict[str, Any] = {"max_groups": MAX_GROUPS}
    where = "prompt_name IS NOT NULL"
    if name is not None:
        where += " AND prompt_name = $prompt_name"
        params["prompt_name"] = name
    sql = f"""
    SELECT prompt_name, coalesce(prompt_version, '') AS prompt_version,
           count(*) AS count,
           count(*) FILTER (WHERE status = 'error') AS errors,
           count(*) FILTER (WHERE status = 'error') / count(*)::DOUBLE AS error_rate,
           coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
           coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
           coalesce(sum(total_cost), 0) AS total_cost,
           avg(total_cost) AS avg_cost,
           avg(duration_ms) AS avg_ms,
           quantile_cont(duration_ms, 0.5) AS p50_ms,
           quantile_cont(duration_ms, 0.95) AS p95_ms,
           min(start_time) AS first_seen,
           max(start_time) AS last_seen
    FROM spans WHERE {where}
    GROUP BY ALL ORDER BY prompt_name, prompt_version LIMIT $max_groups
    """
    return sql, params


def _empty_metrics() -> dict[str, Any]:
    return {key: (0 if key in ("count", "errors", "input_tokens", "output_tokens", "total_cost") else None)
            for key in METRIC_KEYS}  # fmt: skip


def _version_key(version: str) -> tuple[int, int, str]:
    numeric = version.isascii() and version.isdigit() and len(version) <= 18  # int() refuses other digits
    return (0, int(version), "") if numeric else (1, 0, version)


def merge(seen: list[dict[str, Any]], registered: list[PromptVersion], with_template: bool) -> list[dict[str, Any]]:
    """One item per (name, version) seen in spans or registered; numeric versions sort numerically."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for row in seen:
        key = (row["prompt_name"], row["prompt_version"])
        items[key] = {"name": key[0], "version": key[1], "registered": False, **{k: row.get(k) for k in METRIC_KEYS}}
    for pv in registered:
        item = items.setdefault((pv.name, pv.version), {"name": pv.name, "version": pv.version, **_empty_metrics()})
        item["registered"] = True
        item["created_at"] = pv.created_at
        if with_template:
            item["template"] = pv.template
    return sorted(items.values(), key=lambda i: (i["name"], _version_key(i["version"])))
