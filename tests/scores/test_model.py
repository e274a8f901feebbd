"""Scores: both spellings parse to one validated shape; every bad value is refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from lynex_box.scores import InvalidScore, parse_score


def test_langfuse_and_native_spellings_give_the_same_score() -> None:
    theirs = parse_score({"id": "s1", "traceId": "t1", "observationId": "o1", "name": "acc", "value": 0.75,
                          "dataType": "NUMERIC", "comment": "ok", "timestamp": "2025-01-01T00:00:00Z"})  # fmt: skip
    ours = parse_score({"id": "s1", "trace_id": "t1", "span_id": "o1", "name": "acc", "value": 0.75,
                        "data_type": "numeric", "comment": "ok", "timestamp": "2025-01-01T00:00:00Z"})  # fmt: skip
    assert theirs == ours
    assert theirs.as_dict()["timestamp"] == "2025-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("value", "data_type", "expected"),
    [
        (0.5, None, ("NUMERIC", 0.5, None)),
        (True, None, ("BOOLEAN", 1.0, "True")),
        (0, "BOOLEAN", ("BOOLEAN", 0.0, "False")),
        ("false", "BOOLEAN", ("BOOLEAN", 0.0, "False")),
        ("good", None, ("CATEGORICAL", None, "good")),
        ("a long free text", "TEXT", ("TEXT", None, "a long free text")),
    ],
)
def test_values_are_stored_by_type(value: Any, data_type: str | None, expected: tuple[Any, ...]) -> None:
    score = parse_score({"trace_id": "t", "name": "n", "value": value, "data_type": data_type})
    assert (score.data_type, score.value, score.string_value) == expected


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"trace_id": "t", "name": "n", "value": "high", "data_type": "NUMERIC"}, "NUMERIC"),
        ({"trace_id": "t", "name": "n", "value": float("nan")}, "finite"),
        ({"trace_id": "t", "name": "n", "value": 2, "data_type": "BOOLEAN"}, "BOOLEAN"),
        ({"trace_id": "t", "name": "n", "value": 1, "data_type": "CATEGORICAL"}, "CATEGORICAL"),
        ({"trace_id": "t", "name": "n", "value": 1, "data_type": "STARS"}, "data_type"),
        ({"trace_id": "t", "name": "", "value": 1}, "name"),
        ({"trace_id": "t", "name": "n"}, "value"),
        ({"name": "n", "value": 1}, "trace_id"),
        ({"span_id": "o", "name": "n", "value": 1}, "trace_id"),
        ({"trace_id": "t", "name": "n", "value": 1, "source": "GUESS"}, "source"),
        ({"trace_id": 5, "name": "n", "value": 1}, "trace_id"),
        ({"trace_id": "t", "name": "n", "value": 1, "timestamp": "soon"}, "timestamp"),
        ("score", "object"),
    ],
)
def test_invalid_scores_name_the_field(obj: Any, field: str) -> None:
    with pytest.raises(InvalidScore, match=field):
        parse_score(obj)


def test_a_score_without_id_or_time_gets_the_defaults_given() -> None:
    score = parse_score({"sessionId": "s", "name": "n", "value": 1}, default_id="evt-1", default_time_us=5)
    assert (score.id, score.timestamp_us, score.session_id, score.source) == ("evt-1", 5, "s", "API")
