"""PriceBook.cost against genai-prices' own calc_price, and the cases where it must give None."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price

from lynex_box.pricing import Cost, CustomPrice, PriceBook


def reference(
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cached: int = 0,
    written: int = 0,
    reasoning: int = 0,
    at: datetime | None = None,
) -> Cost:
    """The cost as genai-prices' calc_price computes it, in floats."""
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_reasoning_tokens=reasoning,
    )
    result = calc_price(usage, model, provider_id=provider, genai_request_timestamp=at)
    return Cost(float(result.input_price), float(result.output_price), float(result.total_price))


def assert_cost(actual: Cost | None, expected: Cost) -> None:
    assert actual is not None
    assert actual == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_gpt_4o_with_cache_reads_matches_calc_price() -> None:
    cost = PriceBook().cost("p", "openai", "gpt-4o", input_tokens=1000, output_tokens=200, cached_tokens=600)
    assert_cost(cost, Cost(0.00175, 0.002, 0.00375))
    assert_cost(cost, reference("gpt-4o", "openai", 1000, 200, cached=600))


@pytest.mark.parametrize(
    ("provider", "model", "ref_provider", "ref_model"),
    [
        ("anthropic", "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet-20241022"),
        ("anthropic", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        (
            "aws.bedrock",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "aws",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        (
            "aws.bedrock",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "aws",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        ),
        (None, "anthropic.claude-3-haiku-20240307-v1:0", "aws", "anthropic.claude-3-haiku-20240307-v1:0"),
        (None, "bedrock/anthropic.claude-3-haiku-20240307-v1:0", "aws", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("x_ai", "grok-3", "x-ai", "grok-3"),
        ("azure.ai.openai", "gpt-4o", "azure", "gpt-4o"),
        ("az.ai.openai", "gpt-4o-mini", "azure", "gpt-4o-mini"),
        ("gcp.vertex_ai", "gemini-1.5-pro", "google", "gemini-1.5-pro"),
        ("gcp.vertex_ai", "claude-3-5-sonnet-v2@20241022", "google", "claude-3-5-sonnet-v2@20241022"),
        ("gcp.gen_ai", "gemini-2.0-flash", "google", "gemini-2.0-flash"),
        ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large-latest"),
        ("moonshot_ai", "kimi-k2", "moonshotai", "kimi-k2"),
        ("openai", "openai/gpt-4o", "openai", "gpt-4o"),
        (None, "openai/gpt-4o", "openai", "gpt-4o"),
        ("google", "models/gemini-1.5-pro", "google", "gemini-1.5-pro"),
        ("openrouter", "anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
        (None, "openrouter/anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
        (None, "claude-3-5-sonnet-20241022", None, "claude-3-5-sonnet-20241022"),  # provider inferred
        (None, "gemini-1.5-pro", None, "gemini-1.5-pro"),
    ],
)
def test_names_and_aliases_price_like_calc_price(
    provider: str | None, model: str, ref_provider: str | None, ref_model: str
) -> None:
    cost = PriceBook().cost("p", provider, model, 12_000, 800, cached_tokens=3_000, cache_write_tokens=1_000)
    assert_cost(cost, reference(ref_model, ref_provider, 12_000, 800, cached=3_000, written=1_000))


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),  # genai-prices matches this one itself
        ("gpt-4o-2099-01-01", "gpt-4o"),  # unknown snapshot: falls back to the undated alias
        ("gpt-4o-mini-2099-01-01", "gpt-4o-mini"),  # …of the same model, never a sibling
        ("gpt-5.2-2099-01-01", "gpt-5.2"),
        ("openai/gpt-4o-2099-01-01", "gpt-4o"),
    ],
)
def test_dated_variants_fall_back_to_their_own_base_model(model: str, base: str) -> None:
    cost = PriceBook().cost("p", "openai", model, 1000, 200)
    assert_cost(cost, reference(base, "openai", 1000, 200))


def test_a_dated_variant_genai_prices_knows_keeps_its_own_price() -> None:
    cost = PriceBook().cost("p", "openai", "gpt-4o-2024-05-13", 1000, 200)
    assert_cost(cost, reference("gpt-4o-2024-05-13", "openai", 1000, 200))
    assert cost != PriceBook().cost("p", "openai", "gpt-4o", 1000, 200)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "no-such-model"),
        (None, "no-such-model"),
        ("openai", "claude-3-5-sonnet"),  # a real model, but not sold by this provider
        ("ollama", "gpt-oss:20b"),  # unknown provider: never inferred from the model name
        ("vllm", "gpt-4o"),
        ("mistral", "mistral-small-2503"),  # YYMM versions are different models: no guess
        ("aws", "anthropic.claude-v2:1"),  # not in Bedrock's list: not priced as Anthropic's
        ("x-ai", "grok-voice-latest"),  # priced per audio hour only: tokens cannot price it
        ("openai", ""),
        ("openai", None),
    ],
)
def test_unknown_or_unpriceable_models_cost_none(provider: str | None, model: str | None) -> None:
    assert PriceBook().cost("p", provider, model, 1000, 200) is None


def test_zero_tokens_cost_zero() -> None:
    assert PriceBook().cost("p", "openai", "gpt-4o", 0, 0) == Cost(0.0, 0.0, 0.0)


def test_free_models_cost_zero() -> None:
    assert PriceBook().cost("p", "openrouter", "qwen3-8b:free", 1000, 200) == Cost(0.0, 0.0, 0.0)


def test_none_token_counts_count_as_zero() -> None:
    book = PriceBook()
    assert book.cost("p", "openai", "gpt-4o", None, None, None, None, None) == Cost(0.0, 0.0, 0.0)
    assert book.cost("p", "openai", "gpt-4o", 1000, None) == book.cost("p", "openai", "gpt-4o", 1000, 0)


@pytest.mark.parametrize(
    "counts",
    [
        (-1, 200, 0, 0, 0),
        (1000, -5, 0, 0, 0),
        (1000, 200, -1, 0, 0),
        (1000, 200, 0, -1, 0),
        (1000, 200, 0, 0, -1),
        (float("nan"), 200, 0, 0, 0),
    ],
)
def test_negative_or_nan_token_counts_are_rejected_with_none(counts: tuple[int, int, int, int, int]) -> None:
    assert PriceBook().cost("p", "openai", "gpt-4o", *counts) is None


@pytest.mark.parametrize("counts", [(500, 100, 600, 0, 0), (500, 100, 300, 300, 0), (500, 100, 0, 0, 101)])
def test_counts_that_contradict_the_otel_convention_cost_none(counts: tuple[int, int, int, int, int]) -> None:
    # cached + cache writes above input, or reasoning above output: not OTel-style counts
    assert PriceBook().cost("p", "anthropic", "claude-3-5-sonnet", *counts) is None


def test_separately_priced_reasoning_and_request_fees_match_calc_price() -> None:
    book = PriceBook()
    research = book.cost("p", "perplexity", "sonar-deep-research", 1000, 500, reasoning_tokens=300)
    assert_cost(research, reference("sonar-deep-research", "perplexity", 1000, 500, reasoning=300))
    sonar = book.cost("p", "perplexity", "sonar", 1000, 500)
    assert_cost(sonar, reference("sonar", "perplexity", 1000, 500))
    assert sonar is not None and sonar.total > sonar.input + sonar.output  # the per-request fee


@pytest.mark.parametrize("input_tokens", [1000, 200_000, 200_001, 1_000_000])
def test_tiered_prices_switch_at_the_same_threshold_as_calc_price(input_tokens: int) -> None:
    cost = PriceBook().cost("p", "google", "gemini-2.5-pro", input_tokens, 1000, cached_tokens=500)
    assert_cost(cost, reference("gemini-2.5-pro", "google", input_tokens, 1000, cached=500))


@pytest.mark.parametrize("hour", [0, 8, 16, 17, 20, 23])
def test_time_of_day_prices_follow_the_request_time(hour: int) -> None:
    at = datetime(2025, 3, 1, hour, 30, tzinfo=UTC)
    at_us = int(at.timestamp()) * 1_000_000
    cost = PriceBook().cost("p", "deepseek", "deepseek-chat", 10_000, 1_000, at_us=at_us)
    assert_cost(cost, reference("deepseek-chat", "deepseek", 10_000, 1_000, at=at))


def test_cost_columns_give_the_same_costs_as_cost_row_by_row() -> None:
    book = PriceBook()
    rows = [
        ("p", "openai", "gpt-4o", 1000, 200, 600),
        ("p", "anthropic", "claude-3-5-sonnet-20241022", 5000, 100, 0),
        ("p", "openai", "no-such-model", 1000, 200, 0),
    ]
    columns = book.cost_columns(*(list(column) for column in zip(*rows, strict=True)))
    for index, row in enumerate(rows):
        expected = book.cost(*row)
        assert columns.input[index] == (None if expected is None else expected.input)
        assert columns.output[index] == (None if expected is None else expected.output)
        assert columns.total[index] == (None if expected is None else expected.total)


def test_cost_columns_reject_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 rows"):
        PriceBook().cost_columns(["p", "p"], ["openai"], ["gpt-4o", "gpt-4o"], [1, 1], [1, 1])


def test_resolutions_are_kept_in_a_bounded_lru_including_unknown_models() -> None:
    book = PriceBook(cache_size=2)
    book.cost("p", "openai", "gpt-4o", 1, 1)
    book.cost("p", "openai", "no-such-model", 1, 1)
    assert book.cached_entries() == 2
    book.cost("p", "openai", "gpt-4o", 1, 1)  # refreshes gpt-4o, so no-such-model is the oldest
    book.cost("p", "openai", "gpt-4o-mini", 1, 1)
    assert book.cached_entries() == 2
    assert book.cost("p", "openai", "gpt-4o", 1000, 200, 600) == PriceBook().cost(
        "p", "openai", "gpt-4o", 1000, 200, 600
    )
    book.clear_cache()
    assert book.cached_entries() == 0


def test_projects_without_custom_prices_share_cache_entries() -> None:
    book = PriceBook({"custom-project": [CustomPrice(model="x", input_per_mtok=1, output_per_mtok=1)]})
    for project in ("a", "b", "c"):
        book.cost(project, "openai", "gpt-4o", 1, 1)
    book.cost("custom-project", "openai", "gpt-4o", 1, 1)
    assert book.cached_entries() == 2


def test_cache_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        PriceBook(cache_size=0)
