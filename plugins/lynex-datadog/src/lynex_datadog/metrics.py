"""Spans to Datadog metric series: per project, model and service, what a flush interval saw.

`partials(project_id, spans)` reduces one `spans_stored` table to one `Partial` per (project, model, service):
counts, sums and the durations (for the percentiles), computed with Arrow so the plugin's hook stays cheap.
`series(partials, ...)` merges the partials of a flush interval and builds the body of Datadog's metrics API v2
(`POST /api/v2/series`): counts as `type: 1` (count) with the interval, latencies as gauges (`type: 3`).
Pure code: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

COUNT, GAUGE = 1, 3  # Datadog's MetricIntakeType
NONE = "none"  # the tag value of a span without model or service
_SERVICE = r'"service\.name":"(?P<service>(?:[^"\\]|\\.)*)"'  # in the stored attributes (orjson, sorted keys)
_LLM_KINDS = ("llm", "chat")
# metric suffix -> Partial field, the counts and sums
SUMS: tuple[tuple[str, str], ...] = (
    ("spans", "spans"),
    ("llm_calls", "llm_calls"),
    ("errors", "errors"),
    ("tokens.input", "input_tokens"),
    ("tokens.output", "output_tokens"),
    ("tokens.total", "total_tokens"),
    ("cost.usd", "cost"),
)
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p95", 0.95), ("max", 1.0))

Key = tuple[str, str, str]  # (project_id, model, service)


@dataclass(slots=True)
class Partial:
    key: Key
    spans: int = 0
    llm_calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    durations: list[float] = field(default_factory=list)

    def merge(self, other: Partial) -> None:
        for _, name in SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.durations.extend(other.durations)

    def size(self) -> int:
        return 100 + 8 * len(self.durations)


def partials(project_id: str, spans: pa.Table) -> list[Partial]:
    """One Partial per (model, service) of a project's spans."""
    n = spans.num_rows
    if n == 0:
        return []
    service = pc.struct_field(pc.extract_regex(spans.column("attributes"), _SERVICE), "service")
    table = pa.table({
        "model": pc.fill_null(spans.column("model"), NONE),
        "service": pc.fill_null(service, NONE),
        "llm": pc.cast(pc.is_in(spans.column("kind"), pa.array(_LLM_KINDS)), pa.int64()),
        "error": pc.cast(pc.fill_null(pc.equal(spans.column("status"), "error"), False), pa.int64()),
        "input_tokens": spans.column("input_tokens"),
        "output_tokens": spans.column("output_tokens"),
        "total_tokens": spans.column("total_tokens"),
        "cost": spans.column("total_cost"),
        "duration": spans.column("duration_ms"),
    })  # fmt: skip
    grouped = table.group_by(["model", "service"]).aggregate([
        ("model", "count"), ("llm", "sum"), ("error", "sum"), ("input_tokens", "sum"), ("output_tokens", "sum"),
        ("total_tokens", "sum"), ("cost", "sum"), ("duration", "list"),
    ])  # fmt: skip
    out = []
    for row in grouped.to_pylist():
        out.append(Partial(
            key=(project_id, row["model"], row["service"]), spans=row["model_count"], llm_calls=row["llm_sum"] or 0,
            errors=row["error_sum"] or 0, input_tokens=row["input_tokens_sum"] or 0,
            output_tokens=row["output_tokens_sum"] or 0, total_tokens=row["total_tokens_sum"] or 0,
            cost=row["cost_sum"] or 0.0, durations=[d for d in row["duration_list"] if d is not None],
        ))  # fmt: skip
    return out


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted `values`."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def series(items: Iterable[Partial], prefix: str, timestamp: int, interval_s: int, tags: list[str]) -> dict[str, Any]:
    """The `/api/v2/series` body for the partials of one flush interval."""
    merged: dict[Key, Partial] = {}
    for item in items:
        if item.key in merged:
            merged[item.key].merge(item)
        else:
            merged[item.key] = Partial(item.key)
            merged[item.key].merge(item)
    out: list[dict[str, Any]] = []
    for (project_id, model, service), p in sorted(merged.items()):
        labels = [f"project:{project_id}", f"model:{model}", f"service:{service}", *tags]
        for suffix, name in SUMS:
            out.append({"metric": f"{prefix}.{suffix}", "type": COUNT, "interval": interval_s, "tags": labels,
                        "points": [{"timestamp": timestamp, "value": getattr(p, name)}]})  # fmt: skip
        if p.durations:
            durations = sorted(p.durations)
            for suffix, q in PERCENTILES:
                out.append({"metric": f"{prefix}.latency_ms.{suffix}", "type": GAUGE, "tags": labels,
                            "unit": "millisecond",
                            "points": [{"timestamp": timestamp, "value": percentile(durations, q)}]})  # fmt: skip
    return {"series": out}
