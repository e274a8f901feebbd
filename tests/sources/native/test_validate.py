"""Native event validation: fuzzed events never crash it, and what it accepts always normalises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lynex_box.sources.native.normalize import normalize_event
from lynex_box.sources.native.validate import validate_event

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
)
keys = st.sampled_from(
    ["event_id", "trace_id", "span_id", "parent_span_id", "name", "type", "start_time", "end_time", "model",
     "provider", "input", "output", "usage", "cost", "status", "error", "session_id", "user_id", "environment",
     "release", "tags", "metadata", "prompt", "tool_calls", "status_message", "unknown_key"]
)  # fmt: skip
special = {
    "type": st.sampled_from(["llm", "tool", "generation", "bogus", 3]),
    "start_time": st.one_of(st.integers(-5, 2**45), st.text(max_size=30), st.just("2026-11-27T10:00:00Z")),
    "end_time": st.one_of(st.floats(allow_nan=False), st.just("2026-11-27T10:00:01.5+02:00")),
    "usage": st.dictionaries(
        st.sampled_from(["input_tokens", "output_tokens", "cached_tokens", "x"]),
        st.one_of(st.integers(-3, 10**9), st.floats(allow_nan=False), st.none(), st.booleans()),
    ),
    "cost": st.dictionaries(st.sampled_from(["input", "output", "total"]), st.floats(allow_nan=False, min_value=-1)),
    "tags": st.lists(st.one_of(st.text(max_size=5), st.integers(-(2**40), 2**40)), max_size=3),
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    out = {}
    for key in draw(st.lists(keys, max_size=10, unique=True)):
        strategy = special.get(key, json_value)
        out[key] = draw(strategy)
    return out


@settings(max_examples=400)
@given(events())
def test_validation_never_crashes_and_accepted_events_normalise(event: dict[str, Any]) -> None:
    error = validate_event(event, 10_000)
    assert error is None or isinstance(error, str)
    if error is None:
        row = normalize_event(event, "p1", 1_790_000_000_000_000, "fallback")
        assert row["project_id"] == "p1" and row["event_id"]
        assert row["start_time"] >= 0


def test_messages_name_the_field() -> None:
    assert validate_event({"usage": {"input_tokens": -1}}, 100) == "usage.input_tokens must be a number >= 0"
    assert validate_event({"trace_id": "x" * 300}, 100) == "trace_id is longer than 256 characters"
    assert validate_event({"input": "x" * 101}, 100) == "input is longer than 100 characters"
    assert validate_event({"end_time": "soon"}, 100) == "end_time: time 'soon' is not RFC 3339"
    assert validate_event([1], 100) == "event must be a JSON object"
    assert validate_event({"name": "ok", "future_field": {"x": 1}}, 100) is None
