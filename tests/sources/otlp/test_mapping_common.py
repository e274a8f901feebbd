"""What every mapped span row guarantees, whatever convention it came from."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest

from lynex_box.schema.span import (
    ADDED_COLUMNS,
    LLM_CALL_KINDS,
    SPAN_COLUMNS,
    SPAN_KINDS,
    SPAN_SCHEMA,
    SPAN_STATUSES,
    TIMESTAMP_COLUMNS,
    empty_span_columns,
    spans_to_table,
)
from lynex_box.sources.otlp import conventions
from lynex_box.sources.otlp.mapping import SpanRejected, map_span, map_spans, reject_reason

from .builders import PARENT_ID, SPAN_ID, START_NS, TRACE_ID, js, loads, make_span

# the columns of schema version 2 (model metadata, fingerprints, sampling) are filled by the pipeline's stages
STORED = set(SPAN_COLUMNS) - {"project_id", "ingested_at"} - set(ADDED_COLUMNS[2]) - set(ADDED_COLUMNS[3])


def test_row_has_exactly_the_stored_columns_plus_transient_keys() -> None:
    row = map_span(make_span({}))
    assert {key for key in row if not key.startswith("_")} == STORED
    assert {key for key in row if key.startswith("_")} == {"_cache_write_tokens"}
    assert (row["source"], row["event_id"], row["parent_span_id"]) == ("otlp", f"{TRACE_ID}:{SPAN_ID}", PARENT_ID)


def test_rows_build_an_arrow_table_in_the_stored_schema() -> None:
    rows = [
        map_span(make_span({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3, "tag.tags": ["t"]})),
        map_span(make_span({}, end=0, parent=None, span_id="2222222222222222")),
    ]
    columns = empty_span_columns()
    for row in rows:
        for name in SPAN_COLUMNS:
            columns[name].append(row.get(name, "p1" if name == "project_id" else 0 if name == "ingested_at" else None))
    table = spans_to_table(columns)
    assert table.num_rows == 2 and table.column("tags").to_pylist() == [["t"], []]
    assert table.column("start_time").to_pylist()[0].timestamp() == pytest.approx(START_NS / 1e9, abs=1e-6)


def _plain_table(columns: dict[str, list[Any]]) -> pa.Table:
    """The table as one `pa.array` per column builds it (what `spans_to_table`'s shortcuts must equal)."""
    arrays = [
        pa.array(columns[f.name], type=pa.int64()).cast(f.type)
        if f.name in TIMESTAMP_COLUMNS
        else pa.array(columns[f.name], type=f.type)
        for f in SPAN_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)


@pytest.mark.parametrize("size", [0, 1, 2, 5])
def test_tables_with_empty_constant_and_mixed_columns_equal_plain_arrow_arrays(size: int) -> None:
    columns: dict[str, list[Any]] = {name: [None] * size for name in SPAN_COLUMNS}
    ids = [f"{i:016x}" for i in range(size)]
    columns.update(
        project_id=["p1"] * size,  # one text throughout
        trace_id=[TRACE_ID] * size,
        span_id=ids,
        event_id=[f"{TRACE_ID}:{i}" for i in ids],
        kind=["llm"] + ["tool"] * (size - 2) + ["llm"] if size > 1 else ["llm"] * size,  # same ends, other middle
        model=[None] + ["m"] * (size - 2) + [None] if size > 1 else [None] * size,  # null ends, values inside
        name=[""] * size,
        tags=[[] for _ in range(size)],
        start_time=[START_NS // 1000 + i for i in range(size)],
        ingested_at=[1_700_000_000_000_000] * size,
        input_tokens=[7] * size,
        source=["otlp"] * size,
    )
    table = spans_to_table(columns)
    expected = _plain_table(columns)
    assert table.schema.equals(expected.schema, check_metadata=True)
    assert table.equals(expected)
    assert table.column("model").to_pylist() == columns["model"]
    assert table.column("kind").to_pylist() == columns["kind"]


def test_kind_tables_only_produce_known_kinds() -> None:
    produced = {kind for _, table in conventions.KIND_SOURCES for kind in table.values()}
    assert produced <= SPAN_KINDS


def test_scalar_source_keys_are_not_claimed_twice() -> None:
    keys = [
        key
        for table in (conventions.STRING_SOURCES, conventions.INT_SOURCES, conventions.COST_SOURCES)
        for s in table.values()
        for key in s
    ]
    assert len(keys) == len(set(keys))
    assert not conventions.SCALAR_KEYS & conventions.KEY_SECTIONS.keys()


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"trace_id": "00" * 16}, "trace id"),
        ({"trace_id": "ab" * 12}, "trace id"),
        ({"span_id": ""}, "span id"),
        ({"span_id": "00" * 8}, "span id"),
        ({"start": 0}, "no start time"),
        ({"parent": "abcd"}, "parent span id"),
    ],
)
def test_unusable_spans_are_rejected_with_a_reason(changes: dict[str, Any], reason: str) -> None:
    span = make_span({}, **changes)
    assert reason in (reject_reason(span) or "")
    with pytest.raises(SpanRejected, match=reason):
        map_span(span)
    assert reject_reason(make_span({})) is None


def test_all_zero_parent_means_root() -> None:
    assert map_span(make_span({}, parent="0" * 16))["parent_span_id"] is None


def test_map_spans_counts_rejections_and_keeps_the_rest() -> None:
    spans = [make_span({}), make_span({}, trace_id=""), make_span({}, span_id="x"), make_span({}, span_id="3" * 16)]
    batch = map_spans(spans)
    assert len(batch.rows) == 2 and batch.rejected == 2
    assert "trace id" in batch.error_message and "span id" in batch.error_message
    assert map_spans([make_span({})]).error_message == ""


def test_missing_end_time_and_clock_skew() -> None:
    assert (map_span(make_span({}, end=0))["end_time"], map_span(make_span({}, end=0))["duration_ms"]) == (None, None)
    skewed = map_span(make_span({}, end=START_NS - 1000))
    assert skewed["end_time"] is not None and skewed["duration_ms"] is None


@pytest.mark.parametrize(
    "code, attrs, expected",
    [
        (0, {}, ("unset", None)),
        (1, {}, ("ok", None)),
        (2, {}, ("error", "upstream 500")),
        (0, {"error.type": "RateLimitError"}, ("error", "RateLimitError")),
        (2, {"error.type": "timeout"}, ("error", "timeout: upstream 500")),
        (0, {"langfuse.observation.level": "ERROR"}, ("error", None)),
    ],
)
def test_status(code: int, attrs: dict[str, Any], expected: tuple[str, str | None]) -> None:
    row = map_span(make_span(attrs, status_code=code, status_message="upstream 500" if code == 2 else ""))
    assert (row["status"], row["status_message"]) == expected
    assert row["status"] in SPAN_STATUSES


def test_exception_event_explains_an_error_without_message() -> None:
    events = [
        ("exception", {"exception.type": "ValueError", "exception.message": "bad input", "exception.stacktrace": "..."})
    ]
    row = map_span(make_span({}, status_code=2, events=events))
    assert row["status_message"] == "ValueError: bad input"
    assert loads(row["attributes"])["otel.events"][0]["name"] == "exception"  # the stack trace is kept


def test_unmapped_attributes_are_sorted_json_and_mapped_ones_are_not_repeated() -> None:
    attrs = {"zeta": 1, "alpha": {"nested": [1, 2]}, "gen_ai.request.model": "m", "user.id": "u"}
    row = map_span(make_span(attrs))
    assert row["attributes"] == '{"alpha":{"nested":[1,2]},"zeta":1}'


def test_values_that_do_not_convert_stay_in_attributes() -> None:
    attrs = {"gen_ai.usage.input_tokens": "n/a", "gen_ai.usage.prompt_tokens": "12", "gen_ai.request.model": ["x"]}
    row = map_span(make_span(attrs))
    assert row["input_tokens"] == 12 and row["model"] is None
    assert loads(row["attributes"]) == {"gen_ai.request.model": ["x"], "gen_ai.usage.input_tokens": "n/a"}


def test_token_counts_as_doubles_or_strings() -> None:
    row = map_span(make_span({"gen_ai.usage.input_tokens": 12.0, "gen_ai.usage.output_tokens": "3"}))
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (12, 3, 15)


def test_total_tokens_from_a_single_side() -> None:
    assert map_span(make_span({"gen_ai.usage.input_tokens": 7}))["total_tokens"] == 7
    assert map_span(make_span({}))["total_tokens"] is None


def test_resource_environment_and_release_are_fallbacks() -> None:
    resource = {"deployment.environment": "prod", "service.version": "1.0.0", "service.name": "svc", "host.name": "h"}
    row = map_span(make_span({}, resource=resource))
    assert (row["environment"], row["release"]) == ("prod", "1.0.0")
    assert loads(row["attributes"]) == {"service.name": "svc"}  # the rest of the resource is not copied per span
    explicit = map_span(make_span({"langfuse.environment": "dev", "langfuse.release": "2"}, resource=resource))
    assert (explicit["environment"], explicit["release"]) == ("dev", "2")


def test_tags_are_merged_and_deduplicated() -> None:
    row = map_span(make_span({"tag.tags": ["a", "b"], "langfuse.trace.tags": js(["b", "c"])}))
    assert row["tags"] == ["a", "b", "c"]


def test_mapping_does_not_mutate_the_span() -> None:
    attrs = {"metadata": js({"a": 1}), "llm.input_messages.0.message.content": "x", "gen_ai.request.temperature": 1.0}
    resource = {"service.name": "s"}
    span = make_span(dict(attrs), resource=dict(resource))
    map_span(span)
    assert span.attributes == attrs and span.resource_attributes == resource


def test_mapping_a_typical_span_is_fast() -> None:
    """Not a benchmark (bench/ is), a tripwire: a regression of 10x fails here."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.input.messages": js([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
        "gen_ai.output.messages": js([{"role": "assistant", "parts": [{"type": "text", "content": "Yo"}]}]),
        "server.address": "api.openai.com",
    }
    span = make_span(attrs)
    started = time.perf_counter()
    for _ in range(2000):
        map_span(span)
    assert (time.perf_counter() - started) / 2000 < 500e-6


def test_enduser_id_is_the_user_when_no_other_user_key_is_sent() -> None:
    """OTel's general semantic convention names the end user `enduser.id`; the GenAI ones win when both are sent."""
    row = map_span(make_span({"enduser.id": "u-end", "gen_ai.operation.name": "chat"}))
    assert row["user_id"] == "u-end" and "enduser.id" not in loads(row["attributes"] or "{}")
    assert map_span(make_span({"enduser.id": "u-end", "user.id": "u-genai"}))["user_id"] == "u-genai"


def test_every_generation_like_kind_is_an_llm_call() -> None:
    assert set(LLM_CALL_KINDS) <= SPAN_KINDS
    for op, kind in (("chat", "chat"), ("text_completion", "llm"), ("generate_content", "llm")):
        assert map_span(make_span({"gen_ai.operation.name": op}))["kind"] == kind in LLM_CALL_KINDS
    assert map_span(make_span({"gen_ai.operation.name": "embeddings"}))["kind"] not in LLM_CALL_KINDS
