"""Provider aliases and model-name normalisation."""

from __future__ import annotations

import pytest

from lynex_box.pricing import normalize_model, normalize_provider
from lynex_box.pricing.names import PROVIDER_ALIASES, library_provider_ids, lookup_candidates, strip_trailing_date


def test_every_alias_targets_a_real_genai_prices_provider() -> None:
    assert set(PROVIDER_ALIASES.values()) <= library_provider_ids()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x_ai", "x-ai"),
        ("xai", "x-ai"),
        ("az.ai.openai", "azure"),
        ("azure.ai.openai", "azure"),
        ("azure", "azure"),
        ("aws.bedrock", "aws"),
        ("bedrock", "aws"),
        ("gcp.vertex_ai", "google"),
        ("vertex_ai", "google"),
        ("gcp.gemini", "google"),
        ("gemini", "google"),
        ("gcp.gen_ai", "google"),
        ("mistral_ai", "mistral"),
        ("moonshot_ai", "moonshotai"),
        (" OpenAI ", "openai"),
        ("Anthropic", "anthropic"),
        ("groq", "groq"),
        ("deepseek", "deepseek"),
        ("cohere", "cohere"),
        ("perplexity", "perplexity"),
        ("zhipuai", "zhipuai"),  # not aliased, but a genai-prices id as is
    ],
)
def test_normalize_provider_maps_aliases_to_genai_prices_ids(name: str, expected: str) -> None:
    assert normalize_provider(name) == expected


@pytest.mark.parametrize("name", [None, "", "  ", "ollama", "vllm", "openai_compatible", "ibm.watsonx.ai"])
def test_normalize_provider_gives_none_for_absent_or_unknown(name: str | None) -> None:
    assert normalize_provider(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GPT-4o", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("models/gemini-1.5-pro", "gemini-1.5-pro"),
        ("projects/p/locations/us/publishers/google/models/gemini-1.5-pro", "gemini-1.5-pro"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022-v2:0"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022-v2:0"),
        ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307-v1:0"),
        ("openrouter/anthropic/claude-3.5-sonnet", "claude-3.5-sonnet"),
        ("meta-llama/Llama-3.3-70B-Instruct", "meta-llama/llama-3.3-70b-instruct"),  # an org, not a provider
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),  # dates are kept: they may be priced differently
    ],
)
def test_normalize_model_strips_prefixes_and_lowercases(name: str, expected: str) -> None:
    assert normalize_model(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2"),
        ("gpt-4o-2024-13-06", None),  # not a date
        ("mistral-small-2503", None),  # YYMM versions name different models: never stripped
        ("gpt-4-0613", None),
        ("2024-08-06", None),
    ],
)
def test_strip_trailing_date_only_strips_full_valid_dates(name: str, expected: str | None) -> None:
    assert strip_trailing_date(name) == expected


def test_lookup_candidates_try_the_name_as_sent_first() -> None:
    assert lookup_candidates("openai/gpt-4o-2024-08-06") == [
        (None, "openai/gpt-4o-2024-08-06"),
        ("openai", "gpt-4o-2024-08-06"),
        ("openai", "gpt-4o"),
    ]
    assert lookup_candidates("us.anthropic.claude-3-haiku-20240307-v1:0") == [
        (None, "us.anthropic.claude-3-haiku-20240307-v1:0"),
        ("aws", "us.anthropic.claude-3-haiku-20240307-v1:0"),
        ("aws", "claude-3-haiku-20240307-v1:0"),
    ]
