"""Model metadata: a model name as sent, mapped to a canonical id, provider, family, context window and modalities.

The id, provider and context window are genai-prices' own (its `ModelInfo.id`, `Provider.id`, `context_window`),
found by the same lookups as the cost (`names.lookup_candidates`), so a name that is priced is also described.
genai-prices has no family and no modality field: the family is derived from the canonical id by `family_of`
(documented in docs/models.md), and the modalities are the kinds of tokens genai-prices prices for the model
(`input_audio_mtok` → audio...), text for any model priced per token. A name genai-prices does not know keeps a
canonical id of its own (the name without provider or resource prefixes, lowercased) and no context window.

It must never do I/O beyond genai-prices' bundled snapshot, and never map a name to a different model.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Final, NamedTuple

from genai_prices.types import ModelInfo, ModelPrice

from lynex_box.pricing.library import find_model
from lynex_box.pricing.names import lookup_candidates, normalize_model, normalize_provider


class ModelMeta(NamedTuple):
    """What is known of one model name; None where nothing is."""

    model_id: str | None
    provider: str | None
    family: str | None
    context_window: int | None
    modalities: list[str] | None


_UNKNOWN: Final = ModelMeta(None, None, None, None, None)

# Model lines whose family is not simply the first word and a version (checked in order, first match wins).
_FAMILIES: Final = (
    re.compile(r"^(gpt-[0-9][0-9.]*o?)(?:-|$)"),  # gpt-4o, gpt-4o-mini → gpt-4o; gpt-4.1-nano → gpt-4.1
    re.compile(r"^(o[0-9])(?:-|$)"),  # o1-preview, o3-mini → o1, o3
    re.compile(r"^claude-(?:[0-9.-]+-)?(opus|sonnet|haiku)"),  # claude-3-5-sonnet, claude-sonnet-4 → claude-sonnet
    re.compile(r"^(gemini-[0-9][0-9.]*)"),  # gemini-1.5-pro → gemini-1.5
)
_MODALITY_WORDS: Final = ("audio", "image", "video")
_VENDOR_PREFIX: Final = re.compile(r"^(?:[a-z-]+\.)+(?=[a-z])")  # Bedrock's `regional.anthropic.` and the like


def family_of(model_id: str) -> str:
    """The model line of a canonical id: `gpt-4o-mini` → `gpt-4o`, `claude-3-5-sonnet` → `claude-sonnet`,
    `gemini-1.5-pro` → `gemini-1.5`, else the first word and, when the next word is a version, that too
    (`llama-3.1-70b` → `llama-3.1`, `mistral-large` → `mistral`). Bedrock's vendor prefixes are left out."""
    model_id = _VENDOR_PREFIX.sub("", model_id)
    for pattern in _FAMILIES:
        found = pattern.match(model_id)
        if found is not None:
            return "claude-" + found.group(1) if model_id.startswith("claude-") else found.group(1)
    words = model_id.split("-")
    if len(words) > 1 and words[1][:1].isdigit():
        return f"{words[0]}-{words[1]}"
    return words[0]


def modalities_of(model: ModelInfo) -> list[str] | None:
    """The kinds of tokens genai-prices prices for `model` (text first), None when it prices no tokens."""
    prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
    keys = {key for price in prices for key in vars(price) if getattr(price, key, None) is not None}
    if not keys:
        return None
    found = ["text"] if {"input_mtok", "output_mtok"} & keys else []
    found += [word for word in _MODALITY_WORDS if any(word in key for key in keys)]
    return found or None


def describe(provider: str | None, model: str | None) -> ModelMeta:
    """The metadata of one (provider as sent, model as sent)."""
    if not model or not model.strip():
        return _UNKNOWN
    provider_id = normalize_provider(provider)
    if not (provider and provider.strip() and provider_id is None):  # an unknown provider is never replaced
        for hint, ref in lookup_candidates(model):
            found = find_model(provider_id or hint, ref)
            if found is not None:
                info = found[1]
                return ModelMeta(info.id, found[0].id, family_of(info.id), info.context_window, modalities_of(info))
    canonical = normalize_model(model)
    hinted = lookup_candidates(model)[-1][0]
    own_provider = provider_id or hinted or (provider.strip().lower() if provider and provider.strip() else None)
    return ModelMeta(canonical, own_provider, family_of(canonical), None, None)


class ModelCatalog:
    """`describe` with a bounded LRU of (provider, model) → ModelMeta, shared by the pipeline's threads."""

    def __init__(self, cache_size: int = 10_000) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size={cache_size!r} must be at least 1; hint: the default is 10000")
        self._size = cache_size
        self._cache: OrderedDict[tuple[str | None, str | None], ModelMeta] = OrderedDict()
        self._lock = threading.Lock()

    def describe(self, provider: str | None, model: str | None) -> ModelMeta:
        key = (provider, model)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        meta = describe(provider, model)
        with self._lock:
            self._cache[key] = meta
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return meta
