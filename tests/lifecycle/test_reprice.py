"""Repricing stored spans: the range's segments are rewritten with the current prices and swapped in at once;
reported costs, spans outside the range and files without a change are left as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.engine import Engine
from lynex_box.lifecycle.reprice import RepriceError, publish_head, reprice_batch
from lynex_box.meta.prices import list_prices, read_prices_at, upsert_prices
from lynex_box.pipeline.enrich import CostEnricher
from lynex_box.pricing import CustomPrice, PriceBook
from lynex_box.query.engine import SpanScope
from lynex_box.schema.span import empty_span_columns, spans_to_table
from tests.lifecycle.conftest import DAY_MS, directory_bucket, ingest, now_ms, settings_for

COSTS = "SELECT event_id, input_cost, output_cost, total_cost, cost_source FROM spans ORDER BY event_id"
GPT4O = (2.5, 10.0)  # genai-prices' USD per million input / output tokens
CUSTOM = CustomPrice(model="gpt-4o", input_per_mtok=100.0, output_per_mtok=200.0)


def priced_events(tag: str, start_ms: int, n: int = 4, reported: bool = False, model: str = "gpt-4o") -> bytes:
    """`n` LLM spans one second apart, 1000 input and 100 output tokens each; `reported` ones carry their cost."""
    return orjson.dumps(
        {
            "events": [
                {
                    "event_id": f"{tag}-{i}", "trace_id": f"{tag}-t", "span_id": f"{tag}-s{i}", "type": "llm",
                    "provider": "openai", "model": model, "start_time": start_ms + i * 1000,
                    "usage": {"input_tokens": 1000, "output_tokens": 100},
                    **({"cost": {"input": 0.5, "output": 0.25, "total": 0.75}} if reported else {}),
                }
                for i in range(n)
            ]
        }
    )  # fmt: skip


def cost(price: tuple[float, float]) -> float:
    return (1000 * price[0] + 100 * price[1]) / 1e6


@pytest.fixture
def priced_engine(tmp_path: Path) -> Iterator[Any]:
    """`priced_engine(**sections)`: an engine whose pipeline prices spans with the stored custom prices."""
    opened: list[Engine] = []

    def make(**sections: dict[str, Any]) -> Engine:
        settings = settings_for(tmp_path / "data", **sections)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = Engine.open(settings, [CostEnricher(PriceBook(read_prices_at(settings.data_dir)))])
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


def project_of(engine: Engine) -> str:
    """The data dir's project (created on first use: custom prices need a real project row)."""
    bootstrap_if_empty(engine.meta)
    return str(engine.meta.read("SELECT id FROM projects ORDER BY created_at LIMIT 1")[0][0])


def costs(engine: Engine, project: str) -> dict[str, dict[str, Any]]:
    return {r.pop("event_id"): r for r in engine.query.run(SpanScope(project), COSTS, dedupe=True).to_pylist()}


def book(engine: Engine, project: str) -> PriceBook:
    return PriceBook(list_prices(engine.meta, project))


def test_a_range_is_repriced_and_nothing_else_changes(priced_engine: Any) -> None:
    engine = priced_engine()
    pid = project_of(engine)
    day0 = now_ms() - 3 * DAY_MS
    for k, tag in enumerate(("before", "inside", "reported")):
        ingest(engine, pid, priced_events(tag, day0 + k * DAY_MS, reported=tag == "reported"))
        engine.flush()
    ingest(engine, pid, priced_events("head", day0 + DAY_MS + 60_000))  # in the range, still in the head
    engine.catch_up()
    assert engine.store.head_stats()["rows"] == 4
    before = costs(engine, pid)
    assert before["inside-0"] == {"input_cost": 0.0025, "output_cost": 0.001, "total_cost": cost(GPT4O),
                                  "cost_source": "computed"}  # fmt: skip
    files_before = {e.id for e in engine.store.segment_entries(pid)}

    upsert_prices(engine.meta, pid, [CUSTOM])
    result = engine.lifecycle.reprice(pid, (day0 + DAY_MS) * 1000, (day0 + 3 * DAY_MS) * 1000, book(engine, pid))

    after = costs(engine, pid)
    assert set(after) == set(before)  # every span still there, once
    for event_id, row in after.items():
        if event_id.startswith(("inside", "head")):
            assert row["cost_source"] == "computed" and row["total_cost"] == pytest.approx(cost((100.0, 200.0)))
        else:  # outside the range, or reported: exactly as before
            assert row == before[event_id], event_id
    assert after["reported-0"] == {
        "input_cost": 0.5,
        "output_cost": 0.25,
        "total_cost": 0.75,
        "cost_source": "reported",
    }
    # the head was published first; of the three files in the range, the reported-only one needed no rewrite
    assert (result.files, result.rewritten, result.spans, result.repriced) == (3, 2, 8, 8)
    files_after = {e.id for e in engine.store.segment_entries(pid)}
    assert len(files_after - files_before) == 2
    assert len(engine.catalog.deleting()) == 2  # the replaced files wait for the janitor's grace period

    again = engine.lifecycle.reprice(pid, (day0 + DAY_MS) * 1000, (day0 + 3 * DAY_MS) * 1000, book(engine, pid))
    assert (again.rewritten, again.spans) == (0, 0)  # nothing changed: no file is replaced


def test_a_removed_custom_price_gives_no_cost_rather_than_a_wrong_one(priced_engine: Any) -> None:
    engine = priced_engine()
    pid = project_of(engine)
    upsert_prices(engine.meta, pid, [CustomPrice(model="my-llama", input_per_mtok=1.0, output_per_mtok=2.0)])
    engine.close()
    engine = priced_engine()  # the pipeline's prices are read at open
    start = now_ms() - DAY_MS
    ingest(engine, pid, priced_events("llama", start, model="my-llama"))
    engine.flush()
    assert costs(engine, pid)["llama-0"]["total_cost"] == pytest.approx(cost((1.0, 2.0)))
    engine.meta.write(lambda c: c.execute("DELETE FROM custom_prices"))
    result = engine.lifecycle.reprice(pid, start * 1000, (start + DAY_MS) * 1000, book(engine, pid))
    assert result.spans == 4
    assert costs(engine, pid)["llama-0"] == {"input_cost": None, "output_cost": None, "total_cost": None,
                                        "cost_source": "none"}  # fmt: skip


def test_bucket_segments_are_repriced_in_the_bucket(priced_engine: Any, tmp_path: Path) -> None:
    engine = priced_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 0})
    pid = project_of(engine)
    start = now_ms() - 2 * DAY_MS
    ingest(engine, pid, priced_events("old", start))
    engine.flush()
    assert engine.lifecycle.offload() == 1
    upsert_prices(engine.meta, pid, [CUSTOM])
    result = engine.lifecycle.reprice(pid, start * 1000, (start + DAY_MS) * 1000, book(engine, pid))
    assert (result.rewritten, result.spans) == (1, 4)
    [entry] = engine.store.segment_entries(pid)
    assert entry.location == "remote" and entry.remote_key and entry.checksum
    assert costs(engine, pid)["old-3"]["total_cost"] == pytest.approx(cost((100.0, 200.0)))


def test_publishing_the_head_waits_for_the_pipeline_and_gives_up_with_a_hint(priced_engine: Any) -> None:
    engine = priced_engine()
    pid = project_of(engine)
    ingest(engine, pid, priced_events("late", now_ms()))  # durable, but no pipeline task runs in this test
    with pytest.raises(RepriceError, match="has not caught up"):
        publish_head(engine.store, lambda: engine.wal.durable_lsn, engine.store.flush, timeout_s=0.1)
    engine.catch_up()
    publish_head(engine.store, lambda: engine.wal.durable_lsn, engine.store.flush)
    assert engine.store.head_stats()["rows"] == 0 and len(engine.store.segment_entries(pid)) == 1


def batch_of(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    columns = empty_span_columns()
    for i, row in enumerate(rows):
        full = {"project_id": "p1", "trace_id": "t", "span_id": f"s{i}", "event_id": f"e{i}", "ingested_at": 1, **row}
        for name in columns:
            columns[name].append(full.get(name))
    return spans_to_table(columns).to_batches()[0]


def test_reprice_batch_follows_the_cost_enricher() -> None:
    t = 1_800_000_000_000_000
    base = {"provider": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "start_time": t}
    rows = [
        {**base, "total_cost": 9.0, "cost_source": "computed"},  # stale computed cost: recomputed
        {**base, "total_cost": 0.75, "cost_source": "reported"},  # reported: kept
        {**base, "start_time": t - 1},  # before the range: kept
        {**base, "model": None, "response_model": "gpt-4o", "cost_source": "none"},  # priced by response model
        {**base, "input_tokens": None, "output_tokens": None},  # nothing to price: left alone
        {**base, "model": "nobody-knows-this-model", "total_cost": 1.0, "cost_source": "computed"},  # → none
        {**base, "cached_tokens": 600},  # cache reads at their own price
    ]
    out, seen, changed = reprice_batch(batch_of(rows), PriceBook(), t, t + 1)
    assert (seen, changed) == (5, 4)  # rows 0 and 3-6 are looked at; row 4 has nothing to price
    got = out.select(["total_cost", "cost_source"]).to_pylist()
    assert got[0] == {"total_cost": pytest.approx(cost(GPT4O)), "cost_source": "computed"}
    assert got[1:3] == [{"total_cost": 0.75, "cost_source": "reported"}, {"total_cost": None, "cost_source": None}]
    assert got[3] == {"total_cost": pytest.approx(cost(GPT4O)), "cost_source": "computed"}
    assert got[4] == {"total_cost": None, "cost_source": None}
    assert got[5] == {"total_cost": None, "cost_source": "none"}
    assert got[6]["total_cost"] == pytest.approx((400 * 2.5 + 600 * 1.25 + 100 * 10.0) / 1e6)
    assert out.schema == batch_of(rows).schema and out.num_rows == len(rows)


def test_an_unchanged_batch_is_returned_as_it_was() -> None:
    batch = batch_of([{"model": "gpt-4o", "input_tokens": 1, "start_time": 5, "total_cost": 0.1,
                       "cost_source": "reported"}])  # fmt: skip
    assert reprice_batch(batch, PriceBook(), 0, 10) == (batch, 0, 0)


COST_COLUMNS = ["input_cost", "output_cost", "total_cost", "cost_source"]


def reprice_reference(
    rows: list[dict[str, Any]], book: PriceBook, from_us: int, to_us: int
) -> tuple[list[dict[str, Any]], int, int]:
    """Repricing span by span with `PriceBook.cost`: the cost columns `reprice_batch` must give, float for float,
    and how many rows it looks at and changes."""
    out: list[dict[str, Any]] = []
    seen = changed = 0
    for row in rows:
        costs = {name: row[name] for name in COST_COLUMNS}
        out.append(costs)
        if not from_us <= row["start_time"] < to_us or row["cost_source"] == "reported":
            continue
        seen += 1
        model = row["model"] or row["response_model"]
        if not model or (row["input_tokens"] is None and row["output_tokens"] is None):
            continue
        counts = row["input_tokens"], row["output_tokens"], row["cached_tokens"] or 0, 0, row["reasoning_tokens"] or 0
        found = book.cost(row["project_id"], row["provider"], model, *counts, at_us=row["start_time"])
        new = (None, None, None, "none") if found is None else (*found, "computed")
        changed += new != tuple(costs.values())
        costs.update(zip(COST_COLUMNS, new, strict=True))
    return out, seen, changed


REPRICE_BOOK = PriceBook({"p2": [CustomPrice(model="gpt-4o", input_per_mtok=1.1, output_per_mtok=3.3)]})
T0 = 1_790_000_000_000_000
MODELS = ["gpt-4o", "gpt-4o-mini", "", None, "no-such-model", "deepseek-chat", "gemini-1.5-pro"]


@st.composite
def stored_spans(draw: st.DrawFn) -> dict[str, Any]:
    tokens = st.one_of(st.none(), st.integers(0, 300_000), st.integers(-3, 3))
    source = draw(st.sampled_from([None, "reported", "computed", "none"]))
    cost = draw(st.sampled_from([None, 0.0, 0.5, 0.0025]))  # 0.0025: gpt-4o's cost of 1000 input tokens
    return {
        "project_id": draw(st.sampled_from(["p1", "p2"])),
        "start_time": T0 + draw(st.integers(-2 * 3_600_000_000, 4 * 3_600_000_000)),  # a third in the range
        "provider": draw(st.sampled_from(["openai", None, "self-hosted", "deepseek", "google"])),
        "model": draw(st.sampled_from(MODELS)),
        "response_model": draw(st.sampled_from(["gpt-4o", None, ""])),
        "input_tokens": draw(tokens),
        "output_tokens": draw(tokens),
        "cached_tokens": draw(st.one_of(st.none(), st.integers(0, 1000), st.integers(-2, 2))),
        "reasoning_tokens": draw(st.one_of(st.none(), st.integers(0, 100))),
        "input_cost": cost,
        "output_cost": cost,
        "total_cost": cost,
        "cost_source": source,
    }


@hypothesis_settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(stored_spans(), min_size=1, max_size=40))
def test_reprice_batch_gives_the_costs_of_pricing_span_by_span(rows: list[dict[str, Any]]) -> None:
    batch = batch_of(rows)
    from_us, to_us = T0, T0 + 2 * 3_600_000_000
    expected, seen, changed = reprice_reference(rows, REPRICE_BOOK, from_us, to_us)
    out, got_seen, got_changed = reprice_batch(batch, REPRICE_BOOK, from_us, to_us)
    assert (got_seen, got_changed) == (seen, changed)
    assert out.select(COST_COLUMNS).to_pylist() == expected  # the same floats, not approximately
    assert out.drop_columns(COST_COLUMNS) == batch.drop_columns(COST_COLUMNS)
