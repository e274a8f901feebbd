"""The data lifecycle API: deletion of a trace, a session or an end user's data, and the export download.

Deletions need the project's admin rights (an admin-scope API key, or a user with the admin role): they answer
202 once the tombstone is committed and the traces and sessions a user or session deletion covers are looked up
(queries stop showing all of it at once), with the time by which every file is purged; the audit log records
them. The export runs on the export pool (`lifecycle.export_runner`: its own threads, a per-project limit answered
with 429, a time budget) and streams through a small bounded queue, so neither the loop, nor the threads of
queries, ingest and login, nor memory wait on the size of the export; a client that goes away stops it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lynex_box.api import query_sql as qs
from lynex_box.api.errors import ApiError, error_response, json_response
from lynex_box.api.principal import project_access
from lynex_box.api.services import services
from lynex_box.lifecycle.cache import CacheTooSmall, CorruptDownload
from lynex_box.lifecycle.deletion import DeletionError
from lynex_box.lifecycle.export import FORMATS, SUFFIXES, export
from lynex_box.lifecycle.export_runner import ChunkSink, ExportBusy
from lynex_box.meta import audit
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStoreError
from lynex_box.segments.encryption import KeyUnavailable

log = logging.getLogger("lynex.api.lifecycle")
# Deleting data is an administrative act: admin keys and project admins. (A dedicated "data.delete" action in
# lynex_box/auth/rbac.py would let owners narrow it further.)
DELETE_ACTION: Final = "settings.manage"


def _iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC).isoformat().replace("+00:00", "Z")


async def _delete(request: Request, kind: str, param: str) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    value = request.path_params[param]
    access = await project_access(request, svc, project_id, DELETE_ACTION)
    try:
        tomb, complete = await asyncio.to_thread(svc.engine.lifecycle.delete, project_id, kind, value, access.actor)
    except DeletionError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    body = {"deleted": {"kind": kind, "id": value}, "tombstone_id": tomb.id, "purge_by": _iso(tomb.due_at),
            "scope_complete": complete}  # fmt: skip
    return json_response(body, 202)


async def delete_trace(request: Request) -> Response:
    return await _delete(request, "trace", "trace_id")


async def delete_session(request: Request) -> Response:
    return await _delete(request, "session", "session_id")


async def delete_user(request: Request) -> Response:
    return await _delete(request, "user", "user_id")


async def export_download(request: Request) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    access = await project_access(request, svc, project_id, "data.read")
    params = request.query_params
    fmt = params.get("format", "parquet")
    if fmt not in FORMATS:
        raise ApiError(400, "bad_request", f"format {fmt!r} is not one of {sorted(FORMATS)}")
    filters = qs.parse_filters(params)
    engine = svc.engine
    chunk_s = svc.settings.api.export_chunk_s

    def work(sink: ChunkSink, stop: Callable[[], bool]) -> None:
        rows = export(engine.query, project_id, sink, fmt, filters.start_us, filters.end_us, chunk_s, cancelled=stop)
        _audit_export(engine.meta, access.actor, project_id, fmt, rows)

    try:
        job = svc.exports.start(project_id, work)
    except ExportBusy as exc:
        raise ApiError(429, "too_many_exports", str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
    if not await job.started():  # it ended before its first byte: the status can still say so
        if isinstance(job.exception, _ANSWERED):
            raise job.exception  # the bucket cannot be reached (503), the range does not fit its cache (422), ...
        if job.failed:
            raise ApiError(500, "export_failed", f"{job.error}")
        raise ApiError(503, "export_stopped", f"{job.error}; hint: export a narrower range (from, to)")
    name = f"{project_id}-spans{SUFFIXES[fmt]}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    # An export that ends early (time budget, server stop, failure) raises in the body: the server then closes
    # the connection before the end of the chunked body, which every HTTP client reports as an incomplete download.
    return StreamingResponse(job.chunks(), media_type=FORMATS[fmt], headers=headers)


def _audit_export(db: MetaDB, actor: audit.Actor, project_id: str, fmt: str, rows: int) -> None:
    details = {"format": fmt, "rows": rows}
    audit.record_now(db, actor, "data.exported", project_id=project_id, target_type="project", target_id=project_id,
                     details=details)  # fmt: skip


async def bucket_unavailable(request: Request, exc: Exception) -> Response:
    """A query that needs offloaded segments while the bucket cannot be reached: 503, retry later."""
    log.warning("bucket read failed path=%s error=%s", request.url.path, exc)
    message = "this range is in the bucket, which cannot be reached now; recent data is still available"
    return error_response(503, "bucket_unavailable", message, {"Retry-After": "30"})


async def range_too_large(request: Request, exc: Exception) -> Response:
    """A query whose offloaded segments do not fit the bucket cache at once."""
    return error_response(422, "range_too_large", str(exc))


EXCEPTION_HANDLERS: Final = {ObjectStoreError: bucket_unavailable, CorruptDownload: bucket_unavailable,
                             CacheTooSmall: range_too_large}  # fmt: skip

# Errors of an export that the app answers as it answers them for a query (here and in app.py).
_ANSWERED: Final = (ObjectStoreError, CorruptDownload, CacheTooSmall, KeyUnavailable)

routes = [
    Route("/v1/projects/{project_id}/traces/{trace_id}", delete_trace, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/users/{user_id}", delete_user, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/export", export_download, methods=["GET"]),
]
