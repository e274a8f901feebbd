"""Deletion (GDPR) of a trace, a session or an end user's data: `DELETE /v1/projects/{pid}/traces/{id}` (and
`sessions/{id}`, `users/{id}`).

Deletions need the project's admin rights (an admin-scope API key, or a user with the admin role): they answer
202 once the tombstone is committed and the traces and sessions a user or session deletion covers are looked up
(queries stop showing all of it at once), with the time by which every file is purged; the audit log records
them. The purge itself is the lifecycle's (lynex_box/lifecycle/deletion.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.principal import project_access
from lynex_box.api.services import services
from lynex_box.lifecycle.deletion import DeletionError

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
        tomb, complete = await asyncio.to_thread(svc.lifecycle.delete, project_id, kind, value, access.actor)
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


routes = [
    Route("/v1/projects/{project_id}/traces/{trace_id}", delete_trace, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/users/{user_id}", delete_user, methods=["DELETE"]),
]

OPENAPI: Final[spec.Paths] = {
    f"/v1/projects/{{project_id}}/{kind}s/{{{param}}}": {
        "delete": spec.op(
            f"Delete every span of this {kind}: hidden from queries at once, purged from every file "
            "within [deletion] max_delay_s (admin key or project admin; audited)",
            {202: '{"deleted": {"kind", "id"}, "tombstone_id", "purge_by"}'},
            security=spec.KEY,
            returns=spec.obj(("deleted", "tombstone_id", "purge_by"), deleted=spec.obj(("kind", "id"))),
        )
    }
    for kind, param in (("trace", "trace_id"), ("session", "session_id"), ("user", "user_id"))
}
