"""The query API: traces, one trace, spans, metrics, sessions and users of the caller's project.

Every handler authenticates first (an API key, or a session whose user has a role on the project),
checks the path's project against the caller's, and hands the engine a `SpanScope` of that project
only. Queries run in a worker thread; the loop never waits on DuckDB. Lists answer
`{"items": [...], "next_cursor": ...}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import query_pages as pages
from lynex_box.api import query_sql as qs
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.params import decode_cursor, encode_cursor
from lynex_box.api.principal import project_access
from lynex_box.api.services import services
from lynex_box.query.engine import SpanScope
from lynex_box.scores import scores_for_trace
from lynex_box.sources.langfuse.fold import fold_langfuse_rows
from lynex_box.sources.langfuse.trace_view import merged_trace
from lynex_box.sources.otlp.fold import fold_log_events

JSON_COLUMNS = ("input", "output", "tool_calls", "attributes", "pii")


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value


def rows_out(table: pa.Table, drop: tuple[str, ...] = ("_t",)) -> list[dict[str, Any]]:
    """Arrow rows as JSON-ready dicts: RFC 3339 times, JSON text columns parsed back into values."""
    out = []
    for row in table.to_pylist():
        item = {k: _iso(v) for k, v in row.items() if k not in drop}
        for key in JSON_COLUMNS:
            text = item.get(key)
            if isinstance(text, str):
                with contextlib.suppress(orjson.JSONDecodeError):
                    item[key] = orjson.loads(text)
        out.append(item)
    return out


async def _scope(request: Request) -> tuple[SpanScope, Mapping[str, str]]:
    svc = services(request)
    project_id = request.path_params["project_id"]
    await project_access(request, svc, project_id, "data.read")
    params = request.query_params
    filters = qs.parse_filters(params)
    return SpanScope(project_id, filters.start_us, filters.end_us), params


def _page(table: pa.Table, limit: int, key: str) -> tuple[list[dict[str, Any]], str | None]:
    rows = table.slice(0, limit)
    next_cursor = None
    if table.num_rows > limit:
        last = rows.slice(limit - 1, 1).to_pylist()[0]
        next_cursor = encode_cursor(last["_t"], last[key])
    return rows_out(rows), next_cursor


async def list_traces(request: Request) -> Response:
    scope, params = await _scope(request)
    limit = qs.parse_limit(params)
    f, cursor = qs.parse_filters(params), decode_cursor(params.get("cursor"))
    query = services(request).engine.query
    table = await query.call_async(pages.trace_page, query, scope.project_id, f, cursor, limit)
    items, next_cursor = _page(table, limit, "trace_id")
    return json_response({"items": items, "next_cursor": next_cursor})


async def get_trace(request: Request) -> Response:
    scope, _ = await _scope(request)
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
    scores = await asyncio.to_thread(scores_for_trace, services(request).engine.meta, scope.project_id, trace_id)
    rows = rows_out(table)
    trace = merged_trace(rows)  # before the fold: it reads every row of the trace, updates included
    spans = fold_langfuse_rows(fold_log_events(rows))
    scored = [s.as_dict() for s in scores]
    return json_response({"trace_id": trace_id, "trace": trace, "spans": spans, "scores": scored})


async def list_spans(request: Request) -> Response:
    scope, params = await _scope(request)
    limit = qs.parse_limit(params)
    f, cursor = qs.parse_filters(params), decode_cursor(params.get("cursor"))
    query = services(request).engine.query
    table = await query.call_async(pages.span_page, query, scope.project_id, f, cursor, limit)
    items, next_cursor = _page(table, limit, "event_id")
    return json_response({"items": items, "next_cursor": next_cursor})


async def get_metrics(request: Request) -> Response:
    scope, params = await _scope(request)
    interval = qs.parse_interval(params)
    group = qs.parse_group(params)
    top, top_by = qs.parse_top(params)
    sql, bound = qs.metrics_sql(qs.parse_filters(params), interval, group, top, top_by)
    table = await services(request).engine.query.query_async(scope, sql, bound)
    series: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        t = row.pop("t")
        group_value = row.pop("grp")
        point = {"t": _iso(_us_to_dt(t)) if t is not None else None, **row}
        series.setdefault(group_value, []).append(point)
    return json_response({"series": [{"group": g, "points": p} for g, p in series.items()]})


def _us_to_dt(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


async def _grouped(request: Request, key: str, extra: str = "") -> Response:
    scope, params = await _scope(request)
    limit = qs.parse_limit(params)
    f, cursor = qs.parse_filters(params), decode_cursor(params.get("cursor"))
    query = services(request).engine.query
    table = await query.call_async(pages.grouped_page, query, scope.project_id, key, f, cursor, limit, extra)
    items, next_cursor = _page(table, limit, "id")
    for item in items:
        item[key] = item.pop("id")
    return json_response({"items": items, "next_cursor": next_cursor})


async def list_sessions(request: Request) -> Response:
    return await _grouped(request, "session_id", ", max(user_id) AS user_id")


async def list_users(request: Request) -> Response:
    return await _grouped(request, "user_id", ", count(DISTINCT session_id) AS session_count")


routes = [
    Route("/v1/projects/{project_id}/traces", list_traces, methods=["GET"]),
    Route("/v1/projects/{project_id}/traces/{trace_id}", get_trace, methods=["GET"]),
    Route("/v1/projects/{project_id}/spans", list_spans, methods=["GET"]),
    Route("/v1/projects/{project_id}/metrics", get_metrics, methods=["GET"]),
    Route("/v1/projects/{project_id}/sessions", list_sessions, methods=["GET"]),
    Route("/v1/projects/{project_id}/users", list_users, methods=["GET"]),
]
