"""`GET /v1/cluster`: the nodes of the cluster and the leases each holds, as `lynex-box cluster status --json` shows.

The cluster's state belongs to no project or org, so it is shown to a user who owns an organisation (the same
users who may create one); API keys, confined to their project, are refused. With cluster mode off the answer is
`{"enabled": false}` (not a 404: the route exists on every node, and a client learns that this one is alone).
The rows are read from the bucket on each call (a LIST and a GET per heartbeat and lease), in a thread.
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


async def cluster_status(request: Request) -> Response:
    svc = services(request)
    if "authorization" in request.headers:
        authenticate(request, svc.keys)
        raise ApiError(403, "forbidden", "API keys act on one project; the cluster's state needs an org owner's login")
    session = await require_session(request, svc)
    orgs = await asyncio.to_thread(svc.accounts.user_orgs, session.user_id)
    if not any(org["role"] == "owner" for org in orgs):
        raise ApiError(403, "forbidden", "only a user who owns an organisation may see the cluster's state")
    node = svc.cluster
    if node is None:
        return json_response({"enabled": False})
    found = await asyncio.to_thread(node.status)
    read_only = svc.read_only.state() if svc.read_only is not None else {"read_only": False}
    return json_response({"enabled": True, "node_id": node.identity.node_id, **found.as_dict(), **read_only})


routes = [Route("/v1/cluster", cluster_status, methods=["GET"])]

_NODE: Final = spec.obj(
    ("node_id", "version", "address", "heartbeat_at", "alive", "leases"),
    node_id=spec.STR,
    incarnation=spec.STR,
    version=spec.STR,
    address=spec.STR,
    started_at={"type": "integer", "description": "epoch µs"},
    heartbeat_at={"type": "integer", "description": "epoch µs of the last heartbeat; 0 after a clean stop"},
    age_s={"type": ["number", "null"], "description": "seconds since the last heartbeat; null after a clean stop"},
    alive={"type": "boolean", "description": "its heartbeat is younger than [cluster] lease_ttl_s"},
    leases=spec.list_of(spec.STR),
)
_LEASE: Final = spec.obj(
    ("job", "holder", "generation", "expires_at", "live"),
    job=spec.STR,
    holder=spec.STR,
    incarnation=spec.STR,
    generation={"type": "integer", "description": "the fencing token: one more at each takeover"},
    acquired_at={"type": "integer"},
    expires_at={"type": "integer", "description": "epoch µs; 0 after a release"},
    live={"type": "boolean"},
)
_STATUS: Final = spec.obj(
    ("enabled",),
    enabled={"type": "boolean", "description": "false: cluster mode is off on this node (no other member)"},
    node_id=spec.STR,
    cluster_id={"type": ["string", "null"]},
    founded_at={"type": ["integer", "null"]},
    founder={"type": ["string", "null"]},
    nodes=spec.list_of(_NODE),
    leases=spec.list_of(_LEASE),
    read_only={"type": "boolean", "description": "this node refuses writes now (docs/operations/disaster-recovery.md)"},
    mode={"type": ["string", "null"], "description": "manual (--read-only), automatic (bucket unwritable) or null"},
    reason={"type": ["string", "null"]},
    bucket={"type": ["object", "null"], "description": "writable, failing_s, readonly_after_s, last_error"},
)

OPENAPI: Final[spec.Paths] = {
    "/v1/cluster": {
        "get": spec.op(
            "The cluster's nodes (heartbeats, liveness, leases held) and leases, as `lynex-box cluster status "
            '--json` (a user who owns an organisation); {"enabled": false} when cluster mode is off',
            {200: "the cluster's state"},
            security=spec.SESSION,
            errors=(401, 403, 503),
            returns=_STATUS,
        )
    }
}
