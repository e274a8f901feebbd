"""The trace-level fields of a trace, merged from its rows as Langfuse's upserts would leave them."""

from __future__ import annotations

from typing import Any

from lynex_box.sources.langfuse.trace_view import merged_trace


def trace_row(source: str, ingested: str, **values: Any) -> dict[str, Any]:
    return {"trace_id": "t1", "span_id": "t1", "parent_span_id": None, "source": source, "ingested_at": ingested,
            "start_time": "2025-03-01T10:00:00Z", "attributes": {}, **values}  # fmt: skip


def test_the_latest_non_null_value_of_each_field_wins_in_ingest_order() -> None:
    rows = [
        trace_row("langfuse-update", "2025-03-01T10:00:05.5Z", name="final", output={"a": 1}, tags=[]),
        trace_row("langfuse", "2025-03-01T10:00:01Z", name="draft", user_id="u1", input="q", tags=["x"],
                  attributes={"metadata": {"plan": "free"}}),
        trace_row("langfuse-update", "2025-03-01T10:00:05Z", name="middle", user_id=None, session_id="s1",
                  attributes={"metadata": {"plan": "pro"}}),
        {"trace_id": "t1", "span_id": "c1", "parent_span_id": "t1", "source": "langfuse", "name": "child",
         "ingested_at": "2025-03-01T10:00:09Z", "user_id": None, "environment": "prod", "attributes": {}},
    ]  # fmt: skip
    assert merged_trace(rows) == {
        "name": "final", "user_id": "u1", "session_id": "s1", "tags": ["x"], "input": "q", "output": {"a": 1},
        "metadata": {"plan": "pro"}, "release": None, "environment": "prod",
    }  # fmt: skip


def test_otlp_spans_name_the_trace_with_langfuse_trace_name_else_the_root_span_does() -> None:
    root = {"trace_id": "t", "span_id": "r", "parent_span_id": None, "source": "otlp", "name": "handle",
            "ingested_at": "2025-03-01T10:00:01Z", "start_time": "2025-03-01T10:00:00Z", "input": "hi",
            "output": "bye", "attributes": {}}  # fmt: skip
    child = {**root, "span_id": "c", "parent_span_id": "r", "name": "llm", "start_time": "2025-03-01T10:00:00.5Z",
             "attributes": {"langfuse.trace.name": "checkout", "langfuse.trace.output": '{"done": true}'}}  # fmt: skip
    assert merged_trace([root])["name"] == "handle"
    trace = merged_trace([child, root])
    assert (trace["name"], trace["input"], trace["output"]) == ("checkout", "hi", {"done": True})
