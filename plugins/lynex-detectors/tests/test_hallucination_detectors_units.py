"""The `detectors` plugin on real span tables through the server's own SpanHooks: only LLM spans are scored; a
retriever span of the same trace in the same batch grounds the answer; OTLP-shaped outputs give the finish reason,
`model_parameters.response_format` asks for JSON; each detector's score and `code: excerpt` reasons land in
`hallucination_risk` and the `detections` column; the settings are validated with the key named."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest
from lynex_detectors import ConfigError, create, validate

from lynex_box.plugins.spanhooks import SpanHooks
from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table

DOC = "The Eiffel Tower was completed in 1889 and is 330 metres tall."


def _spans(rows: list[dict[str, Any]]) -> pa.Table:
    n = len(rows)
    values: dict[str, list[Any]] = {name: [None] * n for name in SPAN_COLUMNS}
    values.update(project_id=["proj_a"] * n, span_id=[f"s{i}" for i in range(n)], event_id=[f"e{i}" for i in range(n)],
                  start_time=list(range(n)), ingested_at=[0] * n)  # fmt: skip
    for i, row in enumerate(rows):
        for key, value in row.items():
            values[key][i] = value if isinstance(value, str) or value is None else orjson.dumps(value).decode()
    return spans_to_table(values)


def _run(table: pa.Table, config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    hooks = SpanHooks()
    hooks.add_detectors("detectors", create(config or {}).lynex_detectors())
    out = hooks(table).to_pylist()
    for row in out:
        row["detections"] = orjson.loads(row["detections"]) if row["detections"] else []
    return out


def _codes(row: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for d in row["detections"]:
        found.setdefault(d["detector"], []).append(d["code"])
    return found


def test_an_answer_is_grounded_by_the_retriever_span_of_its_trace_in_the_same_batch() -> None:
    retrieval = {"retrieval.documents": [{"document.content": DOC, "document.id": "eiffel.md"}]}
    table = _spans([
        {"trace_id": "t1", "kind": "retriever", "attributes": retrieval},
        {"trace_id": "t1", "kind": "llm", "input": "How tall is it?", "output": {"messages": [
            {"role": "assistant", "content": "It is 330 metres tall and was completed in 1889 [1]."}],
            "finish_reason": "stop"}},
        {"trace_id": "t2", "kind": "chat", "input": "How tall is it?", "output": {"messages": [
            {"role": "assistant", "content": "It is 412 metres tall, built by Acme Corp [1]."}]}},
        {"trace_id": "t2", "kind": "retriever", "attributes": {"retrieval.documents": [{"document.content": DOC}]}},
        {"trace_id": "t3", "kind": "tool", "input": "How tall is it?", "output": "It is 412 metres tall."},
        {"trace_id": "t4", "kind": "retriever", "output": [DOC]},  # native: documents as output, no attributes
        {"trace_id": "t4", "kind": "llm", "input": "How tall is it?", "output": "It is 412 metres tall."},
    ])  # fmt: skip
    rows = _run(table)
    assert rows[1]["hallucination_risk"] == 0.0 and rows[1]["detections"] == []
    assert rows[2]["hallucination_risk"] == 1.0  # both of its two facts are ungrounded
    assert _codes(rows[2]) == {"grounding": ["ungrounded_number", "ungrounded_entity"]}
    assert [(d["code"], d["excerpt"]) for d in rows[2]["detections"]] == [
        ("ungrounded_number", "412"),
        ("ungrounded_entity", "Acme Corp"),
    ]
    assert rows[0]["hallucination_risk"] is None and rows[4]["hallucination_risk"] is None  # not LLM calls
    assert _codes(rows[6]) == {"grounding": ["ungrounded_number"]}


def test_truncation_json_refusal_language_and_citations_on_llm_spans() -> None:
    table = _spans([
        {"trace_id": "a", "kind": "llm", "input": "Explain recursion.",
         "output": {"messages": [{"role": "assistant", "content": "Recursion is when a function"}],
                    "finish_reason": "length"}},
        {"trace_id": "b", "kind": "llm", "input": "Extract the items.", "output": "items: pen, paper",
         "attributes": {"model_parameters": {"response_format": {"type": "json_object"}}}},
        {"trace_id": "c", "kind": "llm", "input": "Help me.", "output": "I'm sorry, but I can't help with that."},
        {"trace_id": "d", "kind": "chat", "input": "Wie kann ich mein Passwort zurücksetzen? Ich finde es nicht.",
         "output": "You can reset it in the settings page, and then you will get an email with a link."},
        {"trace_id": "e", "kind": "llm", "input": "Where is it documented?",
         "output": "See https://help.example.org/faq for details."},
        {"trace_id": "f", "kind": "llm", "input": "Look it up.", "output": "", "tool_calls": [{"name": "lookup"}]},
        {"trace_id": "g", "kind": "llm", "input": "Say hi.", "output": ""},
        {"trace_id": "h", "kind": "llm", "input": "Say hi.", "output": "Hi!", "attributes":
            {"metadata": {"finish_reason": "length"}}},
    ])  # fmt: skip
    rows = _run(table)
    assert _codes(rows[0]) == {"completeness": ["truncated"]} and rows[0]["hallucination_risk"] == 0.6
    assert _codes(rows[1]) == {"json": ["invalid_json"]} and rows[1]["hallucination_risk"] == 0.8
    assert _codes(rows[2]) == {"refusal": ["refusal"]} and rows[2]["hallucination_risk"] == 0.5
    assert _codes(rows[3]) == {"language": ["language_mismatch"]}
    assert rows[3]["detections"][0]["excerpt"] == "asked in de, answered in en"
    assert _codes(rows[4]) == {"citations": ["unknown_citation"]}
    assert _codes(rows[5]) == {} and rows[5]["hallucination_risk"] == 0.0  # tool calls, no text: not empty
    assert _codes(rows[6]) == {"completeness": ["empty"]}
    assert _codes(rows[7]) == {"completeness": ["truncated"]}


def test_settings_choose_detectors_scores_and_threshold() -> None:
    table = _spans([{"trace_id": "c", "kind": "llm", "input": "Help me.", "output": "I'm sorry, but I can't."}])
    assert _run(table, {"enabled": ["json"]})[0]["hallucination_risk"] is None
    assert _run(table, {"refusal_score": 0.9})[0]["hallucination_risk"] == 0.9
    quiet = _run(table, {"threshold": 0.6})[0]  # the refusal's 0.5 is under it: dropped
    assert quiet["hallucination_risk"] == 0.0 and quiet["detections"] == []


@pytest.mark.parametrize(
    ("config", "named"),
    [({"enabled": ["grounding", "nope"]}, "enabled"), ({"threshold": 2}, "threshold"),
     ({"refusal_score": "high"}, "refusal_score"), ({"grounding_min_prompt_chars": -1}, "grounding_min_prompt_chars"),
     ({"colour": 1}, "unknown key")],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_key(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        validate(config)
