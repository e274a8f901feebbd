"""The cost rule for spans, in one place: which spans get a computed cost, and which cost.

A span whose `cost_source` is `"reported"` keeps the cost its sender reported. Any other span with a model (its
`model`, else its `response_model`) and at least one token count gets the cost the `PriceBook` computes
(`"computed"`), or no cost and `"none"` when that model cannot be priced: never a guessed one. Spans without a
model or token counts are left alone. The ingest pipeline applies it (pipeline/enrich.py), to rows or to a
decoded table, and so does repricing stored spans (lifecycle/reprice.py) with a mask of the spans in its time
range. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pricing.book import PriceBook
from lynex_box.pricing.rates import Rates

COST_COLUMNS = ("input_cost", "output_cost", "total_cost", "cost_source")


def price_rows(rows: Sequence[MutableMapping[str, Any]], book: PriceBook) -> None:
    """Apply the rule to span rows in place. A row may carry the decoder's transient `_cache_write_tokens`,
    which prices its cache writes exactly; a row that cannot be priced gets `"none"` and keeps its (empty) cost."""
    cost_of = book.cost
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


def price_table(table: pa.Table, book: PriceBook, *, mask: pa.Array | pa.ChunkedArray | None = None) -> pa.Table:
    """`price_rows` over a span table (no transient hints: cache-write tokens count as 0); a priced span that
    cannot be priced gets no cost and `"none"`. With `mask`, only rows where it is true may change.

    The spans to price are picked with column kernels and grouped by (project, provider, model); each group's price
    table is looked up once, and a flat `Rates` table (the usual case) prices its whole group with array arithmetic
    in the same order of operations as `Rates.apply`, so the costs are the same floats as `PriceBook.cost` gives.
    Tiered and scheduled prices, which depend on each call, are applied span by span."""
    model = pc.if_else(_present(table["model"]), table["model"], table["response_model"])
    priced = pc.and_(
        pc.and_(pc.fill_null(pc.not_equal(table["cost_source"], "reported"), True), _present(model)),
        pc.or_(pc.is_valid(table["input_tokens"]), pc.is_valid(table["output_tokens"])),
    )
    if mask is not None:
        priced = pc.and_(priced, pc.fill_null(mask, False))
    picked = np.flatnonzero(priced.to_numpy(zero_copy_only=False))
    if not len(picked):
        return table
    take = pa.array(picked)
    costs = _costs(table, book, take, model.take(take))
    computed = ~np.isnan(costs[2])
    values = [pa.array(costs[i], pa.float64(), mask=~computed) for i in range(3)]
    values.append(pa.array(np.where(computed, "computed", "none").tolist(), pa.string()))
    chosen = priced.combine_chunks() if isinstance(priced, pa.ChunkedArray) else priced
    for name, replacement in zip(COST_COLUMNS, values, strict=True):
        index = table.schema.get_field_index(name)
        replaced = pc.replace_with_mask(table[name].combine_chunks(), chosen, replacement)
        table = table.set_column(index, table.schema.field(index), replaced)
    return table


def _costs(table: pa.Table, book: PriceBook, take: pa.Array, models: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(input, output, total) costs of the rows `take` picks, as a 3×n array: NaN where a row cannot be priced."""
    keys = {"project": table["project_id"].take(take), "provider": table["provider"].take(take), "model": models}
    rows_of = pa.table({**keys, "row": pa.array(np.arange(len(take)))})
    groups = rows_of.group_by(list(keys), use_threads=False).aggregate([("row", "list")])  # nulls group too
    inputs, outputs, cached, reasoning = (
        table[name].take(take).fill_null(0).to_numpy().astype(np.int64)
        for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")
    )
    costs = np.full((3, len(take)), np.nan)
    starts: list[int] | None = None
    columns = (groups[name].to_pylist() for name in ("project", "provider", "model", "row_list"))
    for project, provider, name, members in zip(*columns, strict=True):
        found = book.table_for(project, provider, name)
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
            cost = book.cost(project, provider, name, *counts, at_us=starts[row])
            if cost is not None:
                costs[:, row] = cost
    return costs


def _present(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a text is neither null nor empty (the rule's `model or response_model`)."""
    return pc.and_kleene(pc.is_valid(values), pc.not_equal(values, ""))
