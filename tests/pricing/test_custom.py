"""Per-project custom prices override genai-prices and price models it does not know."""

from __future__ import annotations

import pytest

from lynex_box.pricing import Cost, CustomPrice, InvalidCustomPrice, PriceBook


def test_custom_price_overrides_the_library_for_its_project_only() -> None:
    book = PriceBook({"acme": [CustomPrice(model="gpt-4o", input_per_mtok=1.0, output_per_mtok=4.0)]})
    assert book.cost("acme", "openai", "gpt-4o", 1_000_000, 500_000) == Cost(1.0, 2.0, 3.0)
    other = book.cost("other", "openai", "gpt-4o", 1_000_000, 500_000)
    assert other is not None and other.input == pytest.approx(2.5)


def test_custom_price_for_a_model_genai_prices_does_not_know() -> None:
    book = PriceBook({"acme": [CustomPrice(model="my-finetuned-llama", input_per_mtok=0.2, output_per_mtok=0.4)]})
    assert book.cost("acme", "vllm", "my-finetuned-llama", 2_000_000, 1_000_000) == Cost(0.4, 0.4, 0.8)
    assert book.cost("acme", None, "My-Finetuned-Llama", 2_000_000, 1_000_000) == Cost(0.4, 0.4, 0.8)
    assert book.cost("other", "vllm", "my-finetuned-llama", 2_000_000, 1_000_000) is None


def test_custom_price_matches_the_normalised_name_exactly_not_by_prefix() -> None:
    book = PriceBook({"acme": [CustomPrice(model="OpenAI/GPT-4o", input_per_mtok=1.0, output_per_mtok=1.0)]})
    assert book.cost("acme", "openai", "openai/gpt-4o", 1_000_000, 0) == Cost(1.0, 0.0, 1.0)
    mini = book.cost("acme", "openai", "gpt-4o-mini", 1_000_000, 0)
    assert mini is not None and mini.input == pytest.approx(0.15)  # the library's, not the custom one


def test_provider_specific_custom_price_wins_over_a_provider_less_one() -> None:
    book = PriceBook(
        {
            "acme": [
                CustomPrice(model="gpt-4o", input_per_mtok=1.0, output_per_mtok=1.0),
                CustomPrice(model="gpt-4o", provider="azure", input_per_mtok=2.0, output_per_mtok=2.0),
            ]
        }
    )
    assert book.cost("acme", "az.ai.openai", "gpt-4o", 1_000_000, 0) == Cost(2.0, 0.0, 2.0)
    assert book.cost("acme", "openai", "gpt-4o", 1_000_000, 0) == Cost(1.0, 0.0, 1.0)


def test_custom_price_for_an_unknown_provider_matches_that_provider_name() -> None:
    book = PriceBook({"acme": [CustomPrice(model="llama3", provider="Ollama", input_per_mtok=0, output_per_mtok=0)]})
    assert book.cost("acme", "ollama", "llama3", 1000, 10) == Cost(0.0, 0.0, 0.0)
    assert book.cost("acme", "vllm", "llama3", 1000, 10) is None


def test_custom_cache_prices_apply_to_cached_part_of_input() -> None:
    price = CustomPrice(
        model="m", input_per_mtok=2.0, output_per_mtok=8.0, cache_read_per_mtok=0.5, cache_write_per_mtok=2.5
    )
    cost = PriceBook({"acme": [price]}).cost("acme", None, "m", 1_000_000, 0, 400_000, 100_000)
    assert cost == pytest.approx(Cost(0.5 * 2.0 + 0.4 * 0.5 + 0.1 * 2.5, 0.0, 1.45))


def test_custom_price_without_cache_prices_charges_cached_tokens_as_input() -> None:
    book = PriceBook({"acme": [CustomPrice(model="m", input_per_mtok=2.0, output_per_mtok=8.0)]})
    assert book.cost("acme", None, "m", 1_000_000, 1_000_000, 600_000) == Cost(2.0, 8.0, 10.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "", "input_per_mtok": 1, "output_per_mtok": 1},
        {"model": "m", "input_per_mtok": -1, "output_per_mtok": 1},
        {"model": "m", "input_per_mtok": 1, "output_per_mtok": float("inf")},
        {"model": "m", "input_per_mtok": 1, "output_per_mtok": 1, "cache_read_per_mtok": float("nan")},
        {"model": "m", "input_per_mtok": True, "output_per_mtok": 1},
        {"model": "m", "input_per_mtok": "1", "output_per_mtok": 1},
    ],
)
def test_invalid_custom_prices_are_rejected_when_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidCustomPrice, match="hint"):
        CustomPrice(**kwargs)  # type: ignore[arg-type]


def test_two_custom_prices_for_the_same_model_and_provider_are_rejected() -> None:
    prices = [
        CustomPrice(model="gpt-4o", provider="xai", input_per_mtok=1, output_per_mtok=1),
        CustomPrice(model="openai/GPT-4o", provider="x_ai", input_per_mtok=2, output_per_mtok=2),
    ]
    with pytest.raises(InvalidCustomPrice, match="two custom prices"):
        PriceBook({"acme": prices})
