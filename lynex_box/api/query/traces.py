"""Every read of traces: the list (`GET /v1/projects/{pid}/traces`), one whole trace with its scores
(`GET .../traces/{trace_id}`), and, for the UI's lazy loading of big traces, a trace's outline and one span at a
time. (Deleting a trace is `api/admin/deletion.py`.)

`GET /v1/projects/{pid}/traces/{trace_id}/outline` answers the columns the waterfall and the span tree
draw (ids, name, kind, times, status, model, tokens, cost, tool calls), leaving out null values, so a
trace of 30,000 spans is a few MB instead of tens; Langfuse updates are merged into their spans, and
`trace` holds the trace-level fields (`langfuse.trace_view`). `GET .../traces/{trace_id}/spans/{span_id}` answers
one span with every column (input, output, attributes...). Authentication and tenancy are every read's
(`reads.read_scope`); queries run in worker threads. The list's pages are planned in `lynex_box/query/pages.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import orjson
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.params import bounded_int, decode_cursor
from lynex_box.api.query.filters import FILTERS, LIST_PARAMS, MAX_LIMIT, parse_group, parse_limit
from lynex_box.api.query.reads import filters_of, iso, page_of, read_scope, rows_out
from lynex_box.api.query.sorting import decode_sorted_cursor, params_of, parse_sort, sorted_page_of, with_total
from lynex_box.api.services import services
from lynex_box.query import pages, sorted_pages
from lynex_box.query.engine import SpanScope
from lynex_box.query.sorting import facets_sql
from lynex_box.query.sql import GROUP_COLUMNS
from lynex_box.sources.langfuse.fold import fold_langfuse_rows
from lynex_box.sources.langfuse.trace_view import TRACE_SUMMARY_SQL, merged_trace
from lynex_box.sources.otlp.fold import fold_log_events

OUTLINE_COLUMNS = (
    "span_id", "parent_span_id", "name", "kind", "start_time", "end_time", "duration_ms", "status",
    "model", "input_tokens", "output_tokens", "total_cost", "tool_calls",
)  # fmt: skip
# Read to merge a Langfuse span's update rows into it (`fold_langfuse_rows`), then left out of the answer.
_FOLD_COLUMNS = ("trace_id", "event_id", "source", "ingested_at")
MAX_ID = 256


def _ids(request: Request) -> tuple[str, str | None]:
    trace_id = request.path_params["trace_id"]
    span_id = request.path_params.get("span_id")
    if len(trace_id) > MAX_ID or (span_id is not None and len(span_id) > MAX_ID):
        raise ApiError(400, "bad_request", f"ids are at most {MAX_ID} characters")
    return trace_id, span_id


def outline_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows without their null values; times as RFC 3339; `tool_calls` parsed from its JSON text."""
    out = []
    for row in table.to_pylist():
        item = {k: iso(v) for k, v in row.items() if v is not None}
        calls = item.get("tool_calls")
        if isinstance(calls, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                item["tool_calls"] = orjson.loads(calls)
        out.append(item)
    return out


def _folded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Langfuse updates merged into their span (as the trace endpoint does), without the columns that took."""
    out = []
    for row in fold_langfuse_rows(rows):
        for key in _FOLD_COLUMNS:
            row.pop(key, None)
        out.append(row)
    return out


async def list_traces(request: Request) -> Response:
    scope, params = await read_scope(request)
    limit = parse_limit(params)
    f, sort = await filters_of(request, params, scope.project_id), parse_sort(params, "traces")
    query = services(request).engine.query
    first = not params.get("cursor")
    if sort.is_default:
        cursor = decode_cursor(params.get("cursor"))
        page = query.call_async(pages.trace_page, query, scope.project_id, f, cursor, limit)
        table, total = await with_total(query, scope.project_id, "trace_id", f, first, page)
        items, next_cursor = page_of(table, limit, "trace_id")
    else:
        after = decode_sorted_cursor(params.get("cursor"), sort)
        page = query.call_async(sorted_pages.sorted_trace_page, query, scope.project_id, f, sort, after, limit)
        table, total = await with_total(query, scope.project_id, "trace_id", f, first, page)
        items, next_cursor = sorted_page_of(table, limit, "trace_id", sort)
    return json_response({"items": items, "next_cursor": next_cursor, "total": total})


async def trace_facets(request: Request) -> Response:
    """The top values of a column by the traces of the list that have them (what the list shows once filtered)."""
    scope, params = await read_scope(request)
    group = parse_group(params) or "model"
    if group == "tag":  # a span holds several tags: the metrics API's group_by=tag counts them
        raise ApiError(400, "bad_group_by", "trace-facets cannot group by tag; hint: GET .../metrics?group_by=tag")
    top = bounded_int(params, "top", 1, MAX_LIMIT, 8, "bad_top")
    sql, bound = facets_sql(await filters_of(request, params, scope.project_id), group, top)
    table = await services(request).engine.query.query_async(scope, sql, bound)
    return json_response({"group_by": group, "items": table.to_pylist()})


async def get_trace(request: Request) -> Response:
    scope, _ = await read_scope(request)
    trace_id = request.path_params["trace_id"]
    if len(trace_id) > 256:
        raise ApiError(400, "bad_request", "trace id is longer than 256 characters")
    scope = SpanScope(scope.project_id, trace_id=trace_id)
    query = services(request).engine.query
    if not await query.call_async(query.may_hold_trace, scope.project_id, trace_id):
        raise ApiError(404, "not_found", "no trace with that id in this project")
    table = await query.query_async(scope, "SELECT * FROM spans ORDER BY start_time, span_id", dedupe=True)
    if table.num_rows == 0:
        raise ApiError(404, "not_found", "no trace with that id in this project")
    scores = await asyncio.to_thread(services(request).scores.of_trace, scope.project_id, trace_id)
    rows = rows_out(table)
    trace = merged_trace(rows)  # before the fold: it reads every row of the trace, updates included
    spans = fold_langfuse_rows(fold_log_events(rows))
    scored = [s.as_dict() for s in scores]
    return json_response({"trace_id": trace_id, "trace": trace, "spans": spans, "scores": scored})


async def trace_outline(request: Request) -> Response:
    scope, _ = await read_scope(request)
    trace_id, _ = _ids(request)
    cols = ", ".join((*OUTLINE_COLUMNS, *_FOLD_COLUMNS))
    query = services(request).engine.query
    span_scope = SpanScope(scope.project_id, trace_id=trace_id)
    table = await query.query_async(span_scope, f"SELECT {cols} FROM spans ORDER BY start_time, span_id", dedupe=True)
    if table.num_rows == 0:
        raise ApiError(404, "not_found", "no trace with that id in this project")
    summary = await query.query_async(span_scope, TRACE_SUMMARY_SQL, dedupe=True)
    trace = merged_trace(rows_out(summary))
    return json_response({"trace_id": trace_id, "trace": trace, "spans": _folded(outline_rows(table))})


async def trace_span(request: Request) -> Response:
    scope, _ = await read_scope(request)
    trace_id, span_id = _ids(request)
    table = await services(request).engine.query.query_async(
        SpanScope(scope.project_id, trace_id=trace_id),
        "SELECT * FROM spans WHERE span_id = $span_id ORDER BY ingested_at LIMIT 1",
        {"span_id": span_id},
        dedupe=True,
    )
    if table.num_rows == 0:
        raise ApiError(404, "not_found", "no span with that id in this trace")
    return json_response(rows_out(table)[0])


routes = [
    Route("/v1/projects/{project_id}/traces", list_traces, methods=["GET"]),
    Route("/v1/projects/{project_id}/trace-facets", trace_facets, methods=["GET"]),
    Route("/v1/projects/{project_id}/traces/{trace_id}", get_trace, methods=["GET"]),
    Route("/v1/projects/{project_id}/traces/{trace_id}/outline", trace_outline, methods=["GET"]),
    Route("/v1/projects/{project_id}/traces/{trace_id}/spans/{span_id}", trace_span, methods=["GET"]),
]

OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/traces": {
        "get": spec.read(
            "Traces, newest first or sorted by a column; `total` on the first page",
            [*LIST_PARAMS, *params_of("traces")],
            spec.LIST,
        )
    },
    "/v1/projects/{project_id}/trace-facets": {
        "get": spec.read(
            "The top values of a column, counted in traces of the list (and spans)",
            [
                *FILTERS,
                *spec.query(
                    ("group_by", ", ".join(GROUP_COLUMNS) + " (default model)"),
                    ("top", f"how many values, 1..{MAX_LIMIT}, default 8"),
                ),
            ],
            spec.obj((), group_by=spec.STR, items={"type": "array"}),
        )
    },
    "/v1/projects/{project_id}/traces/{trace_id}": {
        "get": spec.read(
            "One trace with all its spans and its scores",
            returns=spec.obj((), trace_id=spec.STR, spans={"type": "array"}, scores={"type": "array"}),
            item=True,
        )
    },
    "/v1/projects/{project_id}/traces/{trace_id}/outline": {
        "get": spec.read(
            "A trace's spans with the columns of its waterfall only (null values left out)",
            returns=spec.obj((), trace_id=spec.STR, spans={"type": "array"}),
            item=True,
        )
    },
    "/v1/projects/{project_id}/traces/{trace_id}/spans/{span_id}": {
        "get": spec.read("One span of a trace with every column", item=True)
    },
}
