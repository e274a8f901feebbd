"""`PriceBook`: the USD cost of a call from its project, provider, model and token counts.

The ingest pipeline calls `cost` for every span, so each (project, provider, model) is resolved
once (custom price, else genai-prices) and kept in a bounded LRU, misses included; a warm call
is a dict hit and a few float operations. It must never do I/O, never raise on span data, and
never return a cost it is not sure of: unknown names and contradictory counts give None.

Token counts: None means "not reported" and counts as 0; a negative or NaN count makes the
whole call unpriceable (None), since any cost computed from it would be wrong.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

from lynex_box.pricing.custom import CustomPrice, find_custom, index_custom_prices
from lynex_box.pricing.library import PriceTable, compile_model, find_model
from lynex_box.pricing.names import lookup_candidates, normalize_provider
from lynex_box.pricing.rates import Cost

_MISSING = object()


class CostColumns(NamedTuple):
    """Per-row costs of a batch, None where a row has no computed cost."""

    input: list[float | None]
    output: list[float | None]
    total: list[float | None]


class PriceBook:
    """Costs for every project, with that project's custom prices taking precedence.

    Safe to share between threads. After genai-prices' data is refreshed (`UpdatePrices`), call
    `clear_cache` so that models are resolved again against the new snapshot.
    """

    def __init__(self, custom: Mapping[str, Sequence[CustomPrice]] | None = None, *, cache_size: int = 10_000):
        if cache_size < 1:
            raise ValueError(f"cache_size={cache_size!r} must be at least 1; hint: the default is 10000")
        self._custom = {project: index_custom_prices(prices) for project, prices in (custom or {}).items() if prices}
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str | None, str | None, str | None], PriceTable | None] = OrderedDict()
        self._lock = threading.Lock()

    def cost(
        self,
        project_id: str,
        provider: str | None,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None = 0,
        cache_write_tokens: int | None = 0,
        reasoning_tokens: int | None = 0,
        *,
        at_us: int | None = None,
    ) -> Cost | None:
        """USD cost of one call, or None when it cannot be priced with certainty.

        `input_tokens` includes cached and cache-write tokens and `output_tokens` includes reasoning
        tokens (the OTel convention). `at_us` is the request time in epoch microseconds (the span's
        start_time); it matters only for models whose price changed on a date or varies by hour,
        and None means now.
        """
        table = self.table_for(project_id, provider, model)
        if table is None:
            return None
        inputs = input_tokens or 0
        outputs = output_tokens or 0
        cached = cached_tokens or 0
        written = cache_write_tokens or 0
        reasoning = reasoning_tokens or 0
        if not (inputs >= 0 and outputs >= 0 and cached >= 0 and written >= 0 and reasoning >= 0):
            return None
        return table.for_call(inputs, at_us).apply(inputs, outputs, cached, written, reasoning)

    def table_for(self, project_id: str, provider: str | None, model: str | None) -> PriceTable | None:
        """The price table `cost` applies to this (project, provider, model), or None when it cannot price it.

        For callers that price many spans of one model at once (the pipeline's enricher works per model, with
        array arithmetic where the table is flat `Rates`)."""
        # Projects without custom prices share entries: the library's answer is the same for all.
        key = (project_id if project_id in self._custom else None, provider, model)
        found = self._cache.get(key, _MISSING)
        if found is _MISSING:
            table = self._resolve(project_id, provider, model)
            with self._lock:
                self._cache[key] = table
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return table
        # No lock on the hot path: move_to_end is atomic under the GIL, and a key evicted by
        # another thread since the get above is simply not refreshed. (suppress() costs 0.3 µs.)
        try:  # noqa: SIM105
            self._cache.move_to_end(key)
        except KeyError:
            pass
        return cast("PriceTable | None", found)  # a string: not evaluated per call

    def cost_columns(
        self,
        project_ids: Sequence[str],
        providers: Sequence[str | None],
        models: Sequence[str | None],
        input_tokens: Sequence[int | None],
        output_tokens: Sequence[int | None],
        cached_tokens: Sequence[int | None] | None = None,
        cache_write_tokens: Sequence[int | None] | None = None,
        reasoning_tokens: Sequence[int | None] | None = None,
        at_us: Sequence[int | None] | None = None,
    ) -> CostColumns:
        """`cost` for each row of a batch given as columns (lists or 1-d arrays) of equal length."""
        rows = len(project_ids)
        zeros: Sequence[int | None] = [0] * rows
        nones: Sequence[int | None] = [None] * rows
        columns = (providers, models, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens)
        if any(column is not None and len(column) != rows for column in (*columns, at_us)):
            raise ValueError(f"cost_columns needs columns of {rows} rows; hint: pass one value per span")
        result = CostColumns([], [], [])
        for row in zip(
            project_ids,
            providers,
            models,
            input_tokens,
            output_tokens,
            zeros if cached_tokens is None else cached_tokens,
            zeros if cache_write_tokens is None else cache_write_tokens,
            zeros if reasoning_tokens is None else reasoning_tokens,
            nones if at_us is None else at_us,
            strict=True,
        ):
            cost = self.cost(*row[:8], at_us=row[8])
            result.input.append(None if cost is None else cost.input)
            result.output.append(None if cost is None else cost.output)
            result.total.append(None if cost is None else cost.total)
        return result

    def clear_cache(self) -> None:
        """Forget every resolved price, e.g. after the genai-prices snapshot was refreshed."""
        with self._lock:
            self._cache.clear()

    def cached_entries(self) -> int:
        """How many (project, provider, model) resolutions are held, unknown ones included."""
        return len(self._cache)

    def _resolve(self, project_id: str, provider: str | None, model: str | None) -> PriceTable | None:
        if not model or not model.strip():
            return None
        custom = self._custom.get(project_id)
        if custom and (rates := find_custom(custom, provider, model)) is not None:
            return rates
        return resolve_library(provider, model)


def resolve_library(provider: str | None, model: str) -> PriceTable | None:
    """genai-prices' price for the model, trying the name as sent, then stripped, then undated.

    A provider that is given but unknown (a self-hosted server, say) is never replaced by one
    inferred from the model name: the same name there does not cost the same.
    """
    provider_id = normalize_provider(provider)
    if provider and provider.strip() and provider_id is None:
        return None
    tried: set[tuple[str | None, str]] = set()
    for hint, ref in lookup_candidates(model):
        attempt = (provider_id or hint, ref)
        if attempt in tried:
            continue
        tried.add(attempt)
        if (found := find_model(*attempt)) is not None:
            return compile_model(found[1])
    return None
