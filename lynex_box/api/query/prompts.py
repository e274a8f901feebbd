"""The prompts API: prompt names and versions seen in spans (with their metrics) and registered templates.

`GET /v1/projects/{pid}/prompts` lists every (name, version) seen in the time range or registered;
`POST` registers a version's template text (immutable once registered); `GET .../prompts/{name}/versions`
gives one prompt's versions with their templates and metrics. Reads are checked like the query API's
(`reads.read_scope`); registering needs an API key that may ingest or a user who may annotate (member
and up). The project comes from the checked path only. SQLite and DuckDB run in worker threads.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import read_body
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import parse_json
from lynex_box.api.principal import project_access
from lynex_box.api.query.filters import RANGE
from lynex_box.api.query.reads import read_scope, rows_out
from lynex_box.api.services import services
from lynex_box.prompts import registry, stats
from lynex_box.query.engine import SpanScope


async def _seen(request: Request, scope: SpanScope, name: str | None) -> list[dict[str, Any]]:
    sql, params = stats.versions_sql(name)
    return rows_out(await services(request).engine.query.query_async(scope, sql, params))


async def list_prompts(request: Request) -> Response:
    scope, _ = await read_scope(request)
    seen = await _seen(request, scope, None)
    registered = await asyncio.to_thread(services(request).prompts.versions, scope.project_id)
    return json_response({"items": stats.merge(seen, registered, with_template=False), "next_cursor": None})


async def prompt_versions(request: Request) -> Response:
    scope, _ = await read_scope(request)
    name = request.path_params["name"]
    if len(name) > registry.MAX_NAME:
        raise ApiError(400, "bad_request", f"prompt name is longer than {registry.MAX_NAME} characters")
    seen = await _seen(request, scope, name)
    registered = await asyncio.to_thread(services(request).prompts.versions, scope.project_id, name)
    items = stats.merge(seen, registered, with_template=True)
    if not items:
        raise ApiError(404, "not_found", f"no prompt named {name!r} in this project and time range")
    return json_response({"name": name, "items": items})


async def register_prompt(request: Request) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    action = "data.ingest" if "authorization" in request.headers else "data.annotate"
    access = await project_access(request, svc, project_id, action)
    raw, encoding = await read_body(request, svc.settings.api.max_prompt_body_bytes)
    if encoding != "identity":
        raise ApiError(415, "unsupported_encoding", "send the prompt as plain JSON")
    doc = parse_json(raw, svc.settings.ingest.max_json_depth)
    if not isinstance(doc, dict):
        raise ApiError(400, "bad_request", 'body must be {"name", "template", "version"?}')
    try:
        name, version, template = registry.validate(doc.get("name"), doc.get("version"), doc.get("template"))
        pv, created = await asyncio.to_thread(
            svc.prompts.register, project_id, name, version, template, access.actor.label
        )
    except registry.PromptError as exc:
        raise ApiError(exc.status, "conflict" if exc.status == 409 else "bad_request", str(exc)) from None
    return json_response({**pv.as_dict(), "created": created}, status=201 if created else 200)


routes = [
    Route("/v1/projects/{project_id}/prompts", list_prompts, methods=["GET"]),
    Route("/v1/projects/{project_id}/prompts", register_prompt, methods=["POST"]),
    Route("/v1/projects/{project_id}/prompts/{name:path}/versions", prompt_versions, methods=["GET"]),
]

_PROMPT: Final = spec.obj(
    ("name", "template"), name=spec.STR, template=spec.STR, version={"type": ["string", "integer"]}
)
OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/prompts": {
        "get": spec.read("Prompt versions seen in spans or registered, with their metrics", RANGE, spec.LIST),
        "post": spec.op(
            "Register a prompt version's template text (immutable): {name, template, version?}",
            {201: "registered", 200: "already registered with the same text"},
            security=spec.KEY,
            body=_PROMPT,
            errors=(400, 401, 403, 409, 413),
        ),
    },
    "/v1/projects/{project_id}/prompts/{name}/versions": {
        "get": spec.read(
            "One prompt's versions with their templates and metrics",
            RANGE,
            spec.obj((), name=spec.STR, items={"type": "array"}),
            item=True,
        )
    },
}
