"""The compiled request check never accepts what the reference validator rejects, and takes the common request."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.sources.native.fastcheck import all_valid
from lynex_box.sources.native.validate import validate_event
from tests.sources.native.test_batch import EDGE_CASES, REALISTIC
from tests.sources.native.test_validate import events as fuzzed_events

MAX_FIELD = 64


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fuzzed_events(), min_size=0, max_size=5))
def test_accepts_only_what_the_reference_accepts(events: list[dict[str, Any]]) -> None:
    count = all_valid(orjson.dumps({"events": events}), MAX_FIELD)
    if count is not None:
        assert count == len(events)
        assert [validate_event(e, MAX_FIELD) for e in events] == [None] * len(events)


def test_takes_realistic_requests() -> None:
    events = REALISTIC + [e for e in EDGE_CASES if validate_event(e, 10_000) is None]
    assert len(events) > len(REALISTIC) + 5
    assert all_valid(orjson.dumps({"events": events}), 10_000) == len(events)


def test_leaves_every_doubt_to_the_reference() -> None:
    def check(request: Any) -> int | None:
        return all_valid(orjson.dumps(request), MAX_FIELD)

    assert check({"events": [{"name": "x" * MAX_FIELD}]}) == 1
    assert check({"events": [{"name": "x" * (MAX_FIELD + 1)}]}) is None  # too long
    assert check({"events": [{"event_id": 7}]}) is None  # not a string
    assert check({"events": [{"start_time": "2026-13-01T00:00:00Z"}]}) is None  # no such month
    assert check({"events": [{"start_time": 7_258_118_400_001}]}) is None  # after 2200
    assert check({"events": [{"usage": {"input_tokens": 3.0}}]}) is None  # the reference takes it; it decides
    assert check({"events": [{"usage": {"tokens": 3}}]}) is None  # unknown usage key
    assert check({"events": [{"metadata": [1]}]}) is None  # not an object
    assert check({"events": [{"type": "bogus"}]}) is None
    assert check({"events": [None]}) is None
    assert check({"events": [], "extra": 1}) is None  # the reference re-encodes without it
    assert all_valid(b'{"events": [', MAX_FIELD) is None
