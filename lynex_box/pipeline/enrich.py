"""Enrichment after the acknowledgement: cost from the model's price where the sender reported none.

Reported costs are kept as reported (`cost_source = "reported"`); computed ones are marked
`"computed"`; a span with a model we cannot price gets no cost and `"none"`, never a guessed one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pipeline.decoders import Row
from lynex_box.pipeline.native_batch import present
from lynex_box.pricing import PriceBook
from lynex_box.pricing.library import PriceTable
from lynex_box.pricing.rates import PER_MTOK, Rates


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
        keys = [table["project_id"].take(take), table["provider"].take(take), model.take(take)]
        groups, members = _groups(keys)
        inputs, outputs, cached, reasoning = (
            table[name].take(take).fill_null(0).to_numpy().astype(np.int64)
            for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")
        )
        costs = np.full((3, len(picked)), np.nan)
        starts: list[int] | None = None
        for (project, provider, name), rows in zip(groups, members, strict=True):
            found = self.book.table_for(project, provider, name)
            if found is None:
                continue
            if isinstance(found, Rates):
                costs[:, rows] = _flat_costs(found, inputs[rows], outputs[rows], cached[rows], reasoning[rows])
                continue
            if starts is None:
                starts = table["start_time"].take(take).cast(pa.int64()).to_pylist()
            for row in rows.tolist():
                counts = int(inputs[row]), int(outputs[row]), int(cached[row]), int(reasoning[row])
                cost = _call_cost(found, *counts, starts[row])
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


def _groups(keys: list[pa.Array | pa.ChunkedArray]) -> tuple[list[tuple[Any, ...]], list[np.ndarray]]:
    """The distinct rows of the key columns (nulls included) and, for each, the row positions that hold it."""
    codes = np.zeros(len(keys[0]), np.int64)
    dictionaries = []
    positions = []
    for column in keys:
        encoded = (column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column).dictionary_encode()
        size = len(encoded.dictionary)
        index = encoded.indices.fill_null(size).to_numpy().astype(np.int64)  # a null is one more value
        codes = codes * (size + 1) + index
        dictionaries.append([*encoded.dictionary.to_pylist(), None])
        positions.append(index)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(first)))[:-1]
    members = np.split(order, bounds)
    groups = [tuple(values[index[at]] for values, index in zip(dictionaries, positions, strict=True)) for at in first]
    return groups, members


def _flat_costs(
    rates: Rates, inputs: np.ndarray, outputs: np.ndarray, cached: np.ndarray, reasoning: np.ndarray
) -> np.ndarray:
    """`PriceBook.cost` with flat `rates` for each row, as (input, output, total) rows, NaN where it gives None:
    a negative count, or cached (reasoning) tokens above the input (output) tokens."""
    plain_input = inputs - cached
    plain_output = outputs - reasoning
    valid = (inputs >= 0) & (outputs >= 0) & (cached >= 0) & (reasoning >= 0) & (plain_input >= 0)
    valid &= plain_output >= 0
    # The operations and their order are those of Rates.apply (cache writes count 0 here), so the floats match.
    input_cost = (plain_input * rates.input + cached * rates.cache_read + 0 * rates.cache_write) / PER_MTOK
    output_cost = (plain_output * rates.output + reasoning * rates.reasoning) / PER_MTOK
    total = input_cost + output_cost + rates.request
    return np.where(valid, np.stack([input_cost, output_cost, total]), np.nan)


def _call_cost(
    found: PriceTable, inputs: int, outputs: int, cached: int, reasoning: int, at_us: int
) -> tuple[float, float, float] | None:
    """`PriceBook.cost` of one call with a price table that depends on the call (tiers, schedules)."""
    if not (inputs >= 0 and outputs >= 0 and cached >= 0 and reasoning >= 0):
        return None
    cost = found.for_call(inputs, at_us).apply(inputs, outputs, cached, 0, reasoning)
    return None if cost is None else (cost.input, cost.output, cost.total)
