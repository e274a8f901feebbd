"""`GET /v1/platform-alerts`: this node's platform alerts (`[platform_alerts]`, docs/operations/monitoring.md): each
condition's state, value and threshold, the admin channels (redacted) and the last deliveries.

The node's health belongs to the instance, not to a project, so the answer is shown to a user who owns an
organisation, as `GET /v1/plugins` and `GET /v1/cluster` are; API keys are refused. In cluster mode each node
answers for itself (its `node_id` is in the answer).
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


async def platform_alerts(request: Request) -> Response:
    svc = services(request)
    if "authorization" in request.headers:
        authenticate(request, svc.keys)
        raise ApiError(403, "forbidden", "API keys act on one project; platform alerts need an org owner's login")
    session = await require_session(request, svc)
    orgs = await asyncio.to_thread(svc.accounts.user_orgs, session.user_id)
    if not any(org["role"] == "owner" for org in orgs):
        raise ApiError(403, "forbidden", "only a user who owns an organisation may see the platform alerts")
    if svc.platform_alerts is None:
        raise ApiError(503, "starting", "recovering; no platform alerts yet", {"Retry-After": "1"})
    return json_response(svc.platform_alerts.status())


routes = [Route("/v1/platform-alerts", platform_alerts, methods=["GET"])]

_NUM: Final = {"type": ["number", "null"]}
_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_CONDITION: Final = spec.obj(
    ("condition", "state"),
    condition={"type": "string", "description": "http_5xx_rate, ingest_refused, wal_backlog, query_latency, "
               "query_saturated, disk_free, job_failures or read_only"},
    title=spec.STR,
    state={"enum": ["ok", "pending", "firing"]},
    holds={"type": ["boolean", "null"], "description": "at the last evaluation; null: not known yet"},
    value=_NUM, threshold=_NUM,
    detail={"type": "string", "description": "the value and threshold as a person reads them"},
    since={**_TIME, "description": "pending or firing since"},
    last_notified_at=_TIME, resolved_at=_TIME, hint=spec.STR,
)  # fmt: skip
_DELIVERY: Final = spec.obj(
    ("id", "condition", "channel", "event", "status"),
    id=spec.STR, condition=spec.STR, channel=spec.STR, channel_type=spec.STR,
    event={"enum": ["firing", "renotify", "resolved"]}, status={"enum": ["pending", "delivered", "failed"]},
    attempts={"type": "integer"}, response_status={"type": ["integer", "null"]},
    last_error={"type": ["string", "null"]}, created_at=_TIME, updated_at=_TIME,
)  # fmt: skip
_ANSWER: Final = spec.obj(
    ("enabled", "node_id", "conditions", "channels", "deliveries"),
    enabled={"type": "boolean"}, node_id=spec.STR, host=spec.STR, cluster={"type": "boolean"}, scope=spec.STR,
    interval_s={"type": "number"}, for_s={"type": "number"}, resolve_after_s={"type": "number"},
    renotify_s={"type": "number"}, evaluated_at=_TIME, disabled=spec.list_of(spec.STR),
    channels=spec.list_of({"type": "object", "description": "id, type and what the type shows (URLs redacted)"}),
    conditions=spec.list_of(_CONDITION), deliveries=spec.list_of(_DELIVERY),
)  # fmt: skip

OPENAPI: Final[spec.Paths] = {
    "/v1/platform-alerts": {
        "get": spec.op(
            "This node's platform alerts: each condition's state, value and threshold, the admin channels and the "
            "last deliveries (a user who owns an organisation); docs/operations/monitoring.md",
            {200: "the platform alerts of this node"},
            security=spec.SESSION,
            errors=(401, 403, 503),
            returns=_ANSWER,
        )
    }
}
