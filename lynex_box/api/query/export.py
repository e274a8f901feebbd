"""`GET /v1/projects/{project_id}/export`: the project's spans as one Parquet, JSON Lines or CSV download.

The caller needs `data.read` on the project. The export runs on the export pool (`lifecycle.export_runner`: its
own threads, a per-project limit answered with 429, a time budget) and streams through a small bounded queue, so
neither the loop, nor the threads of queries, ingest and login, nor memory wait on the size of the export; a client
that goes away stops it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError
from lynex_box.api.principal import project_access
from lynex_box.api.query.filters import RANGE, parse_filters
from lynex_box.api.services import services
from lynex_box.api.unavailable import ANSWERED
from lynex_box.lifecycle.export import FORMATS, SUFFIXES, export
from lynex_box.lifecycle.export_runner import ChunkSink, ExportBusy


async def export_download(request: Request) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    access = await project_access(request, svc, project_id, "data.read")
    params = request.query_params
    fmt = params.get("format", "parquet")
    if fmt not in FORMATS:
        raise ApiError(400, "bad_request", f"format {fmt!r} is not one of {sorted(FORMATS)}")
    filters = parse_filters(params)
    query, audit_log = svc.engine.query, svc.audit
    chunk_s = svc.settings.api.export_chunk_s

    def work(sink: ChunkSink, stop: Callable[[], bool]) -> None:
        rows = export(query, project_id, sink, fmt, filters.start_us, filters.end_us, chunk_s, cancelled=stop)
        details = {"format": fmt, "rows": rows}
        audit_log.record(access.actor, "data.exported", project_id=project_id, target_type="project",
                         target_id=project_id, details=details)  # fmt: skip

    try:
        job = svc.exports.start(project_id, work)
    except ExportBusy as exc:
        raise ApiError(429, "too_many_exports", str(exc), {"Retry-After": str(exc.retry_after_s)}) from None
    if not await job.started():  # it ended before its first byte: the status can still say so
        if isinstance(job.exception, ANSWERED):
            raise job.exception  # the bucket cannot be reached (503), the range does not fit its cache (422), ...
        if job.failed:
            raise ApiError(500, "export_failed", f"{job.error}")
        raise ApiError(503, "export_stopped", f"{job.error}; hint: export a narrower range (from, to)")
    name = f"{project_id}-spans{SUFFIXES[fmt]}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    # An export that ends early (time budget, server stop, failure) raises in the body: the server then closes
    # the connection before the end of the chunked body, which every HTTP client reports as an incomplete download.
    return StreamingResponse(job.chunks(), media_type=FORMATS[fmt], headers=headers)


routes = [
    Route("/v1/projects/{project_id}/export", export_download, methods=["GET"]),
]

OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/export": {
        "get": spec.op(
            "Download the project's spans (format=parquet|jsonl|csv, from, to), streamed; at most "
            "[api] export_per_project at once per project (429 + Retry-After), stopped after "
            "[api] export_timeout_s (the body then ends incomplete)",
            {200: {"description": "the file", "content": {media: {} for media in FORMATS.values()}}},
            security=spec.KEY,
            params=[*spec.query(("format", "parquet (default), jsonl or csv")), *RANGE],
            errors=(*spec.READ_ERRORS, 429),
        )
    }
}
