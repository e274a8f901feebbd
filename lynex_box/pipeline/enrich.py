"""Enrichment after the acknowledgement: cost from the model's price where the sender reported none.

Reported costs are kept as reported (`cost_source = "reported"`); computed ones are marked
`"computed"`; a span with a model we cannot price gets no cost and `"none"`, never a guessed one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pipeline.decode.types import Row
from lynex_box.pricing import PriceBook
from lynex_box.pricing.rates import Rates
from lynex_box.schema.kernels import present


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
        """`__call__` over a span table (no transient hints: cache-write tokens count as 0).

        The spans to price are grouped by (project, provider, model); each group's price table is looked up once,
        and a flat `Rates` table (the usual case) prices its whole group with array arithmetic in the same order
        of operations as `Rates.apply`, so the costs are the same floats. Tiered and scheduled prices, which
        depend on each call, are applied span by span."""
        model = pc.if_else(present(table["model"]), table["model"], table["response_model"])
        priced = pc.and_(
            pc.and_(pc.fill_null(pc.not_equal(table["cost_source"], "reported"), True), present(model)),
            pc.or_(pc.is_valid(table["input_tokens"]), pc.is_valid(table["output_tokens"])),
        )
        picked = np.flatnonzero(priced.to_numpy(zero_copy_only=False))
        if not len(picked):
            return table
        take = pa.array(picked)
        keys = {"project": table["project_id"].take(take), "provider": table["provider"].take(take)}
        keys["model"] = model.take(take)
        rows_of = pa.table({**keys, "row": pa.array(np.arange(len(picked)))})
        groups = rows_of.group_by(list(keys), use_threads=False).aggregate([("row", "list")])  # nulls group too
        inputs, outputs, cached, reasoning = (
            table[name].take(take).fill_null(0).to_numpy().astype(np.int64)
            for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")
        )
        costs = np.full((3, len(picked)), np.nan)
        starts: list[int] | None = None
        columns = (groups[name].to_pylist() for name in ("project", "provider", "model", "row_list"))
        for project, provider, name, members in zip(*columns, strict=True):
            found = self.book.table_for(project, provider, name)
            if found is None:
                continue
            rows = np.array(members, np.int64)
            if isinstance(found, Rates):
                costs[:, rows] = found.apply_many(inputs[rows], outputs[rows], cached[rows], reasoning[rows])
                continue
            if starts is None:  # tiered and scheduled prices depend on each call
                starts = table["start_time"].take(take).cast(pa.int64()).to_pylist()
            for row in members:
                counts = int(inputs[row]), int(outputs[row]), int(cached[row]), 0, int(reasoning[row])
                cost = self.book.cost(project, provider, name, *counts, at_us=starts[row])
                if cost is not None:
                    costs[:, row] = cost
        computed = ~np.isnan(costs[2])
        values = [pa.array(costs[i], pa.float64(), mask=~computed) for i in range(3)]
        values.append(pa.array(np.where(computed, "computed", "none").tolist(), pa.string()))
        mask = priced.combine_chunks() if isinstance(priced, pa.ChunkedArray) else priced
        for name, replacement in zip(("input_cost", "output_cost", "total_cost", "cost_source"), values, strict=True):
            index = table.schema.get_field_index(name)
            column = table[name].combine_chunks()
            replaced = pc.replace_with_mask(column, mask, replacement)
            table = table.set_column(index, table.schema.field(index), replaced)
        return table
