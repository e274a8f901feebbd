"""Langfuse legacy ingestion, the pure part: checking a batch, mapping its events to rows, folding updates."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lynex_box.config import IngestSettings
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.langfuse import ObservationHints, answer, batch_rows, fold_langfuse_rows, plan_batch
from lynex_box.sources.langfuse.batch import InvalidBatch
from lynex_box.sources.langfuse.observations import cost_details, usage_details

T0 = "2025-03-01T10:00:00.000Z"
T1 = "2025-03-01T10:00:01.000Z"
T2 = "2025-03-01T10:00:02.500Z"
RECEIVED = 1_740_823_205_000_000


def ev(item_id: str, kind: str, body: dict[str, Any], timestamp: str = T0) -> dict[str, Any]:
    return {"id": item_id, "type": kind, "timestamp": timestamp, "body": body}


def trace(**body: Any) -> dict[str, Any]:
    return ev("e-trace", "trace-create", {"id": "t1", "timestamp": T0, **body})


def rows_by_span(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["span_id"]: r for r in rows}


def test_a_trace_becomes_a_root_row_that_observations_without_parent_hang_under() -> None:
    batch = [
        trace(name="checkout", userId="u1", sessionId="s1", tags=["prod"], input={"cart": 3}, release="r7"),
        ev("e1", "span-create", {"id": "sp1", "traceId": "t1", "name": "retrieve", "startTime": T0, "endTime": T1}),
        ev("e2", "event-create", {"id": "ev1", "traceId": "t1", "parentObservationId": "sp1", "name": "cache-miss"}),
    ]
    rows = rows_by_span(batch_rows(plan_batch({"batch": batch}).events, "p1", RECEIVED))
    root = rows["t1"]
    assert (root["trace_id"], root["parent_span_id"]) == ("t1", None)
    assert (root["name"], root["event_id"]) == ("checkout", "e-trace")
    assert (root["user_id"], root["session_id"], root["tags"], root["release"]) == ("u1", "s1", ["prod"], "r7")
    assert orjson.loads(root["input"]) == {"cart": 3}
    assert rows["sp1"]["parent_span_id"] == "t1" and rows["sp1"]["duration_ms"] == 1000.0
    assert (rows["ev1"]["parent_span_id"], rows["ev1"]["kind"]) == ("sp1", "event")
    assert all(r["project_id"] == "p1" and r["source"] == "langfuse" for r in rows.values())


def test_create_and_update_in_one_batch_merge_into_one_generation_row() -> None:
    batch = [
        trace(),
        ev("e1", "generation-create", {
            "id": "g1", "traceId": "t1", "name": "llm", "startTime": T0, "model": "gpt-4o",
            "modelParameters": {"temperature": 0.3}, "promptName": "greet", "promptVersion": 2,
            "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        }),
        ev("e2", "generation-update", {
            "id": "g1", "endTime": T2, "output": {"role": "assistant", "content": "Hello"},
            "usage": {"promptTokens": 1000, "completionTokens": 200, "totalTokens": 1200},
            "level": "ERROR", "statusMessage": "truncated",
        }, T2),
    ]  # fmt: skip
    rows = batch_rows(plan_batch({"batch": batch}).events, "p1", RECEIVED)
    assert len(rows) == 2
    gen = rows_by_span(rows)["g1"]
    assert (gen["kind"], gen["model"], gen["event_id"], gen["parent_span_id"]) == ("llm", "gpt-4o", "e1", "t1")
    assert (gen["input_tokens"], gen["output_tokens"], gen["total_tokens"]) == (1000, 200, 1200)
    assert (gen["status"], gen["status_message"]) == ("error", "truncated")
    assert (gen["prompt_name"], gen["prompt_version"]) == ("greet", "2")
    assert gen["duration_ms"] == 2500.0
    assert orjson.loads(gen["input"])["messages"][1] == {"role": "user", "content": "Hi"}
    assert orjson.loads(gen["output"])["messages"][0] == {"role": "assistant", "content": "Hello"}
    assert orjson.loads(gen["attributes"])["model_parameters"] == {"temperature": 0.3}
    assert gen["cost_source"] is None  # no reported cost: the pipeline computes one


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"usageDetails": {"input": 10, "output": 5, "input_cached_tokens": 4}}, (14, 5, 4, None)),
        ({"usage": {"input": 7, "output": 3, "total": 10, "unit": "TOKENS"}}, (7, 3, None, None)),
        ({"usage": {"input": 7, "output": 3, "unit": "CHARACTERS"}}, (None, None, None, None)),
        ({"usage": {"promptTokens": 12, "completionTokens": 8}}, (12, 8, None, None)),
        (
            {
                "usageDetails": {
                    "prompt_tokens": 100,
                    "completion_tokens": 40,
                    "total_tokens": 140,
                    "prompt_tokens_details": {"cached_tokens": 60},
                    "completion_tokens_details": {"reasoning_tokens": 30},
                }
            },
            (100, 40, 60, 30),
        ),
        (
            {
                "usageDetails": {
                    "input_tokens": 50,
                    "output_tokens": 10,
                    "total_tokens": 60,
                    "input_tokens_details": {"cached_tokens": 20},
                }
            },
            (50, 10, 20, None),
        ),
    ],
)
def test_every_usage_shape_gives_the_same_token_columns(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    batch = [ev("e1", "generation-create", {"id": "g1", "traceId": "t1", "model": "gpt-4o", **body})]
    row = batch_rows(plan_batch({"batch": batch}).events, "p1", RECEIVED)[0]
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == expected


def test_cost_details_win_over_usage_costs_and_are_kept_as_reported() -> None:
    body = {"usage": {"input": 1, "output": 1, "inputCost": 9.0, "totalCost": 9.0}, "costDetails": {"total": 0.25}}
    assert cost_details(body) == {"total": 0.25}
    assert cost_details({"usage": body["usage"]}) == {"input": 9.0, "total": 9.0}
    assert usage_details({"usage": {"unit": "IMAGES", "input": 1}}) is None
    row = batch_rows([ev("e1", "generation-create", {"id": "g", "traceId": "t", **body})], "p1", RECEIVED)[0]
    assert (row["total_cost"], row["cost_source"]) == (0.25, "reported")


def test_a_later_update_is_its_own_row_priced_with_the_model_its_create_named() -> None:
    hints = ObservationHints()
    create = [ev("e1", "generation-create", {"id": "g1", "traceId": "t1", "startTime": T0, "model": "gpt-4o"})]
    first = batch_rows(create, "p1", RECEIVED, hints)[0]
    update = [ev("e2", "generation-update", {"id": "g1", "traceId": "t1", "endTime": T2,
                                             "usageDetails": {"input": 10, "output": 2}}, T2)]  # fmt: skip
    second = batch_rows(update, "p1", RECEIVED + 5_000_000, hints)[0]
    assert (second["span_id"], second["event_id"], second["source"]) == ("g1", "e2", "langfuse-update")
    assert (second["model"], second["kind"], second["duration_ms"]) == ("gpt-4o", "llm", None)
    assert first["event_id"] != second["event_id"]  # so the pipeline's dedupe keeps both
    other = batch_rows(update, "p2", RECEIVED, ObservationHints())[0]
    assert other["model"] is None  # another project's hints are never used


def test_fold_merges_an_update_row_into_its_observation_as_langfuse_would() -> None:
    base = {
        "trace_id": "t1", "span_id": "g1", "event_id": "e1", "source": "langfuse", "kind": "llm",
        "start_time": "2025-03-01T10:00:00Z", "end_time": None, "duration_ms": None, "status": "unset",
        "model": "gpt-4o", "input_tokens": None, "total_cost": None, "cost_source": None, "tags": ["a"],
        "attributes": {"model_parameters": {"t": 1}}, "ingested_at": "2025-03-01T10:00:05Z", "output": None,
    }  # fmt: skip
    update = {
        **base, "event_id": "e2", "source": "langfuse-update", "start_time": "2025-03-01T10:00:02.5Z",
        "end_time": "2025-03-01T10:00:02.500000Z", "status": "error", "input_tokens": 10, "total_cost": 0.1,
        "cost_source": "computed", "tags": [], "attributes": {"langfuse.x": 1}, "output": "done",
        "ingested_at": "2025-03-01T10:00:06Z",
    }  # fmt: skip
    other = {"trace_id": "t1", "span_id": "x", "source": "otlp"}
    folded = fold_langfuse_rows([update, other, base])
    assert len(folded) == 2 and folded[1] is other
    span = folded[0]
    assert (span["event_id"], span["source"], span["start_time"]) == ("e1", "langfuse", "2025-03-01T10:00:00Z")
    assert (span["status"], span["input_tokens"], span["output"], span["tags"]) == ("error", 10, "done", ["a"])
    assert (span["total_cost"], span["cost_source"], span["duration_ms"]) == (0.1, "computed", 2500.0)
    assert span["attributes"] == {"model_parameters": {"t": 1}, "langfuse.x": 1}


def test_plan_answers_every_item_and_keeps_only_what_it_accepts() -> None:
    batch = [
        trace(),
        ev("e-score", "score-create", {"traceId": "t1", "name": "accuracy", "value": 0.5}),
        ev("e-log", "sdk-log", {"log": "hello"}),
        ev("e-bad-type", "trace-delete", {"id": "t1"}),
        ev("e-orphan", "span-update", {"id": "nope"}),
        ev("e-bad-time", "span-create", {"id": "s9", "traceId": "t1", "startTime": "yesterday"}),
        ev("e-bad-score", "score-create", {"traceId": "t1", "name": "x", "value": "high", "dataType": "NUMERIC"}),
        "not an object",
        {"id": "e-no-body", "type": "span-create"},
    ]
    plan = plan_batch({"batch": batch, "metadata": {"sdk_name": "python"}})
    reply = answer(plan)
    assert {s["id"] for s in reply["successes"]} == {"e-trace", "e-score", "e-log"}
    errors = {e["id"]: e for e in reply["errors"]}
    assert set(errors) == {"e-bad-type", "e-orphan", "e-bad-time", "e-bad-score", "#7", "e-no-body"}
    assert all(e["status"] == 400 and e["message"] for e in errors.values())
    assert "traceId" in errors["e-orphan"]["message"] and "startTime" in errors["e-bad-time"]["message"]
    assert [e["id"] for e in plan.events] == ["e-trace"]
    assert (plan.scores[0].id, plan.scores[0].trace_id) == ("e-score", "t1")  # no body id: the event id, for retries


@pytest.mark.parametrize("doc", [[], {"events": []}, {"batch": {}}, "x"])
def test_a_request_that_is_not_a_batch_is_refused_whole(doc: Any) -> None:
    with pytest.raises(InvalidBatch):
        plan_batch(doc)


def test_events_with_times_outside_the_window_are_per_event_errors() -> None:
    window = TimeWindow.at(IngestSettings(), RECEIVED)
    batch = [
        trace(),
        ev("e-far", "span-create", {"id": "s1", "traceId": "t1", "startTime": "2199-12-31T00:00:00Z"}),
        ev("e-old", "generation-create", {"id": "s2", "traceId": "t1", "endTime": "1999-06-01T00:00:00Z"}),
        ev("e-stamp", "event-create", {"id": "s3", "traceId": "t1"}, timestamp="2199-01-01T00:00:00Z"),
        ev("e-ok", "span-create", {"id": "s4", "traceId": "t1", "startTime": T1}),
    ]
    plan = plan_batch({"batch": batch}, window)
    errors = {e["id"]: e["message"] for e in answer(plan)["errors"]}
    assert set(errors) == {"e-far", "e-old", "e-stamp"}
    assert errors["e-far"].startswith("body.startTime: 2199-12-31T00:00:00Z is more than 86400 s ahead")
    assert "body.endTime: 1999-06-01T00:00:00Z is before 2000-01-01T00:00:00Z" in errors["e-old"]
    assert errors["e-stamp"].startswith("timestamp: 2199-01-01")
    assert [e["id"] for e in plan.events] == ["e-trace", "e-ok"]
    assert len(plan_batch({"batch": batch}).events) == 5  # no window: as before
