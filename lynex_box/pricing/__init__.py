"""USD cost of LLM calls, computed at ingest from provider, model and token counts.

Prices come from genai-prices' bundled snapshot, overridden per project by `CustomPrice`s. The
package is pure: it must never do I/O (no price downloads; refreshing the snapshot is the app's
choice) and never return a cost for a model it does not know.

    book = PriceBook({"proj-1": [CustomPrice(model="my-llama", input_per_mtok=0.2, output_per_mtok=0.4)]})
    book.cost("proj-1", "openai", "gpt-4o", input_tokens=1000, output_tokens=200, cached_tokens=600)
    # Cost(input=0.00175, output=0.002, total=0.00375)
"""

from lynex_box.pricing.book import CostColumns, PriceBook
from lynex_box.pricing.custom import CustomPrice, InvalidCustomPrice
from lynex_box.pricing.names import normalize_model, normalize_provider
from lynex_box.pricing.rates import Cost

__all__ = [
    "Cost",
    "CostColumns",
    "CustomPrice",
    "InvalidCustomPrice",
    "PriceBook",
    "normalize_model",
    "normalize_provider",
]
