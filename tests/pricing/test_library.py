"""The compiled float tables give genai-prices' prices for every model in its snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, StartDateConstraint, TieredPrices, TimeOfDateConstraint
from hypothesis import given, settings
from hypothesis import strategies as st

from lynex_box.pricing import PriceBook
from lynex_box.pricing.library import compile_model, compile_price
from lynex_box.pricing.rates import Rates
from lynex_box.pricing.schedule import compile_constraint

TOKEN_KEYS = {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"}


def all_models() -> Iterator[ModelInfo]:
    for provider in get_snapshot().providers:
        yield from provider.models


def all_prices() -> Iterator[ModelPrice]:
    for model in all_models():
        if isinstance(model.prices, ModelPrice):
            yield model.prices
        else:
            yield from (conditional.prices for conditional in model.prices)


def input_sizes(price: ModelPrice) -> list[int]:
    """Sizes on both sides of every tier threshold, plus a small call."""
    starts = {tier.start for value in vars(price).values() if isinstance(value, TieredPrices) for tier in value.tiers}
    return [1_000, *sorted(size for start in starts for size in (start, start + 1))]


def test_every_snapshot_price_compiles_to_the_same_cost_as_genai_prices() -> None:
    checked = 0
    for price in all_prices():
        tariff = compile_price(price)
        priced = {key for key, value in vars(price).items() if value is not None and not key.startswith("_")}
        if tariff is None:
            assert priced and not priced & TOKEN_KEYS
            continue
        for input_tokens in input_sizes(price):
            cached, written, output, reasoning = input_tokens // 3, input_tokens // 5, 700, 200
            usage = Usage(
                input_tokens=input_tokens,
                cache_read_tokens=cached,
                cache_write_tokens=written,
                output_tokens=output,
                output_reasoning_tokens=reasoning,
            )
            expected = price.calc_price(usage)
            cost = tariff.for_call(input_tokens, None).apply(input_tokens, output, cached, written, reasoning)
            assert cost is not None
            assert cost.input == pytest.approx(float(expected["input_price"]), rel=1e-12, abs=1e-15)
            assert cost.output == pytest.approx(float(expected["output_price"]), rel=1e-12, abs=1e-15)
            assert cost.total == pytest.approx(float(expected["total_price"]), rel=1e-12, abs=1e-15)
            checked += 1
    assert checked > 2000


def instants_around(constraint: StartDateConstraint | TimeOfDateConstraint) -> list[datetime]:
    """UTC instants just before, at and after the constraint's boundaries."""
    if isinstance(constraint, StartDateConstraint):
        midnight = datetime.combine(constraint.start_date, time(), tzinfo=UTC)
        edges = [midnight]
    else:
        day = date(2025, 6, 1)
        edges = []
        for boundary in (constraint.start_time, constraint.end_time):
            local = datetime.combine(day, boundary)
            edges.append(local.replace(tzinfo=UTC) if boundary.tzinfo is None else local.astimezone(UTC))
    step = timedelta(microseconds=1)
    return [edge + offset for edge in edges for offset in (-step, timedelta(0), step, timedelta(hours=5))]


def test_date_and_hour_dependent_prices_are_chosen_as_genai_prices_chooses_them() -> None:
    for model in all_models():
        if isinstance(model.prices, ModelPrice) or (table := compile_model(model)) is None:
            continue
        for conditional in model.prices:
            if conditional.constraint is None:
                continue
            window = compile_constraint(conditional.constraint)
            for instant in instants_around(conditional.constraint):
                at_us = (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
                assert window is not None and window.active(at_us) == conditional.constraint.active(instant)
                expected = compile_price(model.get_prices(instant))
                assert expected is not None
                assert table.for_call(1_000, at_us) == expected.for_call(1_000, None)


def test_a_schedule_without_request_time_uses_now() -> None:
    model = next(m for m in all_models() if m.id == "deepseek-chat")
    table = compile_model(model)
    assert table is not None
    assert table.for_call(1_000, None) == compile_price(model.get_prices(datetime.now(UTC)))


BOOK = PriceBook()  # module-level: hypothesis must not share a function-scoped fixture between examples
SAMPLE = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("google", "gemini-2.5-pro"),
    ("aws", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("perplexity", "sonar-deep-research"),
    ("x-ai", "grok-3"),
]


@settings(max_examples=300, deadline=None)
@given(
    sample=st.sampled_from(SAMPLE),
    parts=st.tuples(*(st.integers(0, 400_000) for _ in range(5))),
)
def test_price_book_matches_calc_price_for_any_otel_style_usage(
    sample: tuple[str, str], parts: tuple[int, int, int, int, int]
) -> None:
    plain_input, cached, written, plain_output, reasoning = parts
    provider, model = sample
    inputs, outputs = plain_input + cached + written, plain_output + reasoning
    expected = calc_price(
        Usage(
            input_tokens=inputs,
            cache_read_tokens=cached,
            cache_write_tokens=written,
            output_tokens=outputs,
            output_reasoning_tokens=reasoning,
        ),
        model,
        provider_id=provider,
    )
    cost = BOOK.cost("p", provider, model, inputs, outputs, cached, written, reasoning)
    assert cost is not None
    assert cost.input == pytest.approx(float(expected.input_price), rel=1e-12, abs=1e-15)
    assert cost.output == pytest.approx(float(expected.output_price), rel=1e-12, abs=1e-15)
    assert cost.total == pytest.approx(float(expected.total_price), rel=1e-12, abs=1e-15)


def test_flat_rates_price_each_part_of_the_usage_at_its_own_rate() -> None:
    rates = Rates(input=2.0, output=8.0, cache_read=0.5, cache_write=2.5, reasoning=10.0, request=0.01)
    cost = rates.apply(1_000_000, 1_000_000, 400_000, 100_000, 250_000)
    assert cost == pytest.approx((0.5 * 2.0 + 0.4 * 0.5 + 0.1 * 2.5, 0.75 * 8.0 + 0.25 * 10.0, 1.45 + 8.5 + 0.01))
