"""The pipeline hooks' rules (lynex_box/plugins/spanhooks.py) on real span tables: enrichers change values, never
spans; detectors' scores merge by their maximum into `hallucination_risk`, their reasons land in `detections`; a hook
that raises or answers nonsense leaves the batch as it was and is counted. The real server path is
tests/plugins/test_pipeline_hooks_e2e.py."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lynex_box.plugins.spanhooks import HookError, SpanHooks
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA, spans_to_table


def _spans(n: int = 3, **columns: list[Any]) -> pa.Table:
    values: dict[str, list[Any]] = {name: [None] * n for name in SPAN_COLUMNS}
    values.update(project_id=["proj_a"] * n, trace_id=["t"] * n, span_id=[f"s{i}" for i in range(n)],
                  event_id=[f"e{i}" for i in range(n)], start_time=list(range(n)), ingested_at=[0] * n)  # fmt: skip
    values.update(columns)
    return spans_to_table(values)


class Detector:
    def __init__(self, name: str, answer: Any) -> None:
        self.name, self.answer = name, answer

    def detect(self, table: pa.Table) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _set(table: pa.Table, column: str, values: list[Any]) -> pa.Table:
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, table.schema.field(column).type)
    )


def test_enrichers_run_in_order_and_a_failing_one_leaves_the_batch_as_it_was() -> None:
    hooks = SpanHooks()
    hooks.add_enricher("first", lambda table: _set(table, "release", ["r1"] * table.num_rows))
    hooks.add_enricher("raises", lambda table: 1 / 0)
    hooks.add_enricher("moves", lambda table: _set(table, "project_id", ["proj_b"] * table.num_rows))
    hooks.add_enricher("drops", lambda table: table.slice(1))
    hooks.add_enricher("not-a-table", lambda table: table.to_pylist())
    hooks.add_enricher("second", lambda table: _set(table, "environment", ["prod"] * table.num_rows))
    hooks.add_enricher("none", lambda table: None)
    out = hooks(_spans())
    assert out.schema.equals(SPAN_SCHEMA)
    assert out.column("release").to_pylist() == ["r1"] * 3 and out.column("environment").to_pylist() == ["prod"] * 3
    assert out.column("project_id").to_pylist() == ["proj_a"] * 3 and out.num_rows == 3
    status = {name: hooks_[0] for name, hooks_ in hooks.status().items()}
    assert {name: s["errors"] for name, s in status.items()} == {
        "first": 0, "raises": 1, "moves": 1, "drops": 1, "not-a-table": 1, "second": 0, "none": 0
    }  # fmt: skip
    assert "ZeroDivisionError" in status["raises"]["last_error"]
    assert "changed project_id" in status["moves"]["last_error"]
    assert "2 rows for 3" in status["drops"]["last_error"]
    assert all(s["calls"] == 1 for s in status.values())


def test_detectors_merge_by_maximum_and_list_their_reasons_in_the_detections_column() -> None:
    table = _spans(4, hallucination_risk=[None, 0.5, None, None], attributes=[None, '{"user": 1}', "[1]", None])
    hooks = SpanHooks()
    reasons = [["ungrounded_number: 4,200", "no source"], None, ["weak"], None]
    hooks.add_detectors("rag", [Detector("grounding", ([0.2, None, 0.0, None], reasons))])
    hooks.add_detectors("other", [Detector("length", pa.array([0.9, 0.1, float("nan"), 7.0]))])
    out = hooks(table)
    assert out.column("hallucination_risk").to_pylist() == [0.9, 0.5, 0.0, 1.0]  # sender's 0.5 counts; clipped to 1
    assert out.column("attributes").to_pylist() == [None, '{"user": 1}', "[1]", None]  # untouched
    found = [orjson.loads(a) if a is not None else None for a in out.column("detections").to_pylist()]
    assert found[0] == [
        {"detector": "grounding", "code": "ungrounded_number", "score": 0.2, "excerpt": "4,200"},
        {"detector": "grounding", "code": "grounding", "score": 0.2, "excerpt": "no source"},  # free text: excerpt
        {"detector": "length", "code": "length", "score": 0.9, "excerpt": None},
    ]
    assert found[1] == [{"detector": "length", "code": "length", "score": 0.1, "excerpt": None}]
    assert found[2] == [{"detector": "grounding", "code": "grounding", "score": 0.0, "excerpt": "weak"}]
    assert found[3] == [{"detector": "length", "code": "length", "score": 1.0, "excerpt": None}]


def test_a_detector_that_raises_or_answers_nonsense_is_counted_and_the_others_still_count() -> None:
    hooks = SpanHooks()
    hooks.add_detectors("raises", [Detector("boom", RuntimeError("detector down"))])
    hooks.add_detectors("short", [Detector("short", [0.5])])
    hooks.add_detectors("words", [Detector("words", ["high", "low", "mid"])])
    hooks.add_detectors("fine", [Detector("fine", (0.3, 0.4, None))])  # a tuple of scores, not (scores, reasons)
    out = hooks(_spans())
    assert out.column("hallucination_risk").to_pylist() == [0.3, 0.4, None]
    errors = {name: s[0]["errors"] for name, s in hooks.status().items()}
    assert errors == {"raises": 1, "short": 1, "words": 1, "fine": 0}


def test_what_lynex_detectors_returns_must_be_detectors() -> None:
    hooks = SpanHooks()
    with pytest.raises(HookError, match="a list of detectors"):
        hooks.add_detectors("p", Detector("x", None))
    with pytest.raises(HookError, match="`name`"):
        hooks.add_detectors("p", [object()])
    assert not hooks.active


def test_no_hook_no_change_and_the_checks_cost_columns_not_rows() -> None:
    table = _spans(20_000)
    hooks = SpanHooks()
    assert hooks(table) is table
    hooks.add_enricher("same", lambda table: table)
    hooks.add_detectors("quiet", [Detector("quiet", None)])
    assert hooks(table) is not None and pc.all(pc.is_null(hooks(table).column("hallucination_risk"))).as_py()
