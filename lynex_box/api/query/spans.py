"""The query API over spans: spans, metrics, sessions and users of the caller's project (traces: `traces.py`).

Every handler authenticates first (an API key, or a session whose user has a role on the project),
checks the path's project against the caller's, and hands the engine a `SpanScope` of that project
only. Queries run in a worker thread; the loop never waits on DuckDB. Lists answer
`{"items": [...], "next_cursor": ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.params import decode_cursor
from lynex_box.api.query.filters import (
    FILTERS,
    LIST_PARAMS,
    parse_group,
    parse_interval,
    parse_latency_kind,
    parse_limit,
    parse_top,
)
from lynex_box.api.query.reads import filters_of, iso, page_of, read_scope, us_to_dt
from lynex_box.api.query.sorting import decode_sorted_cursor, params_of, parse_sort, sorted_page_of, with_total
from lynex_box.api.services import services
from lynex_box.query import pages, sorted_pages
from lynex_box.query import sql as qs
from lynex_box.query.sorting import GROUP_EXTRA
from lynex_box.query.sql import GROUP_COLUMNS


async def list_spans(request: Request) -> Response:
    scope, params = await read_scope(request)
    limit = parse_limit(params)
    f, cursor = await filters_of(request, params, scope.project_id), decode_cursor(params.get("cursor"))
    summary = parse_fields(params)
    query = services(request).engine.query
    table = await query.call_async(pages.span_page, query, scope.project_id, f, cursor, limit, summary)
    items, next_cursor = page_of(table, limit, "event_id")
    return json_response({"items": items, "next_cursor": next_cursor})


def parse_fields(params: Mapping[str, str]) -> bool:
    """`fields=summary` (True): the table columns only; `fields=all` or none: every column."""
    fields = params.get("fields") or "all"
    if fields not in ("all", "summary"):
        raise ApiError(400, "bad_fields", f"fields {fields!r} is not one of ['all', 'summary']")
    return fields == "summary"


async def get_metrics(request: Request) -> Response:
    scope, params = await read_scope(request)
    interval = parse_interval(params)
    group = parse_group(params)
    top, top_by = parse_top(params)
    latency_kind = parse_latency_kind(params)
    f = await filters_of(request, params, scope.project_id)
    sql, bound = qs.metrics_sql(f, interval, group, top, top_by, latency_kind)
    table = await services(request).engine.query.query_async(scope, sql, bound)
    series: dict[str, list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        t = row.pop("t")
        group_value = row.pop("grp")
        point = {"t": iso(us_to_dt(t)) if t is not None else None, **row}
        series.setdefault(group_value, []).append(point)
    return json_response({"series": [{"group": g, "points": p} for g, p in series.items()]})


async def _grouped(request: Request, key: str, list_name: str, extra: str = "") -> Response:
    scope, params = await read_scope(request)
    limit = parse_limit(params)
    f, sort = await filters_of(request, params, scope.project_id), parse_sort(params, list_name)
    query = services(request).engine.query
    pid, first, extra = scope.project_id, not params.get("cursor"), extra + GROUP_EXTRA
    if sort.is_default:
        cursor = decode_cursor(params.get("cursor"))
        page = query.call_async(pages.grouped_page, query, pid, key, f, cursor, limit, extra)
        table, total = await with_total(query, pid, key, f, first, page)
        items, next_cursor = page_of(table, limit, "id")
    else:
        after = decode_sorted_cursor(params.get("cursor"), sort)
        page = query.call_async(sorted_pages.sorted_grouped_page, query, pid, key, f, sort, after, limit, extra)
        table, total = await with_total(query, pid, key, f, first, page)
        items, next_cursor = sorted_page_of(table, limit, "id", sort)
    for item in items:
        item[key] = item.pop("id")
    return json_response({"items": items, "next_cursor": next_cursor, "total": total})


async def list_sessions(request: Request) -> Response:
    return await _grouped(request, "session_id", "sessions", ", max(user_id) AS user_id")


async def list_users(request: Request) -> Response:
    return await _grouped(request, "user_id", "users", ", count(DISTINCT session_id) AS session_count")


routes = [
    Route("/v1/projects/{project_id}/spans", list_spans, methods=["GET"]),
    Route("/v1/projects/{project_id}/metrics", get_metrics, methods=["GET"]),
    Route("/v1/projects/{project_id}/sessions", list_sessions, methods=["GET"]),
    Route("/v1/projects/{project_id}/users", list_users, methods=["GET"]),
]

OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/spans": {
        "get": spec.read(
            "Spans, newest first",
            [*LIST_PARAMS, *spec.query(("fields", "all (default): every column; summary: a table's columns only"))],
            spec.LIST,
        )
    },
    "/v1/projects/{project_id}/metrics": {
        "get": spec.read(
            "Spans, traces and LLM calls with their errors, tokens, cost, hallucination risk and latency "
            'percentiles, over time and per group (docs/api.md "Metrics")',
            [
                *FILTERS,
                *spec.query(
                    ("interval", "30s, 5m, 1h, 1d; none = one point"),
                    ("group_by", ", ".join(GROUP_COLUMNS)),
                    ("top", "keep the N groups ranked highest by top_by"),
                    ("top_by", "total_cost (default), count or errors"),
                    ("latency_kind", "percentiles of this span kind only, or `llm_call` for every LLM call"),
                ),
            ],
            spec.obj((), series={"type": "array"}),
        )
    },
    "/v1/projects/{project_id}/sessions": {
        "get": spec.read(
            "Aggregates per session, last seen first or sorted by a column; `total` on the first page",
            [*LIST_PARAMS, *params_of("sessions")],
            spec.LIST,
        )
    },
    "/v1/projects/{project_id}/users": {
        "get": spec.read(
            "Aggregates per end user, last seen first or sorted by a column; `total` on the first page",
            [*LIST_PARAMS, *params_of("users")],
            spec.LIST,
        )
    },
}
