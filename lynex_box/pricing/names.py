"""Provider and model names as instrumentations send them, mapped to what genai-prices knows.

OTel, OpenInference, Langfuse and LiteLLM each spell providers their own way (`x_ai`, `az.ai.openai`,
`gcp.vertex_ai`…) and prefix model names (`openai/gpt-4o`, `models/gemini-1.5-pro`,
`us.anthropic.claude-3-5-sonnet-20241022-v2:0`). This module turns them into candidate lookups.
It is pure string work: it must never consult prices, and never map a name to a *different* model
(a dated snapshot falls back to its own undated alias, never to a sibling such as `-mini`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from genai_prices.data_snapshot import get_snapshot

# Spellings seen in the wild → genai-prices provider id. Every target is checked against the
# bundled snapshot by tests/pricing/test_names.py. Names absent here are accepted only when they
# are exactly a genai-prices id; anything else is an unknown provider (no computed cost).
PROVIDER_ALIASES: Final[dict[str, str]] = {
    "openai": "openai",
    "anthropic": "anthropic",
    # Azure OpenAI / Azure AI Foundry: genai-prices' azure falls back to openai, anthropic, x-ai…
    "azure": "azure",
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure.ai.inference": "azure",
    "azure_openai": "azure",
    "azure_ai": "azure",
    # Amazon Bedrock
    "aws": "aws",
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "amazon_bedrock": "aws",
    # Google: Gemini API and Vertex AI share one price list in genai-prices
    "google": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gemini": "google",
    "google_genai": "google",
    "mistral": "mistral",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x-ai": "x-ai",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "perplexity": "perplexity",
    "moonshotai": "moonshotai",
    "moonshot_ai": "moonshotai",
    "moonshot": "moonshotai",
    "together": "together",
    "together_ai": "together",
    "together-ai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "cerebras": "cerebras",
}

# Bedrock model ids: optional cross-region prefix, then the vendor, e.g. `eu.anthropic.claude-…-v1:0`.
_BEDROCK_ID: Final = re.compile(
    r"^(?:(?:us|us-gov|eu|apac|ap|au|ca|jp|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|writer|qwen|openai|moonshot|moonshotai)\."
    r"(?=[a-z0-9])"
)
# A full date at the end: -2024-08-06, -20241022 or Vertex's @20241022.
_TRAILING_DATE: Final = re.compile(r"[-@](20\d\d)-?(\d\d)-?(\d\d)$")


def library_provider_ids() -> frozenset[str]:
    """The provider ids of the active genai-prices snapshot."""
    return frozenset(provider.id for provider in get_snapshot().providers)


def normalize_provider(name: str | None) -> str | None:
    """The genai-prices provider id for `name`, or None when it is empty or unknown."""
    if not name:
        return None
    key = name.strip().lower()
    alias = PROVIDER_ALIASES.get(key)
    if alias is not None:
        return alias
    return key if key in library_provider_ids() else None


def provider_key(name: str | None) -> str | None:
    """The provider as custom prices compare it: the genai-prices id if known, else the lowercased name."""
    if not name or not name.strip():
        return None
    return normalize_provider(name) or name.strip().lower()


def _strip_steps(name: str) -> list[tuple[str | None, str]]:
    """The name as sent, then after each prefix is stripped, each with the provider the prefixes imply."""
    model = name.strip().lower()
    hint: str | None = None
    steps = [(hint, model)]
    if model.startswith("arn:"):  # arn:aws:bedrock:…:foundation-model/anthropic.claude-…
        hint, model = "aws", model.rsplit("/", 1)[-1]
        steps.append((hint, model))
    if model.startswith("models/") or "/models/" in model:  # Gemini API and Vertex resource names
        model = model.rsplit("models/", 1)[-1]
        steps.append((hint, model))
    while "/" in model:
        prefix, rest = model.split("/", 1)
        prefix_id = normalize_provider(prefix)
        if prefix_id is None or not rest:
            break
        # The outermost prefix is the one that billed the call (openrouter/anthropic/… is OpenRouter).
        hint, model = hint or prefix_id, rest
        steps.append((hint, model))
    if bedrock := _BEDROCK_ID.match(model):
        hint = hint or "aws"
        steps.append((hint, model))  # Bedrock prices its own ids, e.g. `regional.anthropic.…`
        model = model[bedrock.end() :]
        steps.append((hint, model))
    return steps


def normalize_model(name: str) -> str:
    """Lowercased model name without provider, resource-path or Bedrock prefixes.

    `openai/gpt-4o` → `gpt-4o`, `models/gemini-1.5-pro` → `gemini-1.5-pro`,
    `us.anthropic.claude-3-5-sonnet-20241022-v2:0` → `claude-3-5-sonnet-20241022-v2:0`.
    Dates and version suffixes are kept: they may name a differently priced snapshot.
    """
    return _strip_steps(name)[-1][1]


def strip_trailing_date(model: str) -> str | None:
    """`gpt-4o-2024-08-06` → `gpt-4o`; None when the name does not end in a valid full date."""
    found = _TRAILING_DATE.search(model)
    if found is None or found.start() == 0:
        return None
    try:
        date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None
    return model[: found.start()]


def lookup_candidates(model: str) -> list[tuple[str | None, str]]:
    """(provider hint, model ref) pairs to try in order, the name exactly as sent first.

    genai-prices matches many dated and prefixed names by itself, so the raw name always goes
    first; stripped names and then the undated alias of the fully stripped name follow.
    """
    candidates = _strip_steps(model)
    hint, normalized = candidates[-1]
    undated = strip_trailing_date(normalized)
    if undated:
        candidates.append((hint, undated))
    unique: list[tuple[str | None, str]] = []
    for candidate in candidates:
        if candidate[1] and candidate not in unique:
            unique.append(candidate)
    return unique
