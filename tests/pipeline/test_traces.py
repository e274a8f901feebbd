"""The open-trace table behind `trace_completed`, with a fake clock: a trace completes once idle for `idle_s` (not
before), its counts add up over steps, a late span opens a second entry, a full table completes the oldest early,
and the summary of a step is one row per trace."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lynex_box.pipeline.traces import TraceTracker, summarize
from lynex_box.schema.span import empty_span_columns, spans_to_table


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    def emit(self, topic: str, event: dict[str, Any]) -> None:
        assert topic == "trace_completed"
        self.got.append(event)

    def wants(self, topic: str) -> bool:
        return topic == "trace_completed"


def spans(*rows: tuple[str, str, str | None, str, str | None, int, int | None]) -> pa.Table:
    """(trace_id, span_id, parent_span_id, name, status, start_us, end_us) rows of project p1."""
    columns = empty_span_columns()
    for trace, span, parent, name, status, start, end in rows:
        values = {"project_id": "p1", "trace_id": trace, "span_id": span, "parent_span_id": parent, "event_id": span,
                  "name": name, "status": status, "start_time": start, "end_time": end, "ingested_at": 1}  # fmt: skip
        for key, items in columns.items():
            items.append(values.get(key))
    return spans_to_table(columns)


def tracker(idle_s: float = 30.0, max_open: int = 100) -> tuple[TraceTracker, Recorder, Clock]:
    events, clock = Recorder(), Clock()
    return TraceTracker(events, idle_s, max_open, clock=clock), events, clock


def test_a_trace_completes_once_idle_with_its_totals() -> None:
    t, events, clock = tracker(idle_s=30)
    t.observe(spans(("t1", "a", None, "agent", "ok", 100, 900), ("t1", "b", "a", "llm", "error", 200, 400)))
    clock.now += 10
    t.observe(spans(("t1", "c", "a", "tool", "error", 500, 1200)))
    clock.now += 29.9  # 29.9 s since its last span: still open
    assert t.sweep() == 0 and events.got == [] and t.open_count == 1
    clock.now += 0.2
    assert t.sweep() == 1
    assert events.got == [{"project_id": "p1", "trace_id": "t1", "span_count": 3, "error_count": 2,
                           "start_us": 100, "end_us": 1200, "root_name": "agent", "early": False}]  # fmt: skip
    assert t.open_count == 0 and t.completed == 1 and t.completed_early == 0


def test_the_root_may_come_in_a_later_step_and_a_span_without_end_counts_its_start() -> None:
    t, events, clock = tracker(idle_s=5)
    t.observe(spans(("t1", "b", "a", "llm", None, 300, None)))
    t.observe(spans(("t1", "a", None, "root", None, 100, 200)))
    clock.now += 5
    t.sweep()
    [event] = events.got
    assert (event["root_name"], event["start_us"], event["end_us"], event["span_count"]) == ("root", 100, 300, 2)


def test_a_late_span_after_completion_opens_a_second_entry() -> None:
    t, events, clock = tracker(idle_s=5)
    t.observe(spans(("t1", "a", None, "root", "ok", 100, 200)))
    clock.now += 6
    t.sweep()
    t.observe(spans(("t1", "late", "a", "eval", "ok", 300, 400)))
    clock.now += 6
    t.sweep()
    assert [(e["span_count"], e["root_name"], e["start_us"]) for e in events.got] == [(1, "root", 100), (1, None, 300)]


def test_only_idle_traces_complete_in_order_of_their_last_span() -> None:
    t, events, clock = tracker(idle_s=10)
    t.observe(spans(("t1", "a", None, "one", None, 1, 2)))
    clock.now += 5
    t.observe(spans(("t2", "b", None, "two", None, 1, 2)))
    clock.now += 4
    t.observe(spans(("t1", "c", "a", "x", None, 3, 4)))  # t1 active again: t2 is now the oldest
    clock.now += 6  # t2 idle 10 s, t1 idle 6 s
    assert t.sweep() == 1 and [e["trace_id"] for e in events.got] == ["t2"]
    clock.now += 4
    assert t.sweep() == 1 and [e["trace_id"] for e in events.got] == ["t2", "t1"]


def test_a_full_table_completes_the_oldest_early_and_counts_it() -> None:
    t, events, clock = tracker(idle_s=60, max_open=2)
    t.observe(spans(("t1", "a", None, "one", None, 1, 2)))
    clock.now += 1
    t.observe(spans(("t2", "b", None, "two", None, 1, 2)))
    clock.now += 1
    t.observe(spans(("t3", "c", None, "three", None, 1, 2), ("t2", "d", "b", "x", None, 1, 2)))
    assert [(e["trace_id"], e["early"]) for e in events.got] == [("t1", True)]
    assert t.open_count == 2 and t.completed_early == 1
    clock.now += 60
    t.sweep()
    assert sorted(e["trace_id"] for e in events.got if not e["early"]) == ["t2", "t3"]


def test_the_summary_is_one_row_per_trace_of_the_step() -> None:
    table = spans(*[(f"t{i % 3}", f"s{i}", None if i < 3 else f"s{i % 3}", f"n{i}", "error" if i == 4 else "ok",
                     i * 10, i * 10 + 5) for i in range(9)])  # fmt: skip
    rows = {r["trace_id"]: r for r in summarize(table).to_pylist()}
    assert rows["t1"] == {"project_id": "p1", "trace_id": "t1", "span_count": 3, "error_count": 1, "start_us": 10,
                          "end_us": 75, "root_name": "n1"}  # fmt: skip
    assert rows["t0"]["span_count"] == 3 and rows["t0"]["error_count"] == 0


def test_an_empty_step_changes_nothing() -> None:
    t, events, clock = tracker()
    t.observe(spans())
    clock.now += 1000
    assert t.sweep() == 0 and events.got == []
