"""Native events of many WAL records decoded at once by DuckDB: JSON to span columns without Python objects.

Per-event Python (parse into dicts, normalise, build lists) costs tens of µs per span; DuckDB's JSON reader
does the same work in C++ on both cores. The result equals that of `normalize.normalize_events`, the
reference: the rules below are the same rules, in SQL (a test comparing both on generated and edge-case
events is in tests/sources/native/). JSON columns hold compact JSON
text as before (only numbers of 1e16 and more are spelled out in full, e.g. `10000000000000000.0`).
A record that DuckDB cannot read, or whose events hold values only Python spells the same way (a
prompt version that is not a string or an integer, an `error.type` that is not a string), is decoded by
the reference instead. It must never drop or reorder a record's spans, nor raise for a record ingest accepted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Final

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.pipeline.decode.types import BatchItem
from lynex_box.schema.kernels import present
from lynex_box.schema.span import SPAN_SCHEMA, spans_to_table
from lynex_box.schema.timefmt import parse_time_us
from lynex_box.sources.native.normalize import normalize_events
from lynex_box.sources.native.validate import TYPE_ALIASES
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


def _io_text(value: str) -> str:
    """SQL of `normalize._io_text`: a non-empty list of objects that all have a role becomes {"messages": …}.

    The JSON text is compact, so such a list starts with `[{`; then every element has a `role` exactly when the
    wildcard path finds as many roles as the list has elements (only objects have keys). Two passes over the
    text instead of one per element: this is the costliest column of a chat span.
    """
    all_roles = f"len(json_extract({value}, '$[*].role')) = json_array_length({value})"
    wrapped = f"""'{{"messages":' || {value} || '}}'"""
    return f"CASE WHEN starts_with({value}, '[{{') AND {all_roles} THEN {wrapped} ELSE {value} END"


# DuckDB only parses and picks fields, and does what needs a JSON parser; the rules that only compare or combine
# values run over whole Arrow columns in `_columns_table`, which costs far less per span than SQL expressions.
_SQL: Final = f"""
SELECT
    lsn, idx, project_id, received_us,
    {", ".join(name for name in _TEXT_FIELDS if name != "type")}, "type",
    start_time::VARCHAR AS start_json, end_time::VARCHAR AS end_json,
    {", ".join(f"usage.{name} AS {name}" for name in _USAGE_FIELDS)},
    cost.input AS input_cost, cost.output AS output_cost, cost.total AS total_cost,
    {_io_text("input::VARCHAR")} AS input,
    {_io_text("output::VARCHAR")} AS output,
    tool_calls::VARCHAR AS tool_calls, tags, metadata::VARCHAR AS metadata_json, error::VARCHAR AS error_json,
    prompt.name AS prompt_name, prompt.version::VARCHAR AS prompt_version_json
FROM (
    SELECT lsn, project_id, received_us, skip, unnest(events, max_depth := 2), generate_subscripts(events, 1) - 1 AS idx
    FROM (SELECT lsn, project_id, received_us, skip, from_json(body, '{_EVENT_TYPE}').events AS events FROM __records)
)
WHERE NOT list_contains(skip, idx)
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


class NativeBatchDecoder:
    """Decodes the native EVENTS records of one pipeline step in one DuckDB query; threads may call it at once."""

    def __init__(self, threads: int = 2, memory_limit_mb: int = 256, id_prefix: str = "") -> None:
        config: dict[str, str | bool | int | float | list[str]] = {
            "threads": threads,
            "memory_limit": f"{memory_limit_mb}MB",
            # No spill files (DuckDB's default would put them in the working directory, outside the data dir): a
            # step that needs more memory raises, and `__call__` decodes it by the reference rules instead.
            "temp_directory": "",
            # Hand memory above this back after a query: a step's peak must not stay in the process.
            "allocator_flush_threshold": "64MB",
            "allocator_bulk_deallocation_flush_threshold": "64MB",
        }
        self._db = duckdb.connect(":memory:", config=config)
        self.id_prefix = id_prefix  # starts the id of an event sent without one (`fallback_event_id`)
        self.fallbacks = 0  # steps the reference had to decode whole: a rise means the fast path has a gap

    def __call__(self, items: list[BatchItem]) -> pa.Table:
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
                    _bodies([b for _, _, b in items]),
                ],
                schema=_RECORDS_SCHEMA,
            )
            # One record per Arrow batch: DuckDB then parses one body at a time instead of the whole step at
            # once, which halves the memory a step takes at about the same speed.
            records = pa.Table.from_batches(records.to_batches(max_chunksize=1))
            cur = self._db.cursor()  # a connection of its own: two threads decode at once
            try:
                cur.register("__records", records)
                result = cur.sql(_SQL).to_arrow_table()
            finally:
                cur.close()
            return self._finish(result, items)
        except (duckdb.Error, pa.ArrowException, ValueError) as exc:  # e.g. a body that is not JSON: one at a time
            log.info("native batch decode fell back to the reference decoder records=%d error=%s", len(items), exc)
            self.fallbacks += 1
            return pa.concat_tables([reference_table(*item, self.id_prefix) for item in items])

    def _finish(self, result: pa.Table, items: list[BatchItem]) -> pa.Table:
        result = _with_json_fields(result)
        flagged = result.column("needs_reference")
        if pc.any(flagged).as_py():
            lsns = set(pc.filter(result.column("lsn"), flagged).to_pylist())
            result = result.filter(pc.invert(pc.is_in(result.column("lsn"), pa.array(sorted(lsns), pa.int64()))))
            parts = [_columns_table(result, self.id_prefix)]
            parts += [reference_table(*item, self.id_prefix) for item in items if item[0].lsn in lsns]
            return pa.concat_tables(parts)
        return _columns_table(result, self.id_prefix)

    def one(self, record: WalRecord, header: RecordHeader, body: memoryview) -> pa.Table:
        """One record by the reference rules (the pipeline's fallback when a batch raises)."""
        return reference_table(record, header, body)

    def close(self) -> None:
        self._db.close()


def _bodies(bodies: list[memoryview]) -> pa.Array:
    """The record bodies as one large_string array (they are UTF-8: ingest parsed them).

    Copied once, into Arrow's memory pool: it keeps and reuses memory between steps, where a fresh
    Python bytes object of a step's size would be mapped from the kernel (and page-faulted) each time.
    """
    offsets = [0]
    for body in bodies:
        offsets.append(offsets[-1] + len(body))
    data = pa.allocate_buffer(offsets[-1])
    view = memoryview(data).cast("B")
    for body, start, end in zip(bodies, offsets, offsets[1:], strict=False):
        view[start:end] = body
    array = pa.Array.from_buffers(
        pa.large_string(), len(bodies), [None, pa.array(offsets, pa.int64()).buffers()[1], data]
    )
    array.validate(full=True)
    return array


def _with_json_fields(result: pa.Table) -> pa.Table:
    """Add the columns read from small JSON values (error, metadata, prompt version), and `needs_reference`.

    Each is one Arrow kernel over the column, so a step pays them once instead of a JSON function's setup
    per query in SQL; the few values that need a JSON parser (an error object, an escaped string) get
    orjson one by one.
    """
    error_json = _array(result.column("error_json"))
    has_error = pc.and_kleene(pc.is_valid(error_json), pc.not_equal(error_json, "{}"))
    error_message: list[str | None] = [None] * len(error_json)
    error_type_json: list[str | None] = [None] * len(error_json)
    odd_error = [False] * len(error_json)
    if pc.any(has_error).as_py():
        for i, text in enumerate(pc.if_else(has_error, error_json, _NULL_TEXT).to_pylist()):
            if text is None:
                continue
            error = orjson.loads(text)
            if not isinstance(error, dict):
                odd_error[i] = True
                continue
            message, kind = error.get("message"), error.get("type")
            if message is not None:
                error_message[i] = message if isinstance(message, str) else orjson.dumps(message).decode()
            if isinstance(kind, str):
                error_type_json[i] = orjson.dumps(kind).decode() if kind else None
            elif kind is not None:
                odd_error[i] = True  # only Python spells such a type the reference's way
    metadata = _array(result.column("metadata_json"))
    version = _array(result.column("prompt_version_json"))
    version_is_text = pc.starts_with(version, '"')
    version_is_int = pc.match_substring_regex(version, r"^-?[0-9]+$")
    version_text = pc.if_else(version_is_text, pc.utf8_slice_codeunits(version, 1, -1), _NULL_TEXT)
    if pc.any(pc.match_substring(version_text, "\\")).as_py():  # an escape in the string: JSON unescapes it
        quoted = pc.if_else(version_is_text, version, _NULL_TEXT).to_pylist()
        version_text = pa.array([None if v is None else orjson.loads(v) for v in quoted], pa.string())
    odd_version = pc.and_kleene(pc.is_valid(version), pc.invert(pc.or_(version_is_text, version_is_int)))
    added = {
        "has_error": has_error,
        "error_message": pa.array(error_message, pa.string()),
        "error_type_json": pa.array(error_type_json, pa.string()),
        "metadata": pc.if_else(pc.equal(metadata, "{}"), _NULL_TEXT, metadata),
        "prompt_version": pc.if_else(version_is_int, version, version_text),
        "needs_reference": pc.or_(pc.fill_null(odd_version, False), pa.array(odd_error, pa.bool_())),
    }
    for name, values in added.items():
        result = result.append_column(name, values)
    return result


def fallback_event_id(prefix: str, lsn: int, index: int) -> str:
    """The id of an event sent without `event_id`: its place in the WAL (record LSN, index in the request), so a
    replay yields the same id. LSNs count per node: in cluster mode `prefix` is the node's id and a dash, or two
    nodes would give their own events the same ids and the readers' deduplication would merge them."""
    return f"{prefix}{lsn:012x}-{index:05d}"


def _columns_table(result: pa.Table, id_prefix: str = "") -> pa.Table:
    """The span columns of the SQL result: the same rules as `normalize_events`, over whole columns."""
    col = {name: _array(result.column(name)) for name in result.column_names}
    lsn, idx = col["lsn"], col["idx"]
    event_id = col["event_id"]
    if not pc.all(present(event_id)).as_py():  # events without an id are named by their place in the WAL
        ids = event_id.to_pylist()
        for i, (at, index) in enumerate(zip(lsn.to_pylist(), idx.to_pylist(), strict=True)):
            if not ids[i]:
                ids[i] = fallback_event_id(id_prefix, at, index)
        event_id = pa.array(ids, pa.string())
    kind = _present_or(col["type"], "span")
    for alias, canonical in TYPE_ALIASES.items():
        kind = pc.if_else(pc.equal(kind, alias), canonical, kind)
    received = col["received_us"]
    start = pc.coalesce(_times_us(col["start_json"]), received)
    end = _times_us(col["end_json"])
    tokens_in, tokens_out = col["input_tokens"], col["output_tokens"]
    tokens_sum = pc.add(pc.fill_null(tokens_in, 0), pc.fill_null(tokens_out, 0))
    any_tokens = pc.or_(pc.is_valid(tokens_in), pc.is_valid(tokens_out))
    cost_in, cost_out, cost_total = col["input_cost"], col["output_cost"], col["total_cost"]
    has_cost = pc.or_(pc.or_(pc.is_valid(cost_in), pc.is_valid(cost_out)), pc.is_valid(cost_total))
    cost_sum = pc.add(pc.fill_null(cost_in, 0.0), pc.fill_null(cost_out, 0.0))
    columns: dict[str, Any] = {
        "project_id": col["project_id"],
        "trace_id": _present_or(col["trace_id"], event_id),
        "span_id": _present_or(col["span_id"], event_id),
        "parent_span_id": _present_or(col["parent_span_id"], None),
        "event_id": event_id,
        "name": col["name"],
        "kind": kind,
        "start_time": start,
        "end_time": end,
        "duration_ms": pc.divide(pc.cast(pc.subtract(end, start), pa.float64()), 1000.0),
        "status": _present_or(col["status"], pc.if_else(col["has_error"], "error", "ok")),
        "status_message": _present_or(col["status_message"], col["error_message"]),
        "total_tokens": pc.coalesce(col["total_tokens"], pc.if_else(any_tokens, tokens_sum, _NULL_INT)),
        "total_cost": pc.coalesce(cost_total, pc.if_else(has_cost, cost_sum, _NULL_FLOAT)),
        "cost_source": pc.if_else(has_cost, "reported", _NULL_TEXT),
        "attributes": _attributes(col["metadata"], col["error_type_json"]),
        "hallucination_risk": pa.nulls(len(lsn), pa.float64()),
        "pii": pa.nulls(len(lsn), pa.string()),
        "ingested_at": received,
        "source": pa.repeat("sdk", len(lsn)) if len(lsn) else pa.array([], pa.string()),
    }
    for name in SPAN_SCHEMA.names:
        if name not in columns and name in col:  # the pipeline's enrichers fill the later columns
            columns[name] = col[name]
    return spans_to_table({name: _array(values) for name, values in columns.items()})


_NULL_INT: Final = pa.scalar(None, pa.int64())
_NULL_FLOAT: Final = pa.scalar(None, pa.float64())
_NULL_TEXT: Final = pa.scalar(None, pa.string())


def _present_or(values: pa.Array, default: Any) -> pa.Array:
    if default is None:
        default = _NULL_TEXT
    return pc.if_else(present(values), values, default)


def _attributes(metadata: pa.Array, error_type_json: pa.Array) -> pa.Array:
    """`{"metadata": …, "error.type": …}` with the members that are there, null when neither is."""
    has_metadata, has_type = pc.is_valid(metadata), pc.is_valid(error_type_json)
    first = pc.fill_null(pc.binary_join_element_wise('"metadata":', metadata, ""), "")
    second = pc.fill_null(pc.binary_join_element_wise('"error.type":', error_type_json, ""), "")
    comma = pc.if_else(pc.and_(has_metadata, has_type), ",", "")
    joined = pc.binary_join_element_wise("{", first, comma, second, "}", "")
    return pc.if_else(pc.or_(has_metadata, has_type), joined, _NULL_TEXT)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _times_us(json_texts: pa.Array) -> pa.Array:
    """Epoch µs (null where absent) of times as JSON text: RFC 3339 strings or epoch-ms numbers."""
    is_text = pc.starts_with(json_texts, '"')
    texts = pc.if_else(is_text, pc.utf8_slice_codeunits(json_texts, 1, -1), _NULL_TEXT)
    if pc.any(pc.match_substring(texts, "\\")).as_py():  # escapes in a time string: let JSON unescape it
        quoted = pc.if_else(is_text, json_texts, _NULL_TEXT).to_pylist()
        texts = pa.array([None if t is None else orjson.loads(t) for t in quoted], pa.string())
    numbers = pc.if_else(is_text, _NULL_TEXT, json_texts)
    whole = pc.match_substring_regex(numbers, r"^-?[0-9]+$")
    whole_us = pc.multiply_checked(pc.cast(pc.if_else(whole, numbers, _NULL_TEXT), pa.int64()), 1000)
    fraction_ms = pc.cast(pc.if_else(whole, _NULL_TEXT, numbers), pa.float64())
    fraction_us = pc.cast(pc.round(pc.multiply(fraction_ms, 1000.0), 0, round_mode="half_to_even"), pa.int64())
    return pc.coalesce(_parse_text_times(texts), whole_us, fraction_us)


def _parse_text_times(texts: pa.Array) -> pa.Array:
    """Epoch µs of RFC 3339 strings: Arrow for the plain forms, `parse_time_us` if any is not plain."""
    try:
        return pc.cast(pc.cast(texts, _TS), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if t is None else parse_time_us(t) for t in texts.to_pylist()], pa.int64())


def reference_table(record: WalRecord, header: RecordHeader, body: memoryview, id_prefix: str = "") -> pa.Table:
    """One record through the reference decoder; no rows (logged) if even that cannot read it."""
    lsn = record.lsn
    fallback: Callable[[int], str] = functools.partial(fallback_event_id, id_prefix, lsn)
    try:
        events = orjson.loads(body)["events"]
        return spans_to_table(
            normalize_events(events, header.project_id, header.received_us, fallback, frozenset(header.skip))
        )
    except Exception:  # a record ingest accepted must not stop every record behind it
        log.exception("wal record could not be decoded lsn=%d type=%d", record.lsn, record.type)
        return SPAN_SCHEMA.empty_table()
