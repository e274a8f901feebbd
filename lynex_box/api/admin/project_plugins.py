"""A project's plugins: `GET /api/projects/{pid}/plugins` (permission `settings.read`), `PUT` and `DELETE
/api/projects/{pid}/plugins/{name}` (`settings.manage`): turn a per-project plugin on or off for the project and
configure it (docs/plugins.md "Per project").

The answer lists every plugin `[plugins] enabled` names, with this node's counters of the project's own events only
(never another project's counts or errors), and the project's configuration with secret values masked
(meta/project_plugins.py seals them). A write is stored and audited in one transaction, then the plugin host is
handed the new map at once (other cluster nodes reload when the metadata log reaches them).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object
from lynex_box.api.params import path_id
from lynex_box.api.principal import project_access
from lynex_box.api.services import Services, services
from lynex_box.meta.project_plugins import ConfigRefused, ProjectPlugins

LIST_PATH: Final = "/api/projects/{project_id}/plugins"
PATH: Final = "/api/projects/{project_id}/plugins/{name}"
BODY_SLACK: Final = 4096  # room around the configuration in a PUT body: `enabled`, the keys, escapes


def body_cap(max_config_bytes: int) -> int:
    """A PUT body's cap: a configuration at the limit fits, with room for escapes (metawrites.py uses it too)."""
    return 2 * max_config_bytes + BODY_SLACK


def _store(svc: Services) -> ProjectPlugins:
    if svc.project_plugins is None or svc.plugins is None:
        raise ApiError(503, "unavailable", "plugins are not available on this server now; retry later")
    return svc.project_plugins


async def list_plugins(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "settings.read")
    store = _store(svc)
    rows = await asyncio.to_thread(store.list_for, project_id)
    items = []
    assert svc.plugins is not None  # _store checked it
    for status in svc.plugins.project_status(project_id):
        row = rows.get(status["name"])
        enabled = (row is not None and row.enabled) if status["per_project"] else status["state"] == "loaded"
        stored = row.as_dict() if row is not None else {"config": {}, "updated_at": None, "updated_by": None}
        items.append({**status, **stored, "enabled": enabled})
    return json_response({"items": items})


def _parse(doc: dict[str, Any], max_bytes: int) -> tuple[bool, dict[str, Any] | None]:
    unknown = sorted(set(doc) - {"enabled", "config"})
    if unknown:
        raise ApiError(400, "bad_request", f"unknown keys {unknown}; allowed: enabled, config")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ApiError(400, "bad_request", "enabled must be true or false")
    config = doc.get("config")
    if config is not None and not isinstance(config, dict):
        raise ApiError(400, "bad_config", "config must be a JSON object (or left out to keep the stored one)")
    if config is not None and len(orjson.dumps(config)) > max_bytes:
        raise ApiError(
            400, "config_too_large",
            f"config is over {max_bytes} bytes as JSON; hint: [plugins] max_project_config_bytes sets the limit",
        )  # fmt: skip
    return enabled, config


def _per_project_plugin(svc: Services, name: str) -> tuple[str, ...]:
    """The secret keys the plugin declares; 400 for a plugin not loaded here or not per project."""
    assert svc.plugins is not None
    record = svc.plugins.records.get(name)
    if record is None or record.state == "disabled":
        known = sorted(n for n, r in svc.plugins.records.items() if r.state != "disabled")
        raise ApiError(400, "unknown_plugin", f"no plugin {name!r} is enabled on this server; known: {known}")
    if not record.per_project:
        raise ApiError(
            400, "not_per_project",
            f"the plugin {name!r} runs for the whole instance; hint: the operator lists it in [plugins] per_project",
        )  # fmt: skip
    return record.secret_keys


async def put_plugin(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "settings.manage")
    store = _store(svc)
    name = path_id(request, "name")
    max_bytes = svc.settings.plugins.max_project_config_bytes
    enabled, config = _parse(await json_object(request, body_cap(max_bytes)), max_bytes)
    declared = _per_project_plugin(svc, name)
    try:
        stored = await asyncio.to_thread(store.put, project_id, name, enabled, config, declared, access.actor)
    except ConfigRefused as exc:
        raise ApiError(400, "bad_config", str(exc)) from None
    await asyncio.to_thread(store.reload)
    return json_response({"name": name, **stored.as_dict()})


async def delete_plugin(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "settings.manage")
    store = _store(svc)
    name = path_id(request, "name")
    if await asyncio.to_thread(store.delete, project_id, name, access.actor):
        await asyncio.to_thread(store.reload)
    return Response(status_code=204)


routes = [
    Route(LIST_PATH, list_plugins, methods=["GET"]),
    Route(PATH, put_plugin, methods=["PUT"]),
    Route(PATH, delete_plugin, methods=["DELETE"]),
]

_COUNT: Final = {"type": "integer"}
_NULL_OR_INT: Final = {"type": ["integer", "null"]}
_SUBSCRIPTION: Final = spec.obj(
    ("hook", "delivered", "errors", "timeouts", "dropped", "last_error"),
    hook=spec.STR, delivered=_COUNT, errors=_COUNT, timeouts=_COUNT, dropped=_COUNT, last_error=spec.STR,
)  # fmt: skip
_ITEM: Final = spec.obj(
    ("name", "state", "per_project", "enabled", "config", "delivered", "errors", "timeouts", "dropped", "last_error"),
    name={"type": "string", "description": "the entry point's name, as in [plugins] enabled"},
    state={"enum": ["loaded", "failed", "missing"]},
    error={"type": "string", "description": "why it failed to load or is missing; empty otherwise"},
    hooks=spec.list_of(spec.STR),
    per_project={"type": "boolean", "description": "true: it gets only the events of projects that turn it on"},
    secret_keys=spec.list_of(spec.STR),
    enabled={"type": "boolean", "description": "it receives this project's events"},
    config={"type": "object", "description": "this project's configuration; secret values shown as ********"},
    updated_at=_NULL_OR_INT,
    updated_by={"type": ["string", "null"]},
    delivered=_COUNT, errors=_COUNT, timeouts=_COUNT,
    dropped={"type": "integer", "description": "this project's events dropped (oldest first): the queue was full"},
    last_error={"type": "string", "description": "the last error of a call with this project's event"},
    subscriptions=spec.list_of(_SUBSCRIPTION),
)  # fmt: skip
_STORED: Final = spec.obj(
    ("name", "enabled", "config", "updated_at", "updated_by"),
    name=spec.STR, enabled={"type": "boolean"}, config=spec.OBJECT, updated_at=_COUNT, updated_by=spec.STR,
)  # fmt: skip
OPENAPI: Final[spec.Paths] = {
    LIST_PATH: {
        "get": spec.op(
            "The plugins of this server as the project sees them: state, per project or for the whole instance, "
            "enabled here, this project's configuration (secret values masked), and this node's counters of the "
            "project's own events (docs/plugins.md)",
            {200: "{items: [plugin]}"},
            returns=spec.obj(("items",), items=spec.list_of(_ITEM)),
        )
    },
    PATH: {
        "put": spec.op(
            "Turn a per-project plugin on or off for the project and set its configuration (a JSON object of at "
            "most [plugins] max_project_config_bytes; left out: the stored one is kept). A secret value sent as "
            "******** keeps the stored one. 400 for a plugin not enabled on the server or not per project. Audited",
            {200: "{name, enabled, config, updated_at, updated_by}"},
            body_text="{enabled?: boolean (default true), config?: object}",
            body=spec.obj((), enabled={"type": "boolean"}, config=spec.OBJECT),
            returns=_STORED,
        ),
        "delete": spec.op(
            "Forget the project's setting of the plugin: a per-project plugin is off for it again (audited)",
            {204: "done"},
            errors=(401, 403, 404),
        ),
    },
}
