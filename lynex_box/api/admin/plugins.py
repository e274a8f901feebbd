"""`GET /v1/plugins`: the plugins this node knows (loaded, failed, missing, installed but not enabled), the hooks
each implements, the counters of its topic subscriptions (delivered, errors, timeouts, dropped, queued) and of its
pipeline hooks (calls, errors, seconds).

Plugins belong to the instance, not to a project, so the answer is shown to a user who owns an organisation, as
`GET /v1/cluster` is; API keys are refused. docs/plugins.md describes the fields.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.principal import authenticate, require_session
from lynex_box.api.services import services


async def list_plugins(request: Request) -> Response:
    svc = services(request)
    if "authorization" in request.headers:
        authenticate(request, svc.keys)
        raise ApiError(403, "forbidden", "API keys act on one project; the plugins need an org owner's login")
    session = await require_session(request, svc)
    orgs = await asyncio.to_thread(svc.accounts.user_orgs, session.user_id)
    if not any(org["role"] == "owner" for org in orgs):
        raise ApiError(403, "forbidden", "only a user who owns an organisation may see the plugins")
    items = svc.plugins.status() if svc.plugins is not None else []
    return json_response({"items": items})


routes = [Route("/v1/plugins", list_plugins, methods=["GET"])]

_COUNT: Final = {"type": "integer"}
_SUBSCRIPTION: Final = spec.obj(
    ("hook", "queued", "delivered", "errors", "timeouts", "dropped"),
    hook=spec.STR, queued=_COUNT, delivered=_COUNT, errors=_COUNT, timeouts=_COUNT,
    dropped={"type": "integer", "description": "events dropped (oldest first) because the queue was full"},
    last_error=spec.STR,
)  # fmt: skip
_PIPELINE_HOOK: Final = spec.obj(
    ("hook", "calls", "errors", "seconds"),
    hook={"enum": ["lynex_enrich_spans", "lynex_detectors"]},
    calls={"type": "integer", "description": "batches of spans the hook (or one of its detectors) was called on"},
    errors={"type": "integer", "description": "calls that raised or returned what cannot be used: those batches went "
                                              "on without the plugin's change"},
    seconds={"type": "number", "description": "time spent in the hook, in all"},
    last_error=spec.STR,
)  # fmt: skip
_PLUGIN: Final = spec.obj(
    ("name", "state", "hooks"),
    name={"type": "string", "description": "the entry point's name, as in [plugins] enabled"},
    state={"enum": ["loaded", "failed", "missing", "disabled"]},
    source={"type": "string", "description": "the entry point's value and its distribution"},
    error={"type": "string", "description": "why it failed to load or is missing; empty otherwise"},
    hooks=spec.list_of(spec.STR),
    per_project={"type": "boolean", "description": "it gets only the events of projects that turn it on"},
    isolation={"enum": ["thread", "process"], "description": "process: [plugins] out_of_process, a worker process"},
    process={"type": ["object", "null"], "description": "the worker: pid (null while down) and restarts"},
    delivered=_COUNT, errors=_COUNT, timeouts=_COUNT, dropped=_COUNT,
    subscriptions=spec.list_of(_SUBSCRIPTION),
    counters={"type": ["object", "null"], "description": "what an in-process plugin counts itself (a batching "
              "plugin's sent, failed, dropped, queued, batches, retried, last_error); null when it counts nothing"},
    pipeline={**spec.list_of(_PIPELINE_HOOK), "description": "its pipeline hooks (in-process plugins)"},
)  # fmt: skip

OPENAPI: Final[spec.Paths] = {
    "/v1/plugins": {
        "get": spec.op(
            "The plugins this node knows, their hooks, state and delivery counters (a user who owns an "
            "organisation); docs/plugins.md",
            {200: "the plugins"},
            security=spec.SESSION,
            errors=(401, 403),
            returns=spec.obj(("items",), items=spec.list_of(_PLUGIN)),
        )
    }
}
