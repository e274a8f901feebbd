"""What every read route of project data shares: the caller's right and time scope, rows out as JSON, pages.

`read_scope` checks `data.read` on the path's project (API key or session) before anything is read, and gives the
query engine a `SpanScope` of that project only; `rows_out` turns Arrow rows into JSON-ready dicts (RFC 3339
times, JSON text columns parsed back); `page_of` cuts a newest-first page and its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson
import pyarrow as pa
from starlette.requests import Request

from lynex_box.api.params import encode_cursor
from lynex_box.api.principal import project_access
from lynex_box.api.query.filters import parse_filters, parse_score_filters
from lynex_box.api.services import services
from lynex_box.query.engine import SpanScope
from lynex_box.query.sql import Filters

JSON_COLUMNS = ("input", "output", "tool_calls", "attributes", "pii", "detections")


def iso(value: Any) -> Any:
    """A datetime as RFC 3339 in UTC (`Z`); anything else unchanged."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value


def us_to_dt(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def rows_out(table: pa.Table, drop: tuple[str, ...] = ("_t",)) -> list[dict[str, Any]]:
    """Arrow rows as JSON-ready dicts: RFC 3339 times, JSON text columns parsed back into values."""
    out = []
    for row in table.to_pylist():
        item = {k: iso(v) for k, v in row.items() if k not in drop}
        for key in JSON_COLUMNS:
            text = item.get(key)
            if isinstance(text, str):
                with contextlib.suppress(orjson.JSONDecodeError):
                    item[key] = orjson.loads(text)
        out.append(item)
    return out


async def read_scope(request: Request) -> tuple[SpanScope, Mapping[str, str]]:
    """The path's project and the `from`/`to` range, once the caller may read it; and the query parameters."""
    svc = services(request)
    project_id = request.path_params["project_id"]
    await project_access(request, svc, project_id, "data.read")
    params = request.query_params
    filters = parse_filters(params)
    return SpanScope(project_id, filters.start_us, filters.end_us), params


async def filters_of(request: Request, params: Mapping[str, str], project_id: str) -> Filters:
    """The request's filters, with the traces its `score` conditions match looked up in meta.db (a thread)."""
    f = parse_filters(params)
    conditions = parse_score_filters(params)
    if not conditions:
        return f
    ids = await asyncio.to_thread(services(request).scores.traces_scored, project_id, conditions)
    return dataclasses.replace(f, trace_ids=tuple(sorted(ids)))


def page_of(table: pa.Table, limit: int, key: str) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` rows and the cursor after them (None when the table holds no more: it has limit + 1)."""
    rows = table.slice(0, limit)
    next_cursor = None
    if table.num_rows > limit:
        last = rows.slice(limit - 1, 1).to_pylist()[0]
        next_cursor = encode_cursor(last["_t"], last[key])
    return rows_out(rows), next_cursor
