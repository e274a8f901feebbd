"""The trace as Langfuse means it: trace-level fields merged from every row that sets them, latest value winning.

Langfuse keeps a trace apart from its observations, and lets any later event set or change its name, input,
output, metadata, user, session, tags, release or environment. We store no trace row of our own, so
`merged_trace` rebuilds it from span rows (as `rows_out` gives them: times as RFC 3339 text, `attributes` parsed):

- the legacy ingestion's trace rows (`trace-create` events: span id = trace id, no parent, Langfuse source), the
  create and every later update;
- OTLP spans of Langfuse's OTel SDKs: `langfuse.trace.name` (v3 and v5, set by `update_trace` or
  `propagate_attributes(trace_name=...)`), `langfuse.trace.input` / `langfuse.trace.output` (v3), and the user,
  session, tags, release and environment columns of any span.

Rows are taken in ingest order (a create before an update of the same moment, then by start time) and the latest
non-null value of each field wins. Without any of these, the name, input and output are the first root span's.
Pure; never raises on odd values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import orjson

from lynex_box.sources.langfuse.observations import SOURCE, UPDATE_SOURCE

__all__ = ["TRACE_FIELDS", "TRACE_SUMMARY_SQL", "merged_trace"]

TRACE_FIELDS: Final = ("name", "user_id", "session_id", "tags", "input", "output", "metadata", "release", "environment")
_NEVER: Final = dt.datetime.min.replace(tzinfo=dt.UTC)
_LANGFUSE_SOURCES: Final = frozenset({SOURCE, UPDATE_SOURCE})
_SPAN_FIELDS: Final = ("user_id", "session_id", "tags", "release", "environment")  # from any span
_TRACE_ATTRIBUTES: Final = (
    ("langfuse.trace.name", "name"),
    ("langfuse.trace.input", "input"),
    ("langfuse.trace.output", "output"),
)
# The rows `merged_trace` reads, for callers that do not hold every row of the trace (the outline): root rows
# and rows whose attributes name a trace-level Langfuse attribute.
TRACE_SUMMARY_SQL: Final = (
    "SELECT trace_id, span_id, parent_span_id, source, ingested_at, start_time, name, user_id, session_id, tags,"
    " input, output, release, environment, attributes FROM spans"
    " WHERE parent_span_id IS NULL OR contains(coalesce(attributes, ''), '\"langfuse.trace.')"
)


def _parsed(value: Any) -> Any:
    """Langfuse's SDKs send trace input/output as JSON text; plain text stays text."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return _NEVER


def _order(row: dict[str, Any]) -> tuple[dt.datetime, int, dt.datetime]:
    return _when(row.get("ingested_at")), int(row.get("source") == UPDATE_SOURCE), _when(row.get("start_time"))


def _is_trace_row(row: dict[str, Any]) -> bool:
    """A row of the legacy ingestion's trace (its create or an update of it)."""
    return (
        row.get("source") in _LANGFUSE_SOURCES
        and row.get("parent_span_id") is None
        and row.get("span_id") == row.get("trace_id")
    )


def _values(row: dict[str, Any]) -> dict[str, Any]:
    """The trace-level fields this row sets (None for those it leaves alone)."""
    values = {key: row.get(key) for key in _SPAN_FIELDS}
    attributes = row.get("attributes")
    if not isinstance(attributes, dict):
        attributes = {}
    if _is_trace_row(row):
        values.update(name=row.get("name"), input=row.get("input"), output=row.get("output"))
        values["metadata"] = attributes.get("metadata")
    for key, field in _TRACE_ATTRIBUTES:
        if attributes.get(key) is not None:
            values[field] = _parsed(attributes[key]) if field != "name" else attributes[key]
    return values


def merged_trace(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The trace-level fields (`TRACE_FIELDS`) of one trace's rows."""
    trace: dict[str, Any] = dict.fromkeys(TRACE_FIELDS)
    roots = [row for row in rows if row.get("parent_span_id") is None]
    if roots:
        first = min(roots, key=lambda row: _when(row.get("start_time")))
        trace.update(name=first.get("name"), input=first.get("input"), output=first.get("output"))
    for row in sorted(rows, key=_order):
        for key, value in _values(row).items():
            if value is not None and value != [] and value != "":
                trace[key] = value
    return trace
