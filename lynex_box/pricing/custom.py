"""Per-project custom prices: negotiated rates, fine-tunes, self-hosted models.

A `CustomPrice` names a model exactly (after `normalize_model`), optionally for one provider, and
overrides whatever genai-prices says. It must never match by prefix or pattern: a custom price for
`gpt-4o` is not a price for `gpt-4o-mini`. Prices are validated when built, so a bad value fails
at configuration time instead of on every span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lynex_box.pricing.names import normalize_model, provider_key
from lynex_box.pricing.rates import Rates, custom_rates


class InvalidCustomPrice(ValueError):
    """A custom price that cannot be used; the message names the value and what to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomPrice:
    """USD per million tokens for one model, optionally only when called through one provider.

    A cache read or write without a price of its own is priced as input.
    """

    model: str
    provider: str | None = None
    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not normalize_model(self.model):
            raise InvalidCustomPrice(
                f"custom price model {self.model!r} is empty; hint: give the model name as spans report it"
            )
        for field in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"):
            value = getattr(self, field)
            if value is None and field.startswith("cache_"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidCustomPrice(
                    f"custom price {field}={value!r} for model {self.model!r} is not a finite number >= 0; "
                    "hint: prices are USD per million tokens, e.g. 2.5"
                )

    @property
    def key(self) -> tuple[str | None, str]:
        """(provider as compared, normalised model): what a span must match."""
        return provider_key(self.provider), normalize_model(self.model)

    def rates(self) -> Rates:
        return custom_rates(
            self.input_per_mtok, self.output_per_mtok, self.cache_read_per_mtok, self.cache_write_per_mtok
        )


def index_custom_prices(prices: Sequence[CustomPrice]) -> dict[tuple[str | None, str], Rates]:
    """Rates by (provider or None, normalised model); two prices for the same key are an error."""
    index: dict[tuple[str | None, str], Rates] = {}
    for price in prices:
        if price.key in index:
            provider = "any provider" if price.key[0] is None else f"provider {price.key[0]!r}"
            raise InvalidCustomPrice(
                f"two custom prices for model {price.key[1]!r} and {provider}; hint: keep one of them"
            )
        index[price.key] = price.rates()
    return index


def find_custom(index: dict[tuple[str | None, str], Rates], provider: str | None, model: str) -> Rates | None:
    """The provider-specific custom price, else the provider-less one, else None."""
    normalized = normalize_model(model)
    specific = provider_key(provider)
    if specific is not None and (rates := index.get((specific, normalized))) is not None:
        return rates
    return index.get((None, normalized))
