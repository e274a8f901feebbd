"""The synthetic monitors API: monitors of the caller's project (CRUD), a run now, their recent runs.

Reading needs `alerts.read` (every role; read and admin keys), changing and running `alerts.manage` (owners and
admins; admin keys): monitors are part of a project's alerting. Access is checked before the body is read, the
project comes from the path checked against the caller, and a monitor id is looked up in that project only (another
project's id is 404). Changes are audited in their transaction; a monitor's `alert` creates, replaces or removes its
linked alert rules in the same transaction (monitors/alerting.py). Header values and the model API key go in but
never come out.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.alerts.sealing import SealError
from lynex_box.alerts.service import AlertService
from lynex_box.alerts.store import RuleLimitReached
from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object
from lynex_box.api.params import PageLimit
from lynex_box.api.principal import Access, project_access
from lynex_box.api.services import services
from lynex_box.meta import audit
from lynex_box.monitors import alerting, store
from lynex_box.monitors.service import MonitorService
from lynex_box.monitors.spec import MonitorError, MonitorSpec, parse_monitor
from lynex_box.monitors.store import StoredMonitor

RUNS_LIMIT: Final = PageLimit(100, 20)


async def _access(request: Request, action: str) -> tuple[MonitorService, AlertService, Access]:
    svc = services(request)
    access = await project_access(request, svc, request.path_params["project_id"], action)
    if svc.monitors is None or svc.alerts is None:
        raise ApiError(503, "starting", "monitors are not running yet", {"Retry-After": "1"})
    return svc.monitors, svc.alerts, access


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no monitor with that id in this project")


async def _monitor(monitors: MonitorService, access: Access, request: Request) -> StoredMonitor:
    monitor_id = str(request.path_params["monitor_id"])
    if len(monitor_id) > 64:
        raise _not_found()
    found = await asyncio.to_thread(lambda: store.get(monitors.db.reader(), access.project_id, monitor_id))
    if found is None:
        raise _not_found()
    return found


async def _alert_bodies(alerts: AlertService, doc: dict[str, Any], spec: MonitorSpec) -> list[dict[str, Any]] | None:
    """The linked rules' bodies when `doc` sets `alert` (None when it does not), channel hosts checked."""
    if "alert" not in doc:
        return None
    bodies = alerting.rule_bodies(doc["alert"], spec, alerts.limits)
    refused = await alerts.refused_targets({"channels": doc["alert"].get("channels", [])}) if bodies else []
    if refused:
        raise MonitorError("alert: " + "; ".join(refused))
    return bodies


def _refusal(exc: Exception) -> ApiError:
    if isinstance(exc, MonitorError):
        return ApiError(400, "bad_monitor", str(exc))
    if isinstance(exc, store.NameTaken):
        return ApiError(409, "name_taken", str(exc))
    if isinstance(exc, store.MonitorLimitReached):
        return ApiError(
            409, "too_many_monitors", f"{exc}; hint: delete monitors or raise [monitors] max_monitors_per_project"
        )
    if isinstance(exc, RuleLimitReached):
        return ApiError(409, "too_many_rules", f"{exc}; hint: delete rules or raise [alerts] max_rules_per_project")
    raise exc


REFUSED = (MonitorError, store.NameTaken, store.MonitorLimitReached, RuleLimitReached)


async def list_monitors(request: Request) -> Response:
    monitors, _, access = await _access(request, "alerts.read")
    items = await asyncio.to_thread(lambda: store.list_monitors(monitors.db.reader(), access.project_id))
    return json_response({"items": [m.as_dict() for m in items]})


async def get_monitor(request: Request) -> Response:
    monitors, _, access = await _access(request, "alerts.read")
    return json_response((await _monitor(monitors, access, request)).as_dict())


async def create_monitor(request: Request) -> Response:
    monitors, alerts, access = await _access(request, "alerts.manage")
    doc = await json_object(request, monitors.settings.max_body_bytes)
    max_monitors, max_rules = monitors.settings.max_monitors_per_project, alerts.settings.alerts.max_rules_per_project
    try:
        parsed = parse_monitor(doc, monitors.limits)
        bodies = await _alert_bodies(alerts, doc, parsed) or []

        def write(conn: Any) -> StoredMonitor:
            monitor = store.create(conn, alerts.box, access.project_id, parsed, access.actor, max_monitors)
            ids = alerting.create_rules(
                conn, alerts.box, access.project_id, bodies, alerts.limits, access.actor, max_rules
            )
            return store.set_rules(conn, monitor, ids) if ids else monitor

        monitor = await asyncio.to_thread(monitors.db.write, write)
    except REFUSED as exc:
        raise _refusal(exc) from None
    return json_response(monitor.as_dict(), 201)


async def update_monitor(request: Request) -> Response:
    monitors, alerts, access = await _access(request, "alerts.manage")
    current = await _monitor(monitors, access, request)
    doc = await json_object(request, monitors.settings.max_body_bytes)
    max_rules = alerts.settings.alerts.max_rules_per_project
    try:
        # the stored header values and API key, so that a PATCH that omits them keeps them
        opened = replace(current.spec, target=store.open_target(current, alerts.box))
    except SealError as exc:
        raise ApiError(409, "secrets_unreadable", f"{exc}; hint: send the target again with its headers") from None
    try:
        parsed = parse_monitor(doc, monitors.limits, opened)
        bodies = await _alert_bodies(alerts, doc, parsed)

        def write(conn: Any) -> StoredMonitor | None:
            now = store.get(conn, access.project_id, current.id)
            if now is None:
                return None
            monitor = store.update(conn, alerts.box, now, parsed, access.actor, list(doc))
            if bodies is None:  # the linked rules follow a new name or period
                alerting.follow(
                    conn, alerts.box, access.project_id, now.rule_ids, now.spec, parsed, alerts.limits, access.actor
                )
                return monitor
            alerting.delete_rules(conn, access.project_id, now.rule_ids, access.actor)
            ids = alerting.create_rules(
                conn, alerts.box, access.project_id, bodies, alerts.limits, access.actor, max_rules
            )
            return store.set_rules(conn, monitor, ids)

        monitor = await asyncio.to_thread(monitors.db.write, write)
    except REFUSED as exc:
        raise _refusal(exc) from None
    if monitor is None:
        raise _not_found()
    return json_response(monitor.as_dict())


async def delete_monitor(request: Request) -> Response:
    monitors, _, access = await _access(request, "alerts.manage")
    current = await _monitor(monitors, access, request)

    def write(conn: Any) -> bool:
        now = store.get(conn, access.project_id, current.id)
        if now is None:
            return False
        alerting.delete_rules(conn, access.project_id, now.rule_ids, access.actor)
        store.delete(conn, now, access.actor)
        return True

    if not await asyncio.to_thread(monitors.db.write, write):
        raise _not_found()
    return Response(status_code=204)


async def run_monitor(request: Request) -> Response:
    """Run the monitor now, on this node, and answer the run (its trace is in the project a moment later)."""
    monitors, _, access = await _access(request, "alerts.manage")
    monitor = await _monitor(monitors, access, request)
    run = await monitors.run_now(monitor)
    await asyncio.to_thread(
        audit.record_now, monitors.db, access.actor, "monitor.run", project_id=access.project_id,
        target_type="monitor", target_id=monitor.id, details={"ok": run["ok"], "trace_id": run["trace_id"]},
    )  # fmt: skip
    return json_response(run)


async def list_runs(request: Request) -> Response:
    monitors, _, access = await _access(request, "alerts.read")
    monitor = await _monitor(monitors, access, request)
    limit = RUNS_LIMIT.parse(request.query_params)
    items = await asyncio.to_thread(lambda: store.list_runs(monitors.db.reader(), access.project_id, monitor.id, limit))
    return json_response({"items": items})


_BASE = "/api/projects/{project_id}/monitors"
routes = [
    Route(_BASE, list_monitors, methods=["GET"]),
    Route(_BASE, create_monitor, methods=["POST"]),
    Route(f"{_BASE}/{{monitor_id}}", get_monitor, methods=["GET"]),
    Route(f"{_BASE}/{{monitor_id}}", update_monitor, methods=["PATCH"]),
    Route(f"{_BASE}/{{monitor_id}}", delete_monitor, methods=["DELETE"]),
    Route(f"{_BASE}/{{monitor_id}}/run", run_monitor, methods=["POST"]),
    Route(f"{_BASE}/{{monitor_id}}/runs", list_runs, methods=["GET"]),
]

_TEXT: Final = (
    "name, interval_s?, cron?, timeout_s?, enabled?, target {type: http, method, url, headers?, body?} or "
    "{type: model, base_url, model, api_key?, messages [{role, content}], max_tokens?, headers?}, assertions? "
    "[{type: status|latency|json_path|body_contains|body_matches|answer_contains|answer_matches, ...}], "
    "alert? {on_failure?, latency_ms?, channels?, renotify_s?} (docs/monitors.md)"
)
_FIELDS: Final[dict[str, spec.Schema]] = {
    "name": spec.STR,
    "enabled": {"type": "boolean"},
    "interval_s": {"type": "integer"},
    "cron": {"type": ["string", "null"]},
    "timeout_s": {"type": "number"},
    "target": spec.obj(("type",), type={"enum": ["http", "model"]}),
    "assertions": spec.list_of(spec.obj(("type",), type=spec.STR)),
    "alert": {"type": ["object", "null"]},
}
_MONITOR: Final = spec.obj(("id", "name", "interval_s", "target", "assertions", "rule_ids"))
_RUN: Final = spec.obj(("id", "started_at", "ok", "latency_ms", "assertions", "failed", "trace_id"))
OPENAPI: Final[spec.Paths] = {
    _BASE: {
        "get": spec.op(
            "Synthetic monitors of the project with their last run (alerts.read)", {200: "{items}"}, returns=spec.ITEMS
        ),
        "post": spec.op(
            "Create a synthetic monitor, and with `alert` its alert rules (alerts.manage; audited)",
            {201: "the monitor; header values and API key never shown"},
            body_text=_TEXT,
            body=spec.obj(("name", "target"), **_FIELDS),
            errors=(400, 401, 403, 404, 409, 413, 415),
            returns=_MONITOR,
        ),
    },
    f"{_BASE}/{{monitor_id}}": {
        "get": spec.op("One synthetic monitor (alerts.read)", {200: "the monitor"}, returns=_MONITOR),
        "patch": spec.op(
            "Change a monitor (alerts.manage; audited); `alert` replaces its linked rules, null removes them",
            {200: "the monitor"},
            body_text=_TEXT,
            body=spec.obj((), **_FIELDS),
            errors=(400, 401, 403, 404, 409, 413, 415),
            returns=_MONITOR,
        ),
        "delete": spec.op(
            "Delete a monitor with its runs and linked alert rules (alerts.manage; audited)", {204: "deleted"}
        ),
    },
    f"{_BASE}/{{monitor_id}}/run": {
        "post": spec.op(
            "Run the monitor now and answer the run (alerts.manage; audited)",
            {200: "the run: {id, ok, latency_ms, status_code, assertions, failed, error, trace_id, trace_stored}"},
            returns=_RUN,
        ),
    },
    f"{_BASE}/{{monitor_id}}/runs": {
        "get": spec.op(
            "Recent runs of the monitor, newest first (alerts.read)",
            {200: "{items}"},
            params=spec.page(RUNS_LIMIT)[:1],
            returns=spec.ITEMS,
        ),
    },
}
