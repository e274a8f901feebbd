"""The admin API of projects: create and list projects, API keys, settings, audit log and usage.

Every handler asks `project_access` (API key or session) for the action it performs, so the project it
touches is the path's only after the caller's right to it is proven; ids from paths and bodies reach
SQL only as bound parameters. Key secrets are in the creation answer only. Writes and their audit
entries share one transaction; SQLite, argon2 and DuckDB run in worker threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.admin import encryption
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object, text_field
from lynex_box.api.params import MAX_PATH_ID, PageLimit, path_id
from lynex_box.api.principal import authenticate, org_access, project_access, require_session
from lynex_box.api.services import Services, services, write
from lynex_box.auth import projects, rbac, usage
from lynex_box.auth.errors import AdminError
from lynex_box.auth.keys import SCOPES
from lynex_box.meta import audit
from lynex_box.pii import store as pii_store
from lynex_box.pii.policy import PolicyError
from lynex_box.query.engine import SpanScope
from lynex_box.schema.timefmt import parse_time_us

AUDIT_LIMIT: Final = PageLimit(audit.MAX_PAGE, 100)


async def list_projects(request: Request) -> Response:
    svc = services(request)
    if "authorization" in request.headers:
        principal = authenticate(request, svc.keys)
        found = await asyncio.to_thread(svc.projects.get, principal.project_id)
        items = [] if found is None else [{**found, "role": None, "scope": principal.scope}]
        return json_response({"items": items})
    session = await require_session(request, svc)
    return json_response({"items": await asyncio.to_thread(svc.accounts.user_projects, session.user_id)})


async def create_project(request: Request) -> Response:
    svc = services(request)
    if "authorization" in request.headers:
        authenticate(request, svc.keys)
        raise ApiError(403, "forbidden", "API keys cannot create projects; log in as an org owner or admin")
    session = await require_session(request, svc)
    doc = await json_object(request)
    org_id = text_field(doc, "org_id", required=False, max_len=MAX_PATH_ID)
    if org_id is None:
        orgs = await asyncio.to_thread(svc.accounts.user_orgs, session.user_id)
        allowed = [o["id"] for o in orgs if rbac.role_allows(o["role"], "org.projects.create")]
        if len(allowed) != 1:
            raise ApiError(400, "bad_request", "org_id is required: name the organisation to create the project in")
        org_id = allowed[0]
    access = await org_access(request, svc, org_id, "org.projects.create")
    created = await write(svc, lambda c: projects.create(c, access.actor, org_id, doc.get("name")))
    svc.events.emit("project_created", {**created, "actor": {"type": access.actor.type, "id": access.actor.id}})
    return json_response({**created, "role": access.role}, status=201)


async def list_keys(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "keys.read")
    return json_response({"items": await asyncio.to_thread(svc.projects.keys, project_id)})


def _expiry(doc: dict[str, Any]) -> int | None:
    expires_at, days = doc.get("expires_at"), doc.get("expires_in_days")
    now = time.time_ns() // 1000
    if expires_at is not None and days is not None:
        raise ApiError(400, "bad_request", "give expires_at or expires_in_days, not both")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 36_500:
            raise ApiError(400, "bad_request", "expires_in_days must be a number of days in (0, 36500]")
        return now + int(days * 86_400_000_000)
    if expires_at is None:
        return None
    try:
        value = parse_time_us(expires_at)
    except ValueError as exc:
        raise ApiError(400, "bad_request", f"expires_at: {exc}") from None
    if value <= now:
        raise ApiError(400, "bad_request", "expires_at is in the past")
    return value


async def create_key(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "keys.manage")
    doc = await json_object(request)
    scope = doc.get("scope", "ingest")
    if scope not in SCOPES:
        raise ApiError(400, "bad_request", f"scope must be one of {list(SCOPES)}")
    name = text_field(doc, "name", required=False, max_len=200) or ""
    expires_at = _expiry(doc)
    try:
        key = await asyncio.to_thread(svc.projects.create_key, project_id, scope, name, expires_at, access.actor)
    except AdminError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    await asyncio.to_thread(svc.keys.refresh)
    out = {
        "api_key": key.api_key,
        "key_id": key.key_id,
        "prefix": key.prefix,
        "scope": key.scope,
        "name": name,
        "project_id": project_id,
        "expires_at": expires_at,
    }
    return json_response(out, status=201)


async def revoke_key(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    key_id = path_id(request, "key_id")
    access = await project_access(request, svc, project_id, "keys.manage")
    done = await asyncio.to_thread(svc.projects.revoke_key, key_id, project_id, access.actor)
    if not done:
        raise ApiError(404, "not_found", "no active API key with that id in this project")
    await asyncio.to_thread(svc.keys.refresh)
    return Response(status_code=204)


async def get_settings(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "settings.read")
    return json_response(await read_settings(svc, project_id))


async def read_settings(svc: Services, project_id: str) -> dict[str, Any]:
    """The project's settings, with the lynex.toml defaults its null settings fall back to (so the UI can show
    the value in force) and whether offload runs at all (the hot window means nothing without a bucket)."""
    found = await asyncio.to_thread(svc.projects.settings, project_id, svc.auth.limiter)
    pii = await asyncio.to_thread(pii_store.read_policy, svc.engine.meta, project_id, svc.settings.pii)
    return {
        **found,
        "defaults": {"retention_days": svc.settings.retention.days, "hot_window_s": svc.settings.offload.hot_window_s},
        "offload_enabled": svc.settings.bucket.type != "none",
        "encryption": encryption.status(svc, project_id),
        "pii": pii,
    }


async def patch_settings(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "settings.manage")
    doc = await json_object(request)
    if "encryption" in doc:  # enabled by the data keys (they need the KEK), in a transaction of its own
        await encryption.apply_setting(svc, project_id, access.actor, doc.pop("encryption"))
    pii = doc.pop("pii", None)
    limits = svc.settings.pii

    def change(conn: Any) -> dict[str, Any]:  # one transaction: a refused PII setting changes nothing else
        changed = projects.update(conn, access.actor, project_id, doc)
        if pii is not None:
            try:
                changed.update(pii_store.update(conn, access.actor, project_id, pii, limits))
            except PolicyError as exc:
                raise AdminError(str(exc)) from None
        return changed

    changed = await write(svc, change)
    if "pii" in changed:
        await asyncio.to_thread(svc.engine.pii_settings.reload)
    if "limits" in changed:
        await asyncio.to_thread(svc.projects.refresh_auth, svc.auth)
    return json_response(await read_settings(svc, project_id))


def page_args(request: Request) -> tuple[int, int | None, str | None]:
    params = request.query_params
    limit = AUDIT_LIMIT.parse(params)
    try:
        before = audit.decode_cursor(params.get("cursor"))
    except ValueError as exc:
        raise ApiError(400, "bad_cursor", str(exc)) from None
    action = params.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        raise ApiError(400, "bad_filter", f"action must be one of {list(audit.ACTIONS)}")
    return limit, before, action


async def project_audit(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "audit.read")
    limit, before, action = page_args(request)
    items, cursor = await asyncio.to_thread(
        lambda: svc.audit.entries(project_id=project_id, before_id=before, limit=limit, action=action)
    )
    return json_response({"items": items, "next_cursor": cursor})


async def org_audit(request: Request) -> Response:
    svc = services(request)
    org_id = path_id(request, "org_id")
    await org_access(request, svc, org_id, "org.audit.read")
    limit, before, action = page_args(request)
    items, cursor = await asyncio.to_thread(
        lambda: svc.audit.entries(org_id=org_id, before_id=before, limit=limit, action=action)
    )
    return json_response({"items": items, "next_cursor": cursor})


async def project_usage(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "usage.read")
    params = request.query_params
    try:
        lo, hi = usage.day_range(params.get("from"), params.get("to"), time.time_ns() // 1000)
    except ValueError as exc:
        raise ApiError(400, "bad_filter", str(exc)) from None
    table = await svc.engine.query.query_async(SpanScope(project_id, lo, hi), usage.USAGE_SQL, dedupe=True)
    days = table.to_pylist()
    keys = ("events", "spans", "traces", "input_tokens", "output_tokens", "total_tokens", "total_cost")
    totals = {k: sum(d[k] or 0 for d in days) for k in keys}
    last_day = usage.iso_day(hi - 1)
    return json_response(
        {
            "project_id": project_id,
            "from": usage.iso_day(lo),
            "to": last_day,
            "days": days,
            "totals": totals,
            "computed_at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )


routes = [
    Route("/api/projects", list_projects, methods=["GET"]),
    Route("/api/projects", create_project, methods=["POST"]),
    Route("/api/projects/{project_id}/keys", list_keys, methods=["GET"]),
    Route("/api/projects/{project_id}/keys", create_key, methods=["POST"]),
    Route("/api/projects/{project_id}/keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/api/projects/{project_id}/settings", get_settings, methods=["GET"]),
    Route("/api/projects/{project_id}/settings", patch_settings, methods=["PATCH"]),
    Route("/api/projects/{project_id}/audit", project_audit, methods=["GET"]),
    Route("/api/projects/{project_id}/usage", project_usage, methods=["GET"]),
    Route("/api/orgs/{org_id}/audit", org_audit, methods=["GET"]),
]

_SETTINGS: Final = spec.obj(
    (
        "name",
        "retention_days",
        "hot_window_s",
        "sample_text",
        "limits",
        "defaults",
        "offload_enabled",
        "encryption",
        "pii",
    )
)
_PII: Final = spec.obj(
    (),
    mode={"enum": ["off", "detect", "redact"]},
    custom_patterns={"type": "array", "items": spec.obj(("name", "pattern"), name=spec.STR, pattern=spec.STR)},
    masked_keys={"type": "array", "items": spec.STR},
)
_COUNT: Final = {"type": ["number", "null"], "minimum": 0}
_SETTINGS_CHANGE: Final = spec.obj(
    (),
    name=spec.STR,
    retention_days={"type": ["integer", "null"], "minimum": 0},
    hot_window_s={"type": ["integer", "null"], "minimum": 0},
    sample_text={"type": ["number", "null"], "minimum": 0, "maximum": 1},
    limits=spec.obj((), events_per_s=_COUNT, events_burst=_COUNT, bytes_per_s=_COUNT, bytes_burst=_COUNT),
    encryption={"type": "boolean"},
    pii=_PII,
)
_KEY: Final = spec.obj(
    (),
    scope={"enum": list(SCOPES)},
    name=spec.STR,
    expires_at=spec.TIME,
    expires_in_days={"type": "number"},
)
_AUDIT: Final = spec.page(AUDIT_LIMIT, ("action", "one action"))
OPENAPI: Final[spec.Paths] = {
    "/api/projects": {
        "get": spec.op(
            "Projects the caller can see, with its role (a key: its own project)",
            {200: "{items: [...]}"},
            returns=spec.ITEMS,
        ),
        "post": spec.op(
            "Create a project (org owner or admin)",
            {201: "{project_id, name, org_id, created_at, role}"},
            security=spec.SESSION,
            body_text="{name, org_id?}",
            body=spec.obj(("name",), name=spec.STR, org_id=spec.STR),
            returns=spec.obj(("project_id", "name", "org_id", "role")),
        ),
    },
    "/api/projects/{project_id}/keys": {
        "get": spec.op("API keys of the project, without secrets", {200: "{items: [...]}"}, returns=spec.ITEMS),
        "post": spec.op(
            "Create an API key; the secret is in this answer only",
            {201: "{key_id, api_key, prefix, scope, name, expires_at, ...}"},
            body_text="{scope: ingest | read | admin, name?, expires_at? | expires_in_days?}",
            body=_KEY,
            returns=spec.obj(
                ("key_id", "api_key", "prefix", "scope", "name", "project_id", "expires_at"), api_key=spec.STR
            ),
        ),
    },
    "/api/projects/{project_id}/keys/{key_id}": {
        "delete": spec.op("Revoke an API key", {204: "revoked"}, errors=(401, 403, 404))
    },
    "/api/projects/{project_id}/settings": {
        "get": spec.op(
            "The project's settings",
            {
                200: "{name, retention_days, hot_window_s, sample_text, limits, effective_limits, "
                "defaults: {retention_days, hot_window_s}, offload_enabled, encryption, "
                "pii: {mode, custom_patterns, masked_keys, default_mode, is_default}}"
            },
            returns=_SETTINGS,
        ),
        "patch": spec.op(
            "Change the project's name, retention (days, 0 = forever), hot window (seconds), raw-text sampling "
            "(sample_text: the fraction of traces whose text is kept, 0..1), ingest limits, "
            "PII detection and redaction (mode off | detect | redact, custom RE2 patterns, masked attribute keys), "
            "and turn encryption at rest on (409 to turn it off, or without a key-encryption key)",
            {200: "the settings"},
            body_text="{name?, retention_days?, hot_window_s?, sample_text?, "
            "limits?: {events_per_s, events_burst, bytes_per_s, bytes_burst}, encryption?, "
            "pii?: {mode?, custom_patterns?: [{name, pattern}], masked_keys?: [key]}}",
            body=_SETTINGS_CHANGE,
            errors=(400, 401, 403, 404, 409),
            returns=_SETTINGS,
        ),
    },
    "/api/projects/{project_id}/audit": {
        "get": spec.op(
            "The project's audit entries, newest first",
            {200: "{items: [...], next_cursor}"},
            params=_AUDIT,
            returns=spec.PAGE,
        )
    },
    "/api/projects/{project_id}/usage": {
        "get": spec.op(
            "Usage per UTC day: events, spans, traces, tokens, cost",
            {200: "{project_id, from, to, days: [...], totals}"},
            params=spec.query(("from", "date or RFC 3339 (default 30 days ago)"), ("to", "date or RFC 3339")),
            returns=spec.obj(("project_id", "from", "to", "days", "totals")),
        )
    },
    "/api/orgs/{org_id}/audit": {
        "get": spec.op(
            "The org's audit entries, its projects', and sign-ins of members of this org alone, newest first",
            {200: "{items: [{id, at, actor_type, actor_id, actor_label, action, ...}], next_cursor}"},
            security=spec.SESSION,
            params=_AUDIT,
            returns=spec.PAGE,
        )
    },
}
