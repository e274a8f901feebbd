"""`POST /v1/projects/{project_id}/events`: native events in, `202` once they are durable in the WAL.

The request path does only what must happen before the acknowledgement: admission (`admission.admit`), bound the body,
parse and validate each event cheaply (in a thread), append one WAL record, wait for it to be durable.
Normalisation and enrichment happen in the pipeline, after the answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import decompress, read_body
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.ingest.admission import admit
from lynex_box.api.jsonbody import parse_json
from lynex_box.config import IngestSettings
from lynex_box.sources.common.jsondepth import TooDeep, check_depth
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.native.fastcheck import all_valid
from lynex_box.sources.native.validate import validate_event
from lynex_box.wal.records import RecordHeader, RecordType


def parse_events(
    raw: bytes, encoding: str, limits: IngestSettings, window: TimeWindow
) -> tuple[bytes, int, list[dict[str, Any]]]:
    """Decompress, parse and validate; returns the JSON body, its event count and the rejections.

    Whatever the bytes, it returns or raises ApiError (4xx): invalid UTF-8 and too deep nesting included."""
    body = decompress(raw, encoding, limits.max_body_bytes)
    max_events = limits.max_events_per_request
    count = all_valid(body, limits.max_field_bytes, window)
    if count is not None:  # the common request: checked in C, stored as sent
        try:
            check_depth(body, limits.max_json_depth)
        except TooDeep as exc:
            raise ApiError(400, "too_deep", str(exc)) from None
        if count > max_events:
            raise ApiError(413, "too_many_events", f"{count} events in one request; the limit is {max_events}")
        return body, count, []
    doc = parse_json(body, limits.max_json_depth)
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise ApiError(400, "bad_request", 'body must be a JSON object {"events": [...]}')
    events = doc["events"]
    if len(events) > max_events:
        raise ApiError(413, "too_many_events", f"{len(events)} events in one request; the limit is {max_events}")
    rejected = []
    for index, event in enumerate(events):
        error = validate_event(event, limits.max_field_bytes, window)
        if error is not None:
            rejected.append({"index": index, "error": error})
    if len(doc) > 1:  # re-encode without unknown top-level keys so the WAL holds just the events
        body = orjson.dumps({"events": events})
    return body, len(events), rejected


async def post_events(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    admitted = await admit(request, project_id)
    svc = admitted.svc
    limits = svc.settings.ingest
    received_us = time.time_ns() // 1000
    raw, encoding = await read_body(request, limits.max_body_bytes)
    admitted.charge(nbytes=len(raw))
    window = TimeWindow.at(limits, received_us)
    body, total, rejected = await asyncio.to_thread(parse_events, raw, encoding, limits, window)
    accepted = total - len(rejected)
    admitted.charge(events=accepted)
    if accepted > 0:
        header = RecordHeader(project_id, received_us, "sdk", skip=tuple(r["index"] for r in rejected))
        await svc.engine.append_async(RecordType.EVENTS, header, body)
    return json_response({"accepted": accepted, "rejected": rejected}, status=202)


routes = [Route("/v1/projects/{project_id}/events", post_events, methods=["POST"])]

EVENTS: Final = spec.obj(("events",), events=spec.list_of({"$ref": "#/components/schemas/Event"}))
OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/events": {
        "post": spec.op(
            "Ingest native events (docs/events.md); 202 once durable",
            {202: "accepted: {accepted, rejected: [{index, error}]}"},
            security=spec.KEY,
            body=EVENTS,
            errors=(400, 401, 403, 413, 429, 503),
            returns=spec.obj(("accepted", "rejected"), rejected=spec.list_of(spec.obj(("index", "error")))),
        )
    }
}
