"""Price tables in plain floats and the arithmetic that turns token counts into a `Cost`.

This is the per-span hot path: a resolved table is applied to a span's counts with a handful of
float operations (or to many spans' counts with the same operations on arrays, `Rates.apply_many`).
It must never look anything up or import genai-prices; where a table came from (library or custom
price) is not its concern.

Token counts follow OTel: `input_tokens` includes cache reads and cache writes, `output_tokens`
includes reasoning tokens. Each part is priced at its own rate, so that cache reads cost the
cache-read price and only the remaining input costs the input price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

_PER_MTOK = 1_000_000


class Cost(NamedTuple):
    """USD cost of one call. `total` can exceed `input + output` by a per-request fee."""

    input: float
    output: float
    total: float


@dataclass(frozen=True, slots=True)
class Rates:
    """Flat USD prices per million tokens, plus a fee per request (counted in `total` only)."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float
    request: float = 0.0

    def for_call(self, input_tokens: int, at_us: int | None) -> Rates:
        return self

    def apply(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int,
        cache_write_tokens: int,
        reasoning: int,
    ) -> Cost | None:
        """The cost of these counts, or None when they contradict each other.

        Cache reads and writes above `input_tokens` (or reasoning above `output_tokens`) mean the
        counts were not reported the OTel way, and any price computed from them would be wrong.
        """
        plain_input = input_tokens - cached_tokens - cache_write_tokens
        plain_output = output_tokens - reasoning
        if plain_input < 0 or plain_output < 0:
            return None
        input_cost = (
            plain_input * self.input + cached_tokens * self.cache_read + cache_write_tokens * self.cache_write
        ) / _PER_MTOK
        output_cost = (plain_output * self.output + reasoning * self.reasoning) / _PER_MTOK
        return Cost(input_cost, output_cost, input_cost + output_cost + self.request)

    def apply_many(
        self, input_tokens: np.ndarray, output_tokens: np.ndarray, cached_tokens: np.ndarray, reasoning: np.ndarray
    ) -> np.ndarray:
        """`apply` for many calls without cache writes, as (input, output, total) rows: NaN where `apply` gives
        None, and where a count is negative (as `PriceBook.cost` does). The operations and their order are those of
        `apply`, so each cost is the same float."""
        plain_input = input_tokens - cached_tokens
        plain_output = output_tokens - reasoning
        valid = (input_tokens >= 0) & (output_tokens >= 0) & (cached_tokens >= 0) & (reasoning >= 0)
        valid &= (plain_input >= 0) & (plain_output >= 0)
        input_cost = (plain_input * self.input + cached_tokens * self.cache_read + 0 * self.cache_write) / _PER_MTOK
        output_cost = (plain_output * self.output + reasoning * self.reasoning) / _PER_MTOK
        total = input_cost + output_cost + self.request
        return np.where(valid, np.stack([input_cost, output_cost, total]), np.nan)


@dataclass(frozen=True, slots=True)
class TieredRates:
    """Rates that change once a call's total input tokens exceed a threshold (the "cliff" model).

    Above a threshold every token of the call is priced at that tier, as genai-prices does.
    """

    base: Rates
    tiers: tuple[tuple[int, Rates], ...]  # (start, rates), highest start first

    def for_call(self, input_tokens: int, at_us: int | None) -> Rates:
        for start, rates in self.tiers:
            if input_tokens > start:
                return rates
        return self.base


def custom_rates(
    input_per_mtok: float,
    output_per_mtok: float,
    cache_read_per_mtok: float | None,
    cache_write_per_mtok: float | None,
) -> Rates:
    """Rates for a user-given price; cache reads and writes without a price of their own cost input."""
    return Rates(
        input=float(input_per_mtok),
        output=float(output_per_mtok),
        cache_read=float(input_per_mtok if cache_read_per_mtok is None else cache_read_per_mtok),
        cache_write=float(input_per_mtok if cache_write_per_mtok is None else cache_write_per_mtok),
        reasoning=float(output_per_mtok),
    )
