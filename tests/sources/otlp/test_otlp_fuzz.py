"""Fuzzing: no body a client sends makes the decoders raise anything but OtlpDecodeError, and no attribute set
makes the mapping raise anything but SpanRejected."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.schema.span import SPAN_KINDS, SPAN_STATUSES
from lynex_box.sources.otlp import conventions
from lynex_box.sources.otlp.decode import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
)
from lynex_box.sources.otlp.events import join_log_events
from lynex_box.sources.otlp.mapping import map_span, map_spans
from lynex_box.sources.otlp.records import OtlpDecodeError, OtlpLogRecord
from lynex_box.sources.otlp.values import MAX_TEXT_DEPTH, loads_maybe
from tests import fuzz_targets

from .builders import js, make_span, trace_request

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Attribute values as decode produces them (AnyValue → Python), plus JSON text of any value and non-finite floats.
attribute_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
) | json_values.map(lambda value: orjson.dumps(value).decode())
MESSAGE_KEYS = [
    "role",
    "content",
    "parts",
    "tool_calls",
    "message",
    "type",
    "text",
    "id",
    "name",
    "messages",
    "choices",
]
message_like = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(MESSAGE_KEYS), children, max_size=4)
    ),
    max_leaves=12,
).map(lambda value: orjson.dumps(value).decode())
FLAT_KEYS = [
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.contents.1.message_content.text",
    "llm.input_messages.x.message.role",
    "llm.output_messages.2.message.tool_calls.0.tool_call.function.name",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.1.tool_calls.0.arguments",
    "gen_ai.completion.0.finish_reason",
    "traceloop.association.properties.user_id",
    "traceloop.association.properties.x",
    "langfuse.observation.metadata.k",
    "langfuse.trace.metadata.k",
    "llm.prompts.0.content",
]
attribute_keys = st.sampled_from(sorted(conventions.KNOWN_KEYS) + FLAT_KEYS) | st.text(max_size=30)
attribute_sets = st.dictionaries(attribute_keys, attribute_values | message_like, max_size=12)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_never_escape_as_other_errors(body: bytes) -> None:
    for decode in (decode_traces_protobuf, decode_traces_json, decode_logs_protobuf, decode_logs_json):
        with contextlib.suppress(OtlpDecodeError):
            decode(body)


VALID_BODY = trace_request(
    [make_span({"gen_ai.request.model": "m", "k": [1, {"a": b"x"}]}, events=[("e", {"x": 1.5})])],
    resource={"service.name": "s"},
).SerializeToString()


@FUZZ
@given(st.integers(0, len(VALID_BODY) - 1), st.binary(min_size=1, max_size=8), st.integers(0, len(VALID_BODY)))
def test_mutated_protobuf_bodies(position: int, patch: bytes, cut: int) -> None:
    body = (VALID_BODY[:position] + patch + VALID_BODY[position + len(patch) :])[:cut]
    try:
        spans = decode_traces_protobuf(body)
    except OtlpDecodeError:
        return
    map_spans(spans)  # whatever decoded must map or be counted as rejected, never raise


SPAN_FIELDS = [
    "traceId",
    "spanId",
    "parentSpanId",
    "name",
    "kind",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "attributes",
    "events",
    "status",
    "links",
]


@FUZZ
@given(
    st.dictionaries(st.sampled_from(SPAN_FIELDS), json_values, max_size=6),
    json_values,
    st.sampled_from(["resourceSpans", "resource_spans"]),
)
def test_json_shaped_like_otlp(span: dict[str, Any], resource: Any, top_key: str) -> None:
    body = orjson.dumps({top_key: [{"resource": resource, "scopeSpans": [{"scope": resource, "spans": [span]}]}]})
    try:
        spans = decode_traces_json(body)
    except OtlpDecodeError:
        return
    map_spans(spans)


@FUZZ
@given(
    attribute_sets,
    st.lists(
        st.tuples(st.sampled_from([*sorted(conventions.GENAI_SPAN_EVENTS), "exception"]), attribute_sets), max_size=3
    ),
    st.integers(0, 3),
)
def test_mapping_any_attributes_gives_a_valid_row(
    attributes: dict[str, Any], events: list[tuple[str, dict[str, Any]]], status_code: int
) -> None:
    row = map_span(make_span(attributes, events=events, status_code=status_code, resource=attributes))
    assert row["kind"] in SPAN_KINDS and row["status"] in SPAN_STATUSES
    for column in ("input", "output", "tool_calls", "attributes"):
        if row[column] is not None:
            orjson.loads(row[column])
    for column in (
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "total_tokens",
        "_cache_write_tokens",
    ):
        assert row[column] is None or type(row[column]) is int
    for column in ("input_cost", "output_cost", "total_cost"):
        assert row[column] is None or (isinstance(row[column], float) and math.isfinite(row[column]))
    for column in (
        "provider",
        "model",
        "response_model",
        "session_id",
        "user_id",
        "environment",
        "release",
        "prompt_name",
        "prompt_version",
    ):
        assert row[column] is None or isinstance(row[column], str)
    assert all(isinstance(tag, str) for tag in row["tags"])
    join_log_events(
        {row["event_id"]: row}, [OtlpLogRecord(row["trace_id"], row["span_id"], 1, "gen_ai.choice", attributes, {})]
    )


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(sorted(conventions.GENAI_SPAN_EVENTS)), json_values | message_like), max_size=5)
)
def test_join_any_log_bodies(events: list[tuple[str, Any]]) -> None:
    row = map_span(make_span({"gen_ai.input.messages": js([{"role": "user", "content": "x"}])}))
    records = [
        OtlpLogRecord(row["trace_id"], row["span_id"], i, name, body, {}) for i, (name, body) in enumerate(events)
    ]
    assert join_log_events({row["event_id"]: row}, records) == []
    for column in ("input", "output", "tool_calls"):
        if row[column] is not None:
            orjson.loads(row[column])


# --- the whole pre-ack check and pipeline path, shared with bench/fuzz.py otlp (tests/fuzz_targets.py) ------------


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_through_check_decode_and_pipeline(body: bytes) -> None:
    fuzz_targets.otlp(body)


@FUZZ
@given(
    st.sampled_from(fuzz_targets.seeds("otlp")),
    st.integers(1, 2000),
    st.binary(min_size=1, max_size=8),
    st.integers(0, 8),
)
def test_mutated_requests_through_check_decode_and_pipeline(seed: bytes, position: int, patch: bytes, cut: int) -> None:
    fuzz_targets.otlp(seed[:position] + patch + seed[position + cut :])


DEEP_TEXT = ["[" * 300 + "]" * 300, '{"a":' * 300 + "1" + "}" * 300, "[" * 65 + "]" * 65]
TEXT_KEYS = ["gen_ai.input.messages", "gen_ai.output.messages", "input.value", "output.value", "traceloop.entity.input",
             "langfuse.observation.input", "langfuse.observation.metadata.x", "gen_ai.tool.definitions"]  # fmt: skip


@pytest.mark.parametrize("key", TEXT_KEYS)
def test_json_text_nested_too_deep_is_kept_as_text_not_dropped(key: str) -> None:
    """Such a span passed the pre-ack check and was answered 200, then the mapping raised TypeError (orjson writes at
    most 254 levels) and the pipeline dropped it: JSON text deeper than MAX_TEXT_DEPTH now stays text."""
    for text in DEEP_TEXT:
        batch = map_spans([make_span({key: text, "gen_ai.request.model": "m"})])
        assert batch.rejected == 0, batch.error_message
        row = batch.rows[0]
        for column in ("input", "output", "tool_calls", "attributes"):
            if row[column] is not None:
                orjson.dumps({"spans": [{column: orjson.loads(row[column])}]})
        assert text in orjson.dumps(row).decode().replace("\\", "")
    shallow = "[" * MAX_TEXT_DEPTH + "]" * MAX_TEXT_DEPTH
    assert loads_maybe(shallow) == orjson.loads(shallow) and loads_maybe(DEEP_TEXT[2]) == DEEP_TEXT[2]
