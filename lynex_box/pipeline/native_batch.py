"""Native events of many WAL records decoded at once by DuckDB: JSON to span columns without Python objects.

Per-event Python (parse into dicts, normalise, build lists) costs tens of µs per span; DuckDB's JSON reader
does the same work in C++ on both cores. The result equals that of `ingest.native.normalize_events`, the
reference: the rules below are the same rules, in SQL (a test comparing both on generated and edge-case
events belongs in tests/pipeline/). JSON columns hold compact JSON
text as before (only numbers of 1e16 and more are spelled out in full, e.g. `10000000000000000.0`).
A record that DuckDB cannot read, or whose events hold values only Python spells the same way (a
prompt version that is not a string or an integer, an `error.type` that is not a string), is decoded by
the reference instead. It must never drop or reorder a record's spans, nor raise for a record ingest accepted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.ingest.native import normalize_events
from lynex_box.ingest.timefmt import parse_time_us
from lynex_box.schema.span import SPAN_SCHEMA, spans_to_table
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader

log = logging.getLogger("lynex.pipeline")

_TS: Final = pa.timestamp("us", tz="UTC")

_TEXT_FIELDS: Final = (
    "event_id", "trace_id", "span_id", "parent_span_id", "name", "type", "status", "status_message", "provider",
    "model", "response_model", "session_id", "user_id", "environment", "release",
)  # fmt: skip
_JSON_FIELDS: Final = ("start_time", "end_time", "input", "output", "tool_calls", "metadata", "error")
_USAGE_FIELDS: Final = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")
# The DuckDB type of a native request body; fields not named here are ignored, as the reference does.
_EVENT_TYPE: Final = orjson.dumps(
    {
        "events": [
            {
                **dict.fromkeys(_TEXT_FIELDS, "VARCHAR"),
                **dict.fromkeys(_JSON_FIELDS, "JSON"),
                "usage": dict.fromkeys(_USAGE_FIELDS, "BIGINT"),
                "cost": dict.fromkeys(("input", "output", "total"), "DOUBLE"),
                "tags": ["VARCHAR"],
                "prompt": {"name": "VARCHAR", "version": "JSON"},
            }
        ]
    }
).decode()


def _epoch_us(value: str) -> str:
    """SQL for an epoch-ms JSON number as epoch µs (Python's `round(value * 1000)`), else NULL."""
    return (
        f"CASE json_type({value}) WHEN 'UBIGINT' THEN {value}::BIGINT * 1000 WHEN 'BIGINT' THEN {value}::BIGINT * 1000 "
        f"WHEN 'DOUBLE' THEN round_even({value}::DOUBLE * 1000, 0)::BIGINT END"
    )


def _io_text(value: str) -> str:
    """SQL of `ingest.native._io_text`: a non-empty list of objects that all have a role becomes {"messages": …}."""
    return (
        f"CASE WHEN json_type({value}) = 'ARRAY' AND json_array_length({value}) > 0 AND list_bool_and(list_transform("
        f"json_extract({value}, '$[*]'), lambda m: json_type(m) = 'OBJECT' AND json_exists(m, '$.role'))) "
        f"THEN '{{\"messages\":' || {value} || '}}' ELSE {value}::VARCHAR END"
    )


_SQL: Final = f"""
WITH r AS (
    SELECT lsn, project_id, received_us, skip, from_json(body, '{_EVENT_TYPE}').events AS events FROM __records
), e AS (
    SELECT lsn, project_id, received_us, skip, unnest(events) AS ev, unnest(range(len(events))) AS idx FROM r
), f AS (
    SELECT lsn, idx, project_id, received_us, ev,
        coalesce(nullif(ev.event_id, ''), format('{{:012x}}-{{:05d}}', lsn, idx)) AS eid,
        coalesce(nullif(ev."type", ''), 'span') AS k,
        CASE WHEN ev.error IS NOT NULL AND ev.error::VARCHAR <> '{{}}' THEN ev.error END AS err,
        ev.usage AS u, ev.cost AS c,
        ev.cost.input IS NOT NULL OR ev.cost.output IS NOT NULL OR ev.cost.total IS NOT NULL AS has_cost
    FROM e WHERE ev IS NOT NULL AND NOT list_contains(skip, idx)
), g AS (
    SELECT *, err->>'$.type' AS et, ev.metadata IS NOT NULL AND ev.metadata::VARCHAR <> '{{}}' AS has_md FROM f
)
SELECT
    lsn, idx,
    json_type(ev.prompt.version) NOT IN ('VARCHAR', 'UBIGINT', 'BIGINT')
        OR json_type(err->'$.type') NOT IN ('VARCHAR', 'NULL') AS needs_reference,
    project_id,
    coalesce(nullif(ev.trace_id, ''), eid) AS trace_id,
    coalesce(nullif(ev.span_id, ''), eid) AS span_id,
    nullif(ev.parent_span_id, '') AS parent_span_id,
    eid AS event_id,
    ev.name AS name,
    CASE k WHEN 'generation' THEN 'llm' WHEN 'completion' THEN 'llm' WHEN 'function' THEN 'tool'
        WHEN 'workflow' THEN 'chain' ELSE k END AS kind,
    CASE WHEN json_type(ev.start_time) = 'VARCHAR' THEN ev.start_time->>'$' END AS start_text,
    {_epoch_us("ev.start_time")} AS start_number,
    CASE WHEN json_type(ev.end_time) = 'VARCHAR' THEN ev.end_time->>'$' END AS end_text,
    {_epoch_us("ev.end_time")} AS end_number,
    coalesce(nullif(ev.status, ''), CASE WHEN err IS NOT NULL THEN 'error' ELSE 'ok' END) AS status,
    coalesce(nullif(ev.status_message, ''), err->>'$.message') AS status_message,
    ev.provider AS provider, ev.model AS model, ev.response_model AS response_model,
    u.input_tokens AS input_tokens, u.output_tokens AS output_tokens, u.cached_tokens AS cached_tokens,
    u.reasoning_tokens AS reasoning_tokens,
    coalesce(u.total_tokens, CASE WHEN u.input_tokens IS NOT NULL OR u.output_tokens IS NOT NULL
        THEN coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0) END) AS total_tokens,
    c.input AS input_cost, c.output AS output_cost,
    coalesce(c.total, CASE WHEN has_cost THEN coalesce(c.input, 0.0) + coalesce(c.output, 0.0) END) AS total_cost,
    CASE WHEN has_cost THEN 'reported' END AS cost_source,
    {_io_text("ev.input")} AS input,
    {_io_text("ev.output")} AS output,
    ev.tool_calls::VARCHAR AS tool_calls,
    ev.session_id AS session_id, ev.user_id AS user_id, ev.environment AS environment, ev.release AS release,
    ev.tags AS tags,
    CASE WHEN has_md OR coalesce(et, '') <> '' THEN '{{' || concat_ws(',',
        CASE WHEN has_md THEN '"metadata":' || ev.metadata::VARCHAR END,
        CASE WHEN coalesce(et, '') <> '' THEN '"error.type":' || to_json(et)::VARCHAR END) || '}}' END AS attributes,
    ev.prompt.name AS prompt_name,
    CASE WHEN json_type(ev.prompt.version) = 'VARCHAR' THEN ev.prompt.version->>'$'
        ELSE ev.prompt.version::VARCHAR END AS prompt_version,
    NULL::DOUBLE AS hallucination_risk,
    NULL::VARCHAR AS pii,
    received_us,
    'sdk' AS source
FROM g
ORDER BY lsn, idx
"""

_RECORDS_SCHEMA: Final = pa.schema(
    [
        ("lsn", pa.int64()),
        ("project_id", pa.string()),
        ("received_us", pa.int64()),
        ("skip", pa.list_(pa.int64())),
        ("body", pa.large_string()),
    ]
)

Item = tuple[WalRecord, RecordHeader, memoryview]


class NativeBatchDecoder:
    """Decodes the native EVENTS records of one pipeline step in one DuckDB query; thread-safe."""

    def __init__(self, threads: int = 2, memory_limit_mb: int = 256) -> None:
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": threads,
            "memory_limit": f"{memory_limit_mb}MB",
            # Hand memory above this back after a query: a step's peak must not stay in the process.
            "allocator_flush_threshold": "4MB",
            "allocator_bulk_deallocation_flush_threshold": "4MB",
        }
        self._db = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()

    def __call__(self, items: list[Item]) -> pa.Table:
        """Span table of `items` (native records, in LSN order), rows in LSN then event order."""
        if not items:
            return SPAN_SCHEMA.empty_table()
        try:
            records = pa.Table.from_arrays(
                [
                    pa.array([r.lsn for r, _, _ in items], pa.int64()),
                    pa.array([h.project_id for _, h, _ in items], pa.string()),
                    pa.array([h.received_us for _, h, _ in items], pa.int64()),
                    pa.array([list(h.skip) for _, h, _ in items], pa.list_(pa.int64())),
                    pa.array([bytes(b) for _, _, b in items], pa.large_binary()).cast(pa.large_string()),
                ],
                schema=_RECORDS_SCHEMA,
            )
            with self._lock:
                cur = self._db.cursor()
                try:
                    cur.register("__records", records)
                    result = cur.sql(_SQL).to_arrow_table()
                finally:
                    cur.close()
        except (duckdb.Error, pa.ArrowException) as exc:  # e.g. a body that is not JSON: one record at a time
            log.info("native batch decode fell back to the reference decoder records=%d error=%s", len(items), exc)
            return pa.concat_tables([reference_table(*item) for item in items])
        return self._finish(result, items)

    def _finish(self, result: pa.Table, items: list[Item]) -> pa.Table:
        flagged = result.column("needs_reference")
        if pc.any(flagged).as_py():
            lsns = set(pc.filter(result.column("lsn"), flagged).to_pylist())
            result = result.filter(pc.invert(pc.is_in(result.column("lsn"), pa.array(sorted(lsns), pa.int64()))))
            parts = [_columns_table(result)] + [reference_table(*item) for item in items if item[0].lsn in lsns]
            return pa.concat_tables(parts)
        return _columns_table(result)

    def close(self) -> None:
        self._db.close()


def _columns_table(result: pa.Table) -> pa.Table:
    received = result.column("received_us")
    start = pc.coalesce(_parse_text_times(result.column("start_text")), result.column("start_number"), received)
    end = pc.coalesce(_parse_text_times(result.column("end_text")), result.column("end_number"))
    columns: dict[str, Any] = {}
    for field in SPAN_SCHEMA:
        if field.name in ("start_time", "end_time", "duration_ms", "ingested_at"):
            continue
        columns[field.name] = result.column(field.name).combine_chunks()
    columns["start_time"] = _array(start)
    columns["end_time"] = _array(end)
    columns["duration_ms"] = _array(pc.divide(pc.cast(pc.subtract(end, start), pa.float64()), 1000.0))
    columns["ingested_at"] = _array(received)
    return spans_to_table(columns)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _parse_text_times(texts: pa.ChunkedArray) -> pa.Array:
    """Epoch µs of RFC 3339 strings: Arrow for the plain forms, `parse_time_us` if any is not plain."""
    texts = texts.combine_chunks()
    try:
        return pc.cast(pc.cast(texts, _TS), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if t is None else parse_time_us(t) for t in texts.to_pylist()], pa.int64())


def reference_table(record: WalRecord, header: RecordHeader, body: memoryview) -> pa.Table:
    """One record through the reference decoder; no rows (logged) if even that cannot read it."""
    lsn = record.lsn
    fallback: Callable[[int], str] = lambda index: f"{lsn:012x}-{index:05d}"  # noqa: E731
    try:
        events = orjson.loads(body)["events"]
        return spans_to_table(
            normalize_events(events, header.project_id, header.received_us, fallback, frozenset(header.skip))
        )
    except Exception:  # a record ingest accepted must not stop every record behind it
        log.exception("wal record could not be decoded lsn=%d type=%d", record.lsn, record.type)
        return SPAN_SCHEMA.empty_table()
