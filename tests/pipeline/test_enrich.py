"""The cost enricher prices a span table exactly as it prices the same spans as rows."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.pipeline.enrich import CostEnricher
from lynex_box.pipeline.rowview import ColumnRows
from lynex_box.pricing import PriceBook
from lynex_box.pricing.custom import CustomPrice
from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table

# p2 has a custom price of its own for gpt-4o (and a model the library does not know); gemini and claude-sonnet-4-5
# are tiered by input tokens, deepseek's prices depend on the hour (the span's start time).
ENRICHER = CostEnricher(
    PriceBook(
        {
            "p2": [
                CustomPrice(model="gpt-4o", input_per_mtok=1.1, output_per_mtok=3.3, cache_read_per_mtok=0.07),
                CustomPrice(model="my-finetune", input_per_mtok=0.2, output_per_mtok=0.4),
            ]
        }
    )
)
MODELS = [
    "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "no-such-model-xyz", "", None, "my-finetune",
    "gemini-1.5-pro", "claude-sonnet-4-5", "deepseek-chat",
]  # fmt: skip


@st.composite
def spans(draw: st.DrawFn) -> dict[str, Any]:
    tokens = st.one_of(st.none(), st.integers(0, 300_000), st.integers(-5, 5))
    reported = draw(st.booleans())
    row: dict[str, Any] = dict.fromkeys(SPAN_COLUMNS)
    row.update(
        project_id=draw(st.sampled_from(["p1", "p2"])),
        trace_id="t",
        span_id="s",
        event_id=draw(st.uuids()).hex,
        start_time=draw(st.integers(1_700_000_000_000_000, 1_800_000_000_000_000)),
        ingested_at=1_700_000_000_000_000,
        provider=draw(st.sampled_from(["openai", "anthropic", None, "self-hosted", "google", "deepseek"])),
        model=draw(st.sampled_from(MODELS)),
        response_model=draw(st.sampled_from(MODELS)),
        input_tokens=draw(tokens),
        output_tokens=draw(tokens),
        cached_tokens=draw(st.one_of(st.none(), st.integers(0, 1000), st.integers(-2, 2))),
        reasoning_tokens=draw(st.one_of(st.none(), st.integers(0, 100), st.integers(-2, 2))),
        input_cost=0.5 if reported else None,
        total_cost=0.5 if reported else None,
        cost_source="reported" if reported else None,
    )
    return row


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spans(), min_size=1, max_size=60))
def test_table_and_rows_are_priced_the_same(rows: list[dict[str, Any]]) -> None:
    table = spans_to_table({name: [r[name] for r in rows] for name in SPAN_COLUMNS})
    view = ColumnRows(table)
    ENRICHER(view.rows())
    expected = view.table().to_pylist()
    assert ENRICHER.enrich_table(table).to_pylist() == expected  # the same floats, not approximately


def test_prices_a_known_model_and_marks_unknown_ones() -> None:
    rows = [
        {**dict.fromkeys(SPAN_COLUMNS), "project_id": "p", "trace_id": "t", "span_id": "a", "event_id": "a",
         "start_time": 1_790_000_000_000_000, "ingested_at": 1, "model": model, "provider": "openai",
         "input_tokens": 1000, "output_tokens": 100}
        for model in ("gpt-4o", "no-such-model-xyz")
    ]  # fmt: skip
    table = ENRICHER.enrich_table(spans_to_table({name: [r[name] for r in rows] for name in SPAN_COLUMNS}))
    priced, unknown = table.to_pylist()
    assert priced["cost_source"] == "computed" and priced["total_cost"] > 0
    assert unknown["cost_source"] == "none" and unknown["total_cost"] is None
