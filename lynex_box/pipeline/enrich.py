"""Enrichment after the acknowledgement: cost from the model's price where the sender reported none.

Reported costs are kept as reported (`cost_source = "reported"`); computed ones are marked
`"computed"`; a span with a model we cannot price gets no cost and `"none"`, never a guessed one.
"""

from __future__ import annotations

from lynex_box.pipeline.decoders import Row
from lynex_box.pricing import PriceBook


class CostEnricher:
    """Callable enricher: fills input/output/total cost of LLM-ish rows from a PriceBook."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def __call__(self, rows: list[Row]) -> None:
        cost_of = self.book.cost
        for row in rows:
            if row.get("cost_source") == "reported":
                continue
            model = row.get("model") or row.get("response_model")
            if not model or (row.get("input_tokens") is None and row.get("output_tokens") is None):
                continue
            cost = cost_of(
                row["project_id"],
                row.get("provider"),
                model,
                row.get("input_tokens"),
                row.get("output_tokens"),
                row.get("cached_tokens") or 0,
                row.get("_cache_write_tokens") or 0,
                row.get("reasoning_tokens") or 0,
                at_us=row.get("start_time"),
            )
            if cost is None:
                row["cost_source"] = "none"
                continue
            row["input_cost"], row["output_cost"], row["total_cost"] = cost.input, cost.output, cost.total
            row["cost_source"] = "computed"
