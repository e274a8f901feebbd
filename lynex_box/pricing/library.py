"""The adapter to genai-prices: find a model in its snapshot and compile its prices to float tables.

A model is looked up once, its `ModelPrice` objects are turned into `Rates` (and `TieredRates` /
`Schedule` where prices depend on input volume or on the date), and the result is applied to any
number of spans without calling `calc_price` (about 100 µs a call) again.

It must never guess: an unknown provider or model, or a model priced only per audio hour or
search, gives None rather than a cost. It must never use `DataSnapshot.find_provider_model`, whose
caches keep every model name ever asked for; the cache that bounds memory is `PriceBook`'s.
"""

from __future__ import annotations

from decimal import Decimal

from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

from lynex_box.pricing.rates import Rates, TieredRates
from lynex_box.pricing.schedule import Schedule, Tariff, compile_constraint

_TOKEN_PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")

PriceTable = Rates | TieredRates | Schedule


def find_model(provider_id: str | None, model_ref: str) -> tuple[Provider, ModelInfo] | None:
    """The provider and model genai-prices matches, inferring the provider from the name if none is given.

    Same matching as `calc_price` (provider id or fuzzy provider match, then the provider's models
    and its fallback providers), minus the snapshot's unbounded caches.
    """
    providers = get_snapshot().providers
    provider: Provider | None
    if provider_id is not None:
        provider = find_provider_by_id(providers, provider_id)
    else:
        provider = next((p for p in providers if p.model_match is not None and p.model_match.is_match(model_ref)), None)
    if provider is None:
        return None
    model = provider.find_model(model_ref, all_providers=providers)
    return None if model is None else (provider, model)


def compile_model(model: ModelInfo) -> PriceTable | None:
    """Float tables for every price of `model`; None if any of them cannot price tokens."""
    if isinstance(model.prices, ModelPrice):
        return compile_price(model.prices)
    if not model.prices:
        return None
    default = compile_price(model.prices[0].prices)
    conditional = []
    for conditional_price in reversed(model.prices):
        tariff = compile_price(conditional_price.prices)
        if tariff is None:
            return None
        conditional.append((compile_constraint(conditional_price.constraint), tariff))
    if default is None:
        return None
    if conditional[0][0] is None:  # an unconstrained last price always wins
        return conditional[0][1]
    return Schedule(default, tuple(conditional))


def compile_price(price: ModelPrice) -> Tariff | None:
    """`Rates`, or `TieredRates` when any price has volume tiers; None if no price is per token.

    A price with no entries at all is a free model (OpenRouter's `:free`) and compiles to zeros.
    """
    values = {key: value for key, value in vars(price).items() if not key.startswith("_") and value is not None}
    if values and not any(key in values for key in _TOKEN_PRICE_KEYS):
        return None  # priced per audio hour, message or search only: tokens say nothing
    starts = sorted(
        {tier.start for value in values.values() if isinstance(value, TieredPrices) for tier in value.tiers}
    )
    base = _flat_rates(price, threshold=None)
    if not starts:
        return base
    tiers = tuple((start, _flat_rates(price, threshold=start)) for start in reversed(starts))
    return TieredRates(base, tiers)


def _flat_rates(price: ModelPrice, threshold: int | None) -> Rates:
    """Rates for calls whose total input tokens lie just above `threshold` (None: below every tier)."""

    def mtok(key: str, fallback: float = 0.0) -> float:
        value = getattr(price, key)
        if value is None:
            return fallback
        return float(_at_threshold(value, threshold))

    # A usage kind without a price of its own is priced as its parent, as genai-prices does.
    input_rate = mtok("input_mtok")
    output_rate = mtok("output_mtok")
    return Rates(
        input=input_rate,
        output=output_rate,
        cache_read=mtok("cache_read_mtok", input_rate),
        cache_write=mtok("cache_write_mtok", input_rate),
        reasoning=mtok("output_reasoning_mtok", output_rate),
        request=mtok("requests_kcount") / 1000,
    )


def _at_threshold(value: Decimal | TieredPrices, threshold: int | None) -> Decimal:
    if not isinstance(value, TieredPrices):
        return value
    applicable = value.base
    if threshold is not None:
        for tier in value.tiers:  # sorted by start
            if tier.start <= threshold:
                applicable = tier.price
    return applicable
