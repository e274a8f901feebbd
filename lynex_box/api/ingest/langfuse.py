"""Langfuse's public API, as far as its SDKs need it to send data: the auth check, the legacy ingestion batch and
the v5 score endpoint. (Their OTLP path is mounted with the other OTLP receivers in `otlp.py`.)

Auth is Langfuse's: `Basic base64(public_key:secret_key)` where the public key is the project id and the secret
key an API key of that project (`admission.admit`). What a request stores always goes to the key's
project. Answers are sent only once everything acknowledged is durable in the WAL: the trace and observation
events as one `LANGFUSE_INGESTION` record, the scores as one `SCORES` record (`scores.store_scores`, which
also waits for the pipeline to apply them to meta.db).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import decompress, read_body
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.ingest.admission import Admitted, admit, sender
from lynex_box.api.ingest.scores import SCORE_VALUE, store_scores
from lynex_box.api.jsonbody import parse_json
from lynex_box.api.services import services
from lynex_box.scores import InvalidScore, Score, parse_score
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.langfuse import BatchPlan, InvalidBatch, answer, plan_batch
from lynex_box.wal.records import RecordHeader, RecordType

INGESTION_LIMIT: Final = 3_500_000  # Langfuse's batch limit; its SDKs split batches below it
SCORES_LIMIT: Final = 1_048_576  # POST /api/public/scores: Next.js' default body limit, which the v5 SDK honours


async def _json_body(request: Request, limit: int, admitted: Admitted) -> Any:
    raw, encoding = await read_body(request, limit)
    admitted.charge(nbytes=len(raw))
    max_depth = admitted.svc.settings.ingest.max_json_depth

    def parse() -> Any:
        return parse_json(decompress(raw, encoding, limit), max_depth)

    return await asyncio.to_thread(parse)


async def get_projects(request: Request) -> Response:
    """Langfuse's auth check: the key's project, in Langfuse's shape (any valid key passes)."""
    svc = services(request)
    principal = await sender(request, svc)
    found = await asyncio.to_thread(svc.projects.with_org, principal.project_id)
    data = [
        {
            "id": p["project_id"],
            "name": p["name"],
            "organization": {"id": p["org_id"], "name": p["org_name"]},
            "metadata": {},
        }
        for p in ([] if found is None else [found])
    ]
    return json_response({"data": data})


async def post_ingestion(request: Request) -> Response:
    """The legacy batch: `207 {"successes": [...], "errors": [...]}` once the accepted events are durable."""
    admitted = await admit(request)
    svc = admitted.svc
    received_us = time.time_ns() // 1000
    doc = await _json_body(request, INGESTION_LIMIT, admitted)

    window = TimeWindow.at(svc.settings.ingest, received_us)

    def plan() -> tuple[BatchPlan, bytes]:
        try:
            found = plan_batch(doc, window)
        except InvalidBatch as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return found, orjson.dumps({"batch": found.events}) if found.events else b""

    batch, body = await asyncio.to_thread(plan)
    admitted.charge(events=len(batch.events) + len(batch.scores))
    pending: list[Awaitable[object]] = []
    if batch.events:
        header = RecordHeader(admitted.project_id, received_us, "langfuse")
        pending.append(svc.engine.append_async(RecordType.LANGFUSE_INGESTION, header, body))
    if batch.scores:
        pending.append(store_scores(svc, admitted.project_id, batch.scores, "langfuse"))
    await asyncio.gather(*pending)  # both durable before the answer
    return json_response(answer(batch), status=207)


def parse_scores(doc: Any, max_scores: int) -> tuple[list[Score], list[dict[str, Any]]]:
    """Scores of a v5 request (a JSON list, or one score object) and the errors of those refused."""
    items = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if items is None:
        raise ApiError(400, "bad_request", "body must be a JSON list of scores")
    if len(items) > max_scores:
        raise ApiError(413, "too_many_scores", f"{len(items)} scores in one request; the limit is {max_scores}")
    scores: list[Score] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            scores.append(parse_score(item))
        except InvalidScore as exc:
            score_id = item.get("id") if isinstance(item, dict) else None
            errors.append({"index": index, "id": score_id, "message": str(exc)})
    return scores, errors


async def post_scores(request: Request) -> Response:
    """v5 scores: `202 {"message": "Accepted"}`, or `207` with counts and errors when some were refused."""
    admitted = await admit(request)
    doc = await _json_body(request, SCORES_LIMIT, admitted)
    scores, errors = await asyncio.to_thread(parse_scores, doc, admitted.svc.settings.ingest.max_scores_per_request)
    admitted.charge(events=len(scores))
    if scores:
        await store_scores(admitted.svc, admitted.project_id, scores, "langfuse")
    if not errors:
        return json_response({"message": "Accepted"}, status=202)
    return json_response({"accepted": len(scores), "rejected": len(errors), "errors": errors}, status=207)


routes = [
    Route("/api/public/projects", get_projects, methods=["GET"]),
    Route("/api/public/ingestion", post_ingestion, methods=["POST"]),
    Route("/api/public/scores", post_scores, methods=["POST"]),
]

_BATCH: Final = spec.obj(
    ("batch",),
    batch=spec.list_of(
        spec.obj(("id", "type", "body"), id=spec.STR, type=spec.STR, timestamp=spec.STR, body=spec.OBJECT)
    ),
)
_SCORES: Final = spec.list_of(
    spec.obj(("name", "value"), traceId=spec.STR, observationId=spec.STR, name=spec.STR, value=SCORE_VALUE)
)
OPENAPI: Final[spec.Paths] = {
    "/api/public/projects": {
        "get": spec.op(
            "Langfuse auth check: the key's project (Basic public key = project id, secret = API key)",
            {200: '{"data": [{id, name, organization, metadata}]}'},
            security=spec.BASIC,
            errors=(401,),
            returns=spec.obj(("data",), data=spec.list_of(spec.obj(("id", "name", "organization")))),
        )
    },
    "/api/public/ingestion": {
        "post": spec.op(
            'Langfuse legacy batch {"batch": [{id, type, timestamp, body}]} (docs/langfuse.md)',
            {207: '{"successes": [{id, status}], "errors": [{id, status, message}]}'},
            security=spec.BASIC,
            body=_BATCH,
            errors=(400, 401, 403, 413, 429, 503),
            returns=spec.obj(("successes", "errors")),
        )
    },
    "/api/public/scores": {
        "post": spec.op(
            "Langfuse v5 scores (a JSON list)",
            {202: '{"message": "Accepted"}', 207: "{accepted, rejected, errors: [{message}]}"},
            security=spec.BASIC,
            body=_SCORES,
            errors=(400, 401, 403, 413, 429),
        )
    },
}
