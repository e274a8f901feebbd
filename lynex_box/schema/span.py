"""The span: one row per LLM call, tool call, step or event, as DESIGN.md defines it.

This module is the single source of the stored column set. Segments, the head, the pipeline and
the query API all take their column names and Arrow types from here; a change to the columns is
a change of `SPAN_SCHEMA_VERSION` (`lynex_box/versions.py`) and of `docs/format/segments.md`. It must never do I/O.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from lynex_box.versions import SPAN_SCHEMA_VERSION

SCHEMA_VERSION_KEY: Final = b"lynex.span_schema_version"  # a segment file's footer key-value (docs/format/segments.md)

SPAN_KINDS: Final = frozenset(
    {
        "llm",
        "chat",
        "embedding",
        "tool",
        "agent",
        "chain",
        "retriever",
        "reranker",
        "guardrail",
        "evaluator",
        "event",
        "span",
    }
)
# "An LLM call": every generation-like kind. Native `generation`/`completion` and Langfuse generations are stored as
# `llm`; OTel GenAI `gen_ai.operation.name=chat` (and `llm.request.type=chat`) is stored as `chat`, the other
# generation operations (`generate_content`, `text_completion`) and OpenInference `llm` as `llm`. Embeddings are
# model calls but not generations (no messages, no transcript), so they are not counted here. The query API takes
# `kind=llm_call` for this group; the UI's transcript, counts and filters use it.
LLM_CALL_KINDS: Final = ("llm", "chat")
KIND_GROUPS: Final = {"llm_call": LLM_CALL_KINDS}
SPAN_STATUSES: Final = frozenset({"ok", "error", "unset"})
COST_SOURCES: Final = frozenset({"reported", "computed", "none"})

_TS = pa.timestamp("us", tz="UTC")

SPAN_SCHEMA: Final = pa.schema(
    [
        pa.field("project_id", pa.string(), nullable=False),
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("span_id", pa.string(), nullable=False),
        pa.field("parent_span_id", pa.string()),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("start_time", _TS, nullable=False),
        pa.field("end_time", _TS),
        pa.field("duration_ms", pa.float64()),
        pa.field("status", pa.string()),
        pa.field("status_message", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("model", pa.string()),
        pa.field("response_model", pa.string()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cached_tokens", pa.int64()),
        pa.field("reasoning_tokens", pa.int64()),
        pa.field("total_tokens", pa.int64()),
        pa.field("input_cost", pa.float64()),
        pa.field("output_cost", pa.float64()),
        pa.field("total_cost", pa.float64()),
        pa.field("cost_source", pa.string()),
        pa.field("input", pa.string()),
        pa.field("output", pa.string()),
        pa.field("tool_calls", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("environment", pa.string()),
        pa.field("release", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("attributes", pa.string()),
        pa.field("prompt_name", pa.string()),
        pa.field("prompt_version", pa.string()),
        pa.field("hallucination_risk", pa.float64()),
        pa.field("pii", pa.string()),
        pa.field("ingested_at", _TS, nullable=False),
        pa.field("source", pa.string()),
        # schema version 2 (docs/format/segments.md): model metadata, request fingerprint, raw-text sampling
        pa.field("model_id", pa.string()),
        pa.field("model_provider", pa.string()),
        pa.field("model_family", pa.string()),
        pa.field("context_window", pa.int64()),
        pa.field("modalities", pa.list_(pa.string())),
        pa.field("request_fingerprint", pa.string()),
        pa.field("system_fingerprint", pa.string()),
        pa.field("text_sampled_out", pa.bool_()),
        # schema version 3: the detectors' and judges' reasons behind `hallucination_risk` (JSON list)
        pa.field("detections", pa.string()),
    ],
    metadata={SCHEMA_VERSION_KEY: str(SPAN_SCHEMA_VERSION).encode()},
)

SPAN_COLUMNS: Final = tuple(SPAN_SCHEMA.names)
TIMESTAMP_COLUMNS: Final = frozenset({"start_time", "end_time", "ingested_at"})

ADDED_COLUMNS: Final[dict[int, tuple[str, ...]]] = {
    2: (
        "model_id", "model_provider", "model_family", "context_window", "modalities",
        "request_fingerprint", "system_fingerprint", "text_sampled_out",
    ),
    3: ("detections",),
}  # fmt: skip
"""The columns each schema version added: a file of an older version lacks them and reads them as null."""

_DUCKDB_TYPES: Final = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.list_(pa.string()): "VARCHAR[]",
}


def parquet_relation(listing: str) -> str:
    """SQL of the segment files `listing` (a DuckDB list literal) with every column of this schema.

    `read_parquet(..., union_by_name = true)` yields only the columns some file has: when every file is older than a
    column, the column would be missing and a query naming it would fail. The union with an empty relation of the
    later columns makes them null there instead (the way an older file is read: docs/format/segments.md).
    """
    later = [SPAN_SCHEMA.field(name) for names in ADDED_COLUMNS.values() for name in names]
    typed = ", ".join(f'CAST(NULL AS {_DUCKDB_TYPES[f.type]}) AS "{f.name}"' for f in later)
    return f"(SELECT * FROM read_parquet({listing}, union_by_name = true) UNION ALL BY NAME SELECT {typed} WHERE false)"


def empty_span_columns() -> dict[str, list[Any]]:
    """Column lists ready to be filled row by row and handed to `spans_to_table`."""
    return {name: [] for name in SPAN_COLUMNS}


def spans_to_table(columns: dict[str, list[Any]]) -> pa.Table:
    """Build an Arrow table in the stored schema from column lists (timestamps as epoch µs ints).

    A column may also be an Arrow array already (e.g. int64 epoch µs for a timestamp): it is cast. A column left
    out is null (enrichers fill the later ones).
    """
    arrays = []
    rows = len(next(iter(columns.values()))) if columns else 0
    for field in SPAN_SCHEMA:
        values = columns.get(field.name)
        if values is None:  # a column the producer does not fill (those of later schema versions): null
            arrays.append(pa.nulls(rows, field.type))
            continue
        if isinstance(values, pa.Array):
            arrays.append(values if values.type == field.type else values.cast(field.type))
        else:
            arrays.append(_column(values, field))
    return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)


def _column(values: list[Any], field: pa.Field) -> pa.Array:
    # A batch has many columns no span fills (costs, detectors) and a few with one text throughout (project,
    # source): those are built without converting each item. The end items are checked first, so a column that
    # differs costs no count; a string equals only an equal string, so a counted one is what `pa.array` builds.
    if values:
        first = values[0]
        if first is None and values[-1] is None and values.count(None) == len(values):
            return pa.nulls(len(values), field.type)
        if type(first) is str and type(values[-1]) is str and values.count(first) == len(values):
            return pa.repeat(pa.scalar(first, field.type), len(values))
    if field.name in TIMESTAMP_COLUMNS:
        return pa.array(values, type=pa.int64()).cast(field.type)
    return pa.array(values, type=field.type)
