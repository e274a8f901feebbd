"""Enrichment after the acknowledgement: cost from the model's price where the sender reported none.

The rule itself (reported costs kept, `"computed"` ones from the price book, `"none"` for a model we cannot
price, never a guessed cost) is pricing/spans.py's, shared with repricing; this is the pipeline's adapter.
"""

from __future__ import annotations

import pyarrow as pa

from lynex_box.pipeline.decode.types import Row
from lynex_box.pricing import PriceBook
from lynex_box.pricing.spans import price_rows, price_table


class CostEnricher:
    """Callable enricher: fills input/output/total cost of LLM-ish rows from a PriceBook.

    `enrich_table` does the same for a decoded Arrow table: it picks the spans to price with column
    kernels and runs Python only for those, instead of a row view per span.
    """

    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def __call__(self, rows: list[Row]) -> None:
        price_rows(rows, self.book)

    def enrich_table(self, table: pa.Table) -> pa.Table:
        """`__call__` over a span table (no transient hints: cache-write tokens count as 0)."""
        return price_table(table, self.book)
