"""Crash safety of repricing: a real process is SIGKILLed while writing the repriced files, between writing them
and the catalog swap, and right after the swap. On reopen every span is found exactly once, with every old cost
or every new one (never a mix), no temporary or orphaned file is left, and a second repricing completes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import orjson
import pytest

from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.engine import Engine
from lynex_box.meta.prices import list_prices, upsert_prices
from lynex_box.pipeline.enrich import CostEnricher
from lynex_box.pricing import CustomPrice, PriceBook
from lynex_box.query.engine import SpanScope
from lynex_box.wal.records import RecordHeader, RecordType
from tests.crash.harness import reopen, run_once

COSTS = "SELECT count(*) AS n, count(DISTINCT event_id) AS d, list(DISTINCT total_cost) AS costs FROM spans"
OLD, NEW = (1000 * 2.5 + 100 * 10.0) / 1e6, (1000 * 7.0 + 100 * 9.0) / 1e6


def open_engine(data_dir: Path, priced: bool = False) -> Engine:
    return reopen(data_dir, [CostEnricher(PriceBook())] if priced else None, lifecycle={"grace_period_s": 0.0})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int, int]:
    """Three segments of gpt-4o spans priced from the library, then a custom price for gpt-4o stored."""
    data_dir = tmp_path_factory.mktemp("reprice-crash") / "data"
    data_dir.mkdir()
    engine = open_engine(data_dir, priced=True)
    project = bootstrap_if_empty(engine.meta).project_id  # type: ignore[union-attr]
    start = time.time_ns() // 1_000_000 - 86_400_000
    for k in range(3):
        events = [
            {"event_id": f"r{k}-{i}", "trace_id": f"t{k}", "span_id": f"s{i}", "type": "llm", "provider": "openai",
             "model": "gpt-4o", "start_time": start + k * 1000 + i,
             "usage": {"input_tokens": 1000, "output_tokens": 100}}
            for i in range(20)
        ]  # fmt: skip
        body = orjson.dumps({"events": events})
        engine.append(RecordType.EVENTS, RecordHeader(project, time.time_ns() // 1000, "sdk"), body)
        engine.flush()
    upsert_prices(engine.meta, project, [CustomPrice(model="gpt-4o", input_per_mtok=7.0, output_per_mtok=9.0)])
    engine.close()
    return data_dir, project, (start - 1000) * 1000, (start + 10_000) * 1000


@pytest.mark.parametrize(
    ("crash_at", "expected"),
    [
        ("lifecycle.rewrite.before_rename:2", OLD),  # the second repriced file synced, not renamed
        ("lifecycle.reprice.before_swap", OLD),  # every repriced file in place, catalog not swapped
        ("lifecycle.reprice.after_swap", NEW),  # swapped, old files not yet removed
    ],
)
def test_a_kill_while_repricing_leaves_all_old_or_all_new_costs(
    tmp_path: Path, prepared: tuple[Path, str, int, int], crash_at: str, expected: float
) -> None:
    template, project, from_us, to_us = prepared
    data_dir = tmp_path / "data"
    shutil.copytree(template, data_dir)
    run_once("reprice_proc.py", [str(data_dir), project, str(from_us), str(to_us)], crash_at)
    engine = open_engine(data_dir)
    try:
        assert list(data_dir.rglob("*.tmp")) == []
        found = engine.query.run(SpanScope(project), COSTS).to_pylist()[0]
        assert (found["n"], found["d"]) == (60, 60)
        assert found["costs"] == [pytest.approx(expected)]  # one cost for every span: never a mix
        named = {engine.data_dir / e.path for e in engine.store.segment_entries()}
        assert set((data_dir / "segments").rglob("*.parquet")) - named <= {
            engine.data_dir / e.path for e in engine.catalog.deleting()
        }  # orphans swept; only replaced files wait for the janitor
        book = PriceBook(list_prices(engine.meta, project))
        result = engine.lifecycle.reprice(project, from_us, to_us, book)
        assert result.spans == (60 if expected == OLD else 0)
        engine.lifecycle.clean(grace_s=0)
        assert engine.catalog.deleting() == []
        found = engine.query.run(SpanScope(project), COSTS).to_pylist()[0]
        assert (found["n"], found["costs"]) == (60, [pytest.approx(NEW)])
    finally:
        engine.close()
