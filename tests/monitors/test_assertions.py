"""Monitor assertions and the JSON path subset: what passes, what fails and why, what is refused when saved."""

from __future__ import annotations

import time

import pytest

from lynex_box.monitors import jsonpath
from lynex_box.monitors.assertions import Answer, AssertionSpecError, check, parse_assertions

DOC = {"data": {"items": [{"id": 7, "ok": True}, {"id": 8}], "odd key": "x"}, "n": 1.0}


def _answer(**kw: object) -> Answer:
    base: dict[str, object] = {"status": 200, "latency_ms": 120.0, "body": '{"a": 1}', "json": DOC, "answer": None}
    return Answer(**(base | kw))  # type: ignore[arg-type]


def _run(raw: list[dict[str, object]], kind: str = "http", **answer: object) -> list[tuple[str, bool]]:
    outcomes = check(parse_assertions(raw, kind, 256), _answer(**answer))
    return [(o.type, o.ok) for o in outcomes]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$", DOC),
        ("$.data.items[0].id", 7),
        ("$.data.items[-1].id", 8),
        ("$.data['odd key']", "x"),
        ('$["data"]["items"][1]', {"id": 8}),
        ("$.data.items[5]", jsonpath.MISSING),
        ("$.n.x", jsonpath.MISSING),
    ],
)
def test_the_json_path_subset_finds_values(path: str, value: object) -> None:
    assert jsonpath.find(DOC, jsonpath.parse(path)) == value or value is jsonpath.MISSING


@pytest.mark.parametrize(
    "path", ["data.x", "$..id", "$.items[*]", "$[?(@.id==7)]", "$.a[0:2]", "$.x()", "$" + ".a" * 40]
)
def test_paths_outside_the_subset_are_refused(path: str) -> None:
    with pytest.raises(jsonpath.PathError):
        jsonpath.parse(path)


def test_each_assertion_type_passes_and_fails() -> None:
    assert _run([{"type": "status", "equals": 200}]) == [("status", True)]
    assert _run([{"type": "status", "equals": 201}]) == [("status", False)]
    assert _run([{"type": "latency", "max_ms": 100}]) == [("status", True), ("latency", False)]
    assert _run([{"type": "json_path", "path": "$.data.items[0].id", "equals": 7}])[-1] == ("json_path", True)
    assert _run([{"type": "json_path", "path": "$.n", "equals": 1}])[-1] == ("json_path", True)  # 1 == 1.0
    assert _run([{"type": "json_path", "path": "$.data.items[0].ok", "equals": 1}])[-1] == ("json_path", False)
    assert _run([{"type": "json_path", "path": "$.data.nope", "exists": False}])[-1] == ("json_path", True)
    assert _run([{"type": "json_path", "path": "$.data", "exists": True}], json=jsonpath.MISSING)[-1][1] is False
    assert _run([{"type": "body_contains", "value": '"a"'}])[-1] == ("body_contains", True)
    assert _run([{"type": "body_matches", "pattern": r"\d+\}$"}])[-1] == ("body_matches", True)
    assert _run([{"type": "answer_contains", "value": "Paris"}], "model", answer="It is Paris.")[-1][1] is True
    assert _run([{"type": "answer_matches", "pattern": "^Lyon"}], "model", answer="Paris")[-1][1] is False


def test_without_a_status_assertion_an_error_status_fails() -> None:
    assert _run([], status=503) == [("status", False)]
    assert _run([{"type": "status", "equals": 503}], status=503) == [("status", True)]


def test_a_catastrophic_pattern_answers_at_once_and_a_backreference_is_refused() -> None:
    raw = [{"type": "body_matches", "pattern": r"(x+x+)+y"}]  # exponential for a backtracking engine
    started = time.monotonic()
    outcomes = check(parse_assertions(raw, "http", 256), _answer(body="x" * 50_000))
    assert time.monotonic() - started < 1
    assert not outcomes[-1].ok and "no match" in outcomes[-1].detail
    with pytest.raises(AssertionSpecError, match="not a valid RE2 expression"):
        parse_assertions([{"type": "body_matches", "pattern": r"(a)\1"}], "http", 256)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"type": "nope"}], "type must be one of"),
        ([{"type": "status", "equals": 99}], "HTTP status code"),
        ([{"type": "status", "equals": True}], "HTTP status code"),
        ([{"type": "latency", "max_ms": -1}], "max_ms"),
        ([{"type": "json_path", "path": "$..x", "exists": True}], "unsupported syntax"),
        ([{"type": "json_path", "path": "$.x"}], "exactly one of"),
        ([{"type": "body_matches", "pattern": "("}], "not a valid RE2 expression"),
        ([{"type": "body_matches", "pattern": "a" * 300}], "1..256 characters"),
        ([{"type": "answer_contains", "value": "x"}], "needs target.type = model"),
        ([{"type": "detector_score", "detector": "x"}], "not available yet"),
        ([{"type": "status", "equals": 200, "extra": 1}], "unknown keys"),
        ("status", "must be a list"),
    ],
)
def test_bad_assertions_are_refused_with_a_message(raw: object, message: str) -> None:
    with pytest.raises(AssertionSpecError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_assertions(raw, "http", 256)
