"""The SCORES record body: what a route encodes is exactly what the pipeline decodes; damage is reported, not stored."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lynex_box.scores import DATA_TYPES, SOURCES, Score, ScoreRecordError, decode_scores, encode_scores, parse_score

_TEXT = st.text(max_size=30)
_OPT = st.none() | _TEXT
SCORES = st.builds(
    Score,
    id=st.text(min_size=1, max_size=20),
    name=st.text(min_size=1, max_size=20),
    data_type=st.sampled_from(DATA_TYPES),
    value=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    string_value=_OPT,
    timestamp_us=st.integers(0, 2**62),
    trace_id=_OPT,
    span_id=_OPT,
    session_id=_OPT,
    dataset_run_id=_OPT,
    comment=_OPT,
    source=st.sampled_from(SOURCES),
    metadata=st.none() | st.just('{"k": [1, 2]}'),
    environment=_OPT,
    config_id=_OPT,
)


@given(st.lists(SCORES, max_size=5))
def test_a_record_gives_back_the_scores_it_was_made_of(scores: list[Score]) -> None:
    assert decode_scores(encode_scores(scores)) == (scores, [])


def test_generated_ids_and_times_are_kept_in_the_record() -> None:
    score = parse_score({"trace_id": "t1", "name": "acc", "value": 1})  # no id, no timestamp: the route makes them
    [decoded], errors = decode_scores(memoryview(encode_scores([score])))
    assert errors == [] and decoded.id == score.id and decoded.timestamp_us == score.timestamp_us


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": []}', b'{"scores": {}}'])
def test_a_body_that_is_no_scores_record_is_refused(body: bytes) -> None:
    with pytest.raises(ScoreRecordError):
        decode_scores(body)


def test_a_damaged_item_is_reported_and_the_others_kept() -> None:
    good = parse_score({"id": "s1", "trace_id": "t1", "name": "acc", "value": 0.5})
    whole = orjson.loads(encode_scores([good]))["scores"][0]
    damaged = [
        {**whole, "value": "high"},
        {**whole, "timestamp_us": "2025-01-01"},
        {**whole, "timestamp_us": 2**63},
        {**whole, "data_type": "GRADE"},
        {**whole, "name": ""},
        {**whole, "trace_id": 7},
        {k: v for k, v in whole.items() if k != "source"},
        {**whole, "extra": 1},
        "s1",
    ]
    scores, errors = decode_scores(orjson.dumps({"scores": [*damaged, whole]}))
    assert scores == [good]
    assert len(errors) == len(damaged)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_WHOLE = orjson.loads(encode_scores([parse_score({"id": "s1", "trace_id": "t1", "name": "acc", "value": 0.5})]))


@given(st.sampled_from(sorted(_WHOLE["scores"][0])), _JSON)
def test_any_value_in_any_field_is_a_score_or_an_error_never_a_crash(field: str, value: object) -> None:
    item = {**_WHOLE["scores"][0], field: value}
    scores, errors = decode_scores(orjson.dumps({"scores": [item]}))
    assert len(scores) + len(errors) == 1


@given(st.binary(max_size=300) | st.builds(orjson.dumps, _JSON))
def test_any_body_decodes_or_is_refused(body: bytes) -> None:
    with contextlib.suppress(ScoreRecordError):
        decode_scores(body)
