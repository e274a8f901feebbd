"""`GET /v1/projects/{project_id}/scores`: a project's scores, filtered, newest first, paged.

The caller is an API key of the path's project or a user with a role on it (`principal.project_access`). Scores
are written by `api/ingest/scores.py` (and the Langfuse routes) through the WAL; the pipeline applies them to
meta.db, which this reads in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.params import decode_cursor, encode_cursor
from lynex_box.api.principal import project_access
from lynex_box.api.query.filters import LIST_LIMIT, parse_limit
from lynex_box.api.services import services
from lynex_box.scores import ScoreFilter


async def get_scores(request: Request) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    await project_access(request, svc, project_id, "data.read")
    params = request.query_params
    for key in ("trace_id", "span_id", "session_id", "name"):
        if len(params.get(key) or "") > 1000:
            raise ApiError(400, "bad_filter", f"{key} is longer than 1000 characters")
    where = ScoreFilter(*(params.get(key) or None for key in ("trace_id", "span_id", "session_id", "name")))
    limit = parse_limit(params)
    before = decode_cursor(params.get("cursor"))
    found = await asyncio.to_thread(svc.scores.page, project_id, where, limit + 1, before)
    page = found[:limit]
    next_cursor = encode_cursor(page[-1].timestamp_us, page[-1].id) if len(found) > limit else None
    return json_response({"items": [s.as_dict() for s in page], "next_cursor": next_cursor})


routes = [Route("/v1/projects/{project_id}/scores", get_scores, methods=["GET"])]

_FILTERS: Final = spec.query(
    ("trace_id", "trace"), ("span_id", "span"), ("session_id", "session"), ("name", "score name")
)
OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/scores": {
        "get": spec.read("Scores, newest first", [*_FILTERS, *spec.page(LIST_LIMIT)], spec.PAGE)
    }
}
