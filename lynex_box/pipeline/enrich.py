"""Enrichment after the acknowledgement: cost from the model's price where the sender reported none.

Reported costs are kept as reported (`cost_source = "reported"`); computed ones are marked
`"computed"`; a span with a model we cannot price gets no cost and `"none"`, never a guessed one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pipeline.decoders import Row
from lynex_box.pipeline.native_batch import present
from lynex_box.pricing import PriceBook


class CostEnricher:
    """Callable enricher: fills input/output/total cost of LLM-ish rows from a PriceBook.

    `enrich_table` does the same for a decoded Arrow table: it picks the spans to price with column
    kernels and runs Python only for those, instead of a row view per span.
    """

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

    def enrich_table(self, table: pa.Table) -> pa.Table:
        """`__call__` over a span table (no transient hints: cache-write tokens count as 0)."""
        model = pc.if_else(present(table["model"]), table["model"], table["response_model"])
        priced = pc.and_(
            pc.and_(pc.fill_null(pc.not_equal(table["cost_source"], "reported"), True), present(model)),
            pc.or_(pc.is_valid(table["input_tokens"]), pc.is_valid(table["output_tokens"])),
        )
        picked = np.flatnonzero(priced.to_numpy(zero_copy_only=False))
        if not len(picked):
            return table
        take = pa.array(picked)
        columns = {
            name: table[name].take(take).to_pylist()
            for name in ("project_id", "provider", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")
        }
        models = model.take(take).to_pylist()
        starts = table["start_time"].take(take).cast(pa.int64()).to_pylist()
        cost_of = self.book.cost
        inputs: list[float | None] = []
        outputs: list[float | None] = []
        totals: list[float | None] = []
        sources: list[str] = []
        for i, name in enumerate(models):
            cost = cost_of(
                columns["project_id"][i],
                columns["provider"][i],
                name,
                columns["input_tokens"][i],
                columns["output_tokens"][i],
                columns["cached_tokens"][i] or 0,
                0,
                columns["reasoning_tokens"][i] or 0,
                at_us=starts[i],
            )
            if cost is None:
                inputs.append(None)
                outputs.append(None)
                totals.append(None)
                sources.append("none")
            else:
                inputs.append(cost.input)
                outputs.append(cost.output)
                totals.append(cost.total)
                sources.append("computed")
        mask = priced.combine_chunks() if isinstance(priced, pa.ChunkedArray) else priced
        for name, values, kind in (
            ("input_cost", inputs, pa.float64()),
            ("output_cost", outputs, pa.float64()),
            ("total_cost", totals, pa.float64()),
            ("cost_source", sources, pa.string()),
        ):
            index = table.schema.get_field_index(name)
            column = table[name].combine_chunks()
            replaced = pc.replace_with_mask(column, mask, pa.array(values, kind))
            table = table.set_column(index, table.schema.field(index), replaced)
        return table
