"""`GET /v1/projects/{project_id}/export/traces`: what the traces list's filters select, as one CSV, JSON Lines
or Parquet download (the UI's Export menu).

It reads the list's own pages (`query.pages.trace_page`, the query behind `GET .../traces`) with the same filters,
newest first, so the file's rows are the list's rows: CSV and JSON Lines carry the values the list answers (times
as RFC 3339), Parquet the typed columns. At most `[api] list_export_max_rows` rows; the `X-Lynex-Truncated: true`
header says when more matched. Trace rows are small (no input or output), so the rows are gathered page by page in
worker threads and encoded once in a thread; the audit log records the export. (The whole project's spans over a
time range are `api/query/export.py`.)
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError
from lynex_box.api.principal import project_access
from lynex_box.api.query.filters import FILTERS
from lynex_box.api.query.reads import filters_of, rows_out
from lynex_box.api.services import services
from lynex_box.lifecycle.export import FORMATS, SUFFIXES
from lynex_box.query import pages
from lynex_box.query.engine import QueryEngine
from lynex_box.query.sql import Filters

PAGE: Final = 1000  # rows per read of the list's pages: the list's own largest page
HIDDEN: Final = ("_t",)  # the paging key, not a column of the list


def read_rows(query: QueryEngine, project_id: str, f: Filters, max_rows: int) -> tuple[pa.Table, bool]:
    """The list's rows (newest first, at most `max_rows`) and whether more matched. Blocking: run in a thread."""
    tables: list[pa.Table] = []
    count, cursor, more = 0, None, False
    while True:
        limit = min(PAGE, max_rows - count)
        table = pages.trace_page(query, project_id, f, cursor, limit)
        rows = table.slice(0, limit)
        tables.append(rows)
        count += rows.num_rows
        more = table.num_rows > limit
        if not more or count >= max_rows:
            break
        last = rows.slice(rows.num_rows - 1, 1).to_pylist()[0]
        cursor = (last["_t"], last["trace_id"])
    whole = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return whole.drop_columns([c for c in HIDDEN if c in whole.column_names]), more


def _cell(value: Any) -> Any:
    """A CSV cell: lists and objects as JSON text, None as an empty cell."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return "" if value is None else value


def encode(table: pa.Table, fmt: str) -> bytes:
    """The rows in `fmt`; CSV and JSON Lines with the list's values (`rows_out`), Parquet typed (zstd)."""
    if fmt == "parquet":
        out = io.BytesIO()
        pq.write_table(table, out, compression="zstd")
        return out.getvalue()
    rows = rows_out(table)
    if fmt == "jsonl":
        return b"".join(orjson.dumps(row) + b"\n" for row in rows)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in table.column_names])
    return text.getvalue().encode()


async def export_traces(request: Request) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    access = await project_access(request, svc, project_id, "data.read")
    params = request.query_params
    fmt = params.get("format", "csv")
    if fmt not in FORMATS:
        raise ApiError(400, "bad_request", f"format {fmt!r} is not one of {sorted(FORMATS)}")
    f = await filters_of(request, params, project_id)  # the list's filters, score conditions included
    query = svc.engine.query
    table, more = await query.call_async(read_rows, query, project_id, f, svc.settings.api.list_export_max_rows)
    body = await asyncio.to_thread(encode, table, fmt)
    details = {"format": fmt, "rows": table.num_rows, "list": "traces", "truncated": more}
    await asyncio.to_thread(
        svc.audit.record, access.actor, "data.exported", project_id=project_id, target_type="project",
        target_id=project_id, details=details,
    )  # fmt: skip
    headers = {
        "Content-Disposition": f'attachment; filename="{project_id}-traces{SUFFIXES[fmt]}"',
        "Cache-Control": "no-store",
        "X-Lynex-Truncated": "true" if more else "false",
        "X-Lynex-Rows": str(table.num_rows),
    }
    return Response(body, media_type=FORMATS[fmt], headers=headers)


routes = [
    Route("/v1/projects/{project_id}/export/traces", export_traces, methods=["GET"]),
]

OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/export/traces": {
        "get": spec.op(
            "Download the traces the list's filters select (format=csv (default), jsonl or parquet), newest first, "
            "the same rows as GET /v1/projects/{project_id}/traces; at most [api] list_export_max_rows rows "
            "(X-Lynex-Truncated: true when more matched; X-Lynex-Rows: the rows in the file); audited",
            {200: {"description": "the file", "content": {media: {} for media in FORMATS.values()}}},
            security=spec.KEY,
            params=[*spec.query(("format", "csv (default), jsonl or parquet")), *FILTERS],
            errors=spec.READ_ERRORS,
        )
    }
}
