"""`POST /v1/projects/{project_id}/scores`: native scores in, `202` once stored (the reads are
`api/query/scores.py`).

A score write goes through the WAL like every other write (`store_scores`, also used by the Langfuse routes): one
SCORES record, acknowledged once durable, which the pipeline applies to meta.db. The answer also waits for that
(up to `[pipeline] scores_visible_wait_ms`), so a read after it sees the scores, as it did when routes wrote
meta.db themselves. Waiting is simpler than a read path that merges records not yet applied, and costs a score
write only the few milliseconds the pipeline takes to reach the record.

The caller is an API key of the path's project or a user who may annotate it (`admission.admit`);
a score is stored under that project whatever trace it names. Both spellings
of a score are accepted (ours, `trace_id`/`span_id`/`data_type`, and Langfuse's `traceId`/...).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import decompress, read_body
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.ingest.admission import admit
from lynex_box.api.jsonbody import parse_json
from lynex_box.api.services import Services
from lynex_box.scores import InvalidScore, Score, encode_scores, parse_score
from lynex_box.wal.records import RecordHeader, RecordType


def _parse(
    raw: bytes, encoding: str, limit: int, max_depth: int, max_scores: int
) -> tuple[list[Score], list[dict[str, Any]]]:
    doc = parse_json(decompress(raw, encoding, limit), max_depth)
    if isinstance(doc, dict) and isinstance(doc.get("scores"), list):
        items = doc["scores"]
    elif isinstance(doc, dict):
        items = [doc]
    else:
        raise ApiError(400, "bad_request", 'body must be a score object or {"scores": [...]}')
    if len(items) > max_scores:
        raise ApiError(413, "too_many_scores", f"{len(items)} scores in one request; the limit is {max_scores}")
    scores: list[Score] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            scores.append(parse_score(item))
        except InvalidScore as exc:
            rejected.append({"index": index, "error": str(exc)})
    return scores, rejected


async def store_scores(svc: Services, project_id: str, scores: list[Score], source: str) -> None:
    """Append `scores` as one SCORES record under `project_id`; return once it is durable and (up to the wait)
    applied to meta.db by the pipeline."""
    header = RecordHeader(project_id, time.time_ns() // 1000, source)
    body = await asyncio.to_thread(encode_scores, scores)
    lsn = await svc.engine.append_async(RecordType.SCORES, header, body)
    await svc.engine.wait_processed(lsn, svc.settings.pipeline.scores_visible_wait_ms / 1000)


async def post_scores(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    # a key needs ingest (or admin) scope; a user, like for annotations, at least the member role. Scores are not
    # spans (a locked encryption key does not stop them) and are not metered.
    svc = (await admit(request, project_id, user_action="data.annotate", spans=False)).svc
    limit = svc.settings.ingest.max_body_bytes
    raw, encoding = await read_body(request, limit)
    ingest = svc.settings.ingest
    scores, rejected = await asyncio.to_thread(
        _parse, raw, encoding, limit, ingest.max_json_depth, ingest.max_scores_per_request
    )
    if scores:
        await store_scores(svc, project_id, scores, "sdk")
    body = {"accepted": len(scores), "rejected": rejected, "ids": [s.id for s in scores]}
    return json_response(body, status=202)


routes = [
    Route("/v1/projects/{project_id}/scores", post_scores, methods=["POST"]),
]

_SCORE: Final = spec.obj(
    ("name", "value"),
    id=spec.STR,
    trace_id=spec.STR,
    span_id=spec.STR,
    session_id=spec.STR,
    name=spec.STR,
    value={"type": ["number", "string", "boolean"]},
    data_type={"enum": ["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"]},
    source={"enum": ["API", "ANNOTATION", "EVAL"]},
    comment=spec.STR,
    timestamp=spec.TIME,
    metadata=spec.ANY,
)
SCORE_VALUE: Final[spec.Schema] = _SCORE["properties"]["value"]
OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/scores": {
        "post": spec.op(
            'Store scores: one score or {"scores": [...]} ({trace_id, span_id?, name, value, data_type?, ...})',
            {202: "{accepted, rejected: [{index, error}], ids}"},
            security=spec.KEY,
            body={"anyOf": [_SCORE, spec.obj(("scores",), scores=spec.list_of(_SCORE))]},
            errors=(400, 401, 403, 413, 503),
            returns=spec.obj(("accepted", "rejected", "ids")),
        )
    }
}
