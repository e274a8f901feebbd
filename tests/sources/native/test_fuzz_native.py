"""Fuzzing the native events path: any body is a 4xx or is stored, and what is stored decodes in the pipeline.

The checks are `tests.fuzz_targets.native` (shared with `bench/fuzz.py native`, which runs them for hours); here
hypothesis feeds them bytes, mutated valid bodies, and JSON shaped like events with deep, odd and invalid values.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.sources.common.jsondepth import json_depth
from tests import fuzz_targets
from tests.sources.native.test_validate import events as fuzzed_events

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEED = fuzz_targets.seeds("native")[0][1:]

TRICKY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\ \u00e9\u2028\ud7ffa0:,'), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TRICKY_TEXT
json_values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(TRICKY_TEXT, c, max_size=3), max_leaves=16
)


def nested(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


def depth_of(value: Any) -> int:
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return 1 + max((depth_of(child) for child in children), default=0)
    return 0


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes(data: bytes) -> None:
    fuzz_targets.native(data)


@FUZZ
@given(st.integers(0, len(SEED)), st.binary(min_size=1, max_size=6), st.integers(0, 6), st.integers(0, 7))
def test_mutated_valid_bodies(position: int, patch: bytes, cut: int, encoding: int) -> None:
    fuzz_targets.native(bytes([encoding]) + SEED[:position] + patch + SEED[position + cut :])


@FUZZ
@given(
    st.lists(fuzzed_events(), max_size=4),
    st.sampled_from(["input", "output", "metadata", "tool_calls", "error", "prompt", "name"]),
    json_values,
    st.integers(0, 130),
)
def test_events_with_odd_and_deep_values(events: list[dict[str, Any]], key: str, value: Any, depth: int) -> None:
    events.append({"name": "odd", key: nested(depth, value)})
    try:
        body = orjson.dumps({"events": events}, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # integers past 64 bits, NaN: the sender's JSON library would refuse them too
        return
    fuzz_targets.native_body(body)


@FUZZ
@given(st.lists(fuzzed_events(), min_size=1, max_size=3), st.binary(min_size=1, max_size=3), st.data())
def test_invalid_utf8_anywhere(events: list[dict[str, Any]], junk: bytes, data: st.DataObject) -> None:
    body = orjson.dumps({"events": events}, option=orjson.OPT_NON_STR_KEYS)
    quotes = [i for i, byte in enumerate(body) if byte == ord('"')]
    at = data.draw(st.sampled_from(quotes)) + 1  # inside a string: where a client's bad encoder would put it
    fuzz_targets.native_body(body[:at] + b"\xff" + junk + body[at:])


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 40))
def test_json_depth_counts_levels_as_a_parser_does(value: Any, extra: int) -> None:
    value = nested(extra, value)
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # integers past 64 bits
        return
    assert json_depth(text) == depth_of(orjson.loads(text)) == depth_of(value)
    assert json_depth(orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2)) == depth_of(value)


def test_json_depth_edge_cases() -> None:
    cases = {b"1": 0, b'"[{"': 0, b"[]": 1, b'{"a": "]]]"}': 1, b'["\\\\", ["\\""]]': 2, b'[["\\\\\\"[["]]': 2}
    for text, depth in cases.items():
        assert json_depth(text) == depth, text
