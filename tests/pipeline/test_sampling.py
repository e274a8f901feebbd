"""Raw-text sampling and model metadata as pipeline stages: the columnar and the row path decide alike."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from lynex_box.pipeline.modelmeta import ModelMetaEnricher
from lynex_box.pipeline.sampling import TextSampler, trace_keep_fraction
from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table


def rows(count: int, project: str = "p1") -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        row: dict[str, Any] = dict.fromkeys(SPAN_COLUMNS)
        row.update(
            project_id=project, trace_id=f"t{i // 2}", span_id=f"s{i}", event_id=f"e{i}", start_time=i,
            ingested_at=i, status="error" if i % 10 == 3 else "ok", input=json.dumps({"messages": []}),
            output='"x"', tool_calls="[]", input_tokens=5, model="gpt-4o", pii='{"email": 1}' if i == 5 else None,
        )  # fmt: skip
        out.append(row)
    return out


def test_the_rule_keeps_traces_below_the_fraction_whole_and_errors_and_flagged_spans() -> None:
    sampler = TextSampler(lambda: {"p1": 0.3})
    table = sampler.enrich_table(spans_to_table({c: [r[c] for r in rows(400)] for c in SPAN_COLUMNS}))
    out = table.to_pylist()
    for row in out:
        below = trace_keep_fraction(row["trace_id"]) < 0.3
        special = row["status"] == "error" or row["pii"] is not None
        assert row["text_sampled_out"] is (not below and not special)
        assert (row["input"] is None) is row["text_sampled_out"]
        assert row["input_tokens"] == 5
    kept = {r["trace_id"] for r in out if trace_keep_fraction(r["trace_id"]) < 0.3}
    assert 30 <= len(kept) <= 90  # of 200 traces


def test_rows_and_columns_agree_and_other_projects_are_untouched() -> None:
    sampler = TextSampler(lambda: {"p1": 0.5})
    batch = rows(100) + rows(10, project="p2")
    table = sampler.enrich_table(spans_to_table({c: [r[c] for r in batch] for c in SPAN_COLUMNS}))
    sampler(batch)
    assert [r["text_sampled_out"] for r in batch] == table.column("text_sampled_out").to_pylist()
    assert [r["input"] for r in batch] == table.column("input").to_pylist()
    assert all(r["text_sampled_out"] is None and r["input"] for r in batch[100:])


def test_model_metadata_rows_and_columns_agree() -> None:
    enricher = ModelMetaEnricher()
    batch = rows(4)
    batch[1]["model"], batch[2]["model"], batch[3]["model"] = "claude-3-5-sonnet-20241022", None, "my-own-model"
    table = enricher.enrich_table(spans_to_table({c: [r[c] for r in batch] for c in SPAN_COLUMNS}))
    enricher(batch)
    for name in ("model_id", "model_provider", "model_family", "context_window", "request_fingerprint"):
        assert [r[name] for r in batch] == table.column(name).to_pylist(), name
    assert table.column("model_id").to_pylist() == ["gpt-4o", "claude-3-5-sonnet", None, "my-own-model"]
    assert table.column("context_window").to_pylist() == [128_000, 200_000, None, None]
    assert isinstance(table.column("request_fingerprint")[0].as_py(), str)
    assert table.column("request_fingerprint")[2].as_py() is None
    assert table.schema.field("modalities").type == pa.list_(pa.string())
