"""SCIM 2.0 endpoints at `/scim/v2` (Users, Groups, discovery) and the admin API that issues the org's token.

A SCIM request carries `Authorization: Bearer lxscim_...`; the token names one org and everything the
request sees or changes is that org's (see auth/scim_store.py). Answers are `application/scim+json`,
errors the SCIM error shape. The token is created by an org owner (`POST /api/orgs/{org_id}/scim-token`,
shown once) and revoked with `DELETE`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

import apsw
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import read_body
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import parse_json
from lynex_box.api.params import path_id
from lynex_box.api.principal import client_ip, org_access
from lynex_box.api.services import Services, services, write
from lynex_box.auth import scim, scim_store
from lynex_box.auth.errors import AdminError, Conflict
from lynex_box.meta.audit import Actor

BASE = "/scim/v2"


def _out(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=scim.MEDIA_TYPE)


def _error(exc: scim.ScimError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="lynex-scim"'} if exc.status == 401 else None
    return Response(orjson.dumps(exc.body()), status_code=exc.status, media_type=scim.MEDIA_TYPE, headers=headers)


def _base(request: Request, svc: Services) -> str:
    return (svc.settings.server.public_url.rstrip("/") or str(request.base_url).rstrip("/")) + BASE


async def _org(request: Request, svc: Services) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    org_id = None
    if scheme.lower() == "bearer" and token.strip():
        org_id = await asyncio.to_thread(svc.accounts.scim_org, token.strip())
    if org_id is None:
        raise scim.ScimError(401, "a valid SCIM bearer token is required")
    return org_id


async def _body(request: Request) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (scim.MEDIA_TYPE, "application/json"):
        raise scim.ScimError(415, "send application/scim+json")
    try:
        raw, encoding = await read_body(request, services(request).settings.scim.max_body_bytes)
    except ApiError as exc:
        raise scim.ScimError(exc.status, exc.message) from None
    if encoding != "identity":
        raise scim.ScimError(415, "this endpoint takes an uncompressed body")
    try:
        doc = parse_json(raw, services(request).settings.ingest.max_json_depth)
    except ApiError as exc:
        raise scim.ScimError(400, exc.message, "invalidSyntax") from None
    if not isinstance(doc, dict):
        raise scim.ScimError(400, "body must be a JSON object", "invalidSyntax")
    return doc


def endpoint(fn: Callable[[Request, Services, str, Actor], Any]) -> Callable[[Request], Any]:
    """Authenticate by SCIM token, run the handler, and answer any failure in SCIM's error shape."""

    async def handler(request: Request) -> Response:
        svc = services(request)
        try:
            org_id = await _org(request, svc)
            actor = Actor("system", "scim", "SCIM provisioning", client_ip(request))
            result: Response = await fn(request, svc, org_id, actor)
            return result
        except scim.ScimError as exc:
            return _error(exc)
        except Conflict as exc:
            return _error(scim.ScimError(409, str(exc), "uniqueness"))
        except AdminError as exc:
            return _error(scim.ScimError(400, str(exc), "invalidValue"))

    return handler


async def _tx(svc: Services, fn: Callable[[apsw.Connection], Any]) -> Any:
    return await asyncio.to_thread(svc.accounts.write, fn)


async def _read(svc: Services, fn: Callable[[apsw.Connection], Any]) -> Any:
    return await asyncio.to_thread(svc.accounts.read, fn)


async def list_users(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    params = dict(request.query_params)
    flt = scim.parse_filter(params.get("filter"))
    start, count = scim.page(params, svc.settings.scim.max_results)
    base = _base(request, svc)
    items, total = await _read(svc, lambda c: scim_store.list_users(c, org_id, flt, start, count, base))
    return _out(scim.list_response(items, total, start))


async def create_user(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    fields = scim.user_fields(await _body(request))
    base = _base(request, svc)
    made = await _tx(svc, lambda c: scim_store.create_user(c, actor, org_id, fields, svc.settings.scim, base))
    return _out(made, 201)


async def get_user(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    user_id, base = request.path_params["id"], _base(request, svc)
    return _out(await _read(svc, lambda c: scim_store.get_user(c, org_id, user_id, base)))


async def put_user(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    fields = scim.user_fields(await _body(request))
    user_id, base = request.path_params["id"], _base(request, svc)
    done = await _tx(svc, lambda c: scim_store.update_user(c, actor, org_id, user_id, fields, svc.settings.scim, base))
    return _out(done)


async def patch_user(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    fields = scim.user_patch(await _body(request))
    user_id, base = request.path_params["id"], _base(request, svc)
    done = await _tx(svc, lambda c: scim_store.update_user(c, actor, org_id, user_id, fields, svc.settings.scim, base))
    return _out(done)


async def delete_user(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    user_id = request.path_params["id"]
    await _tx(svc, lambda c: scim_store.delete_user(c, actor, org_id, user_id, svc.settings.scim))
    return Response(status_code=204)


async def list_groups(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    params = dict(request.query_params)
    flt = scim.parse_filter(params.get("filter"))
    start, count = scim.page(params, svc.settings.scim.max_results)
    members = "members" not in params.get("excludedAttributes", "")
    base = _base(request, svc)
    items, total = await _read(svc, lambda c: scim_store.list_groups(c, org_id, flt, start, count, base, members))
    return _out(scim.list_response(items, total, start))


async def create_group(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    doc, base = await _body(request), _base(request, svc)
    return _out(await _tx(svc, lambda c: scim_store.create_group(c, actor, org_id, doc, svc.settings.scim, base)), 201)


async def get_group(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    group_id, base = request.path_params["id"], _base(request, svc)
    return _out(await _read(svc, lambda c: scim_store.get_group(c, org_id, group_id, base)))


async def _change_group(request: Request, svc: Services, org_id: str, actor: Actor, patch: scim.GroupPatch) -> Response:
    group_id, base = request.path_params["id"], _base(request, svc)
    settings = svc.settings.scim
    return _out(await _tx(svc, lambda c: scim_store.change_group(c, actor, org_id, group_id, patch, settings, base)))


async def put_group(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    doc = await _body(request)
    name = doc.get("displayName")
    if not isinstance(name, str):
        raise scim.ScimError(400, "displayName is required", "invalidValue")
    patch = scim.GroupPatch(display_name=name, replace_members=scim.member_ids(doc.get("members", [])))
    return await _change_group(request, svc, org_id, actor, patch)


async def patch_group(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    return await _change_group(request, svc, org_id, actor, scim.group_patch(await _body(request)))


async def delete_group(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    group_id = request.path_params["id"]
    await _tx(svc, lambda c: scim_store.delete_group(c, actor, org_id, group_id, svc.settings.scim))
    return Response(status_code=204)


async def service_provider_config(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    return _out(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": svc.settings.scim.max_results},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "the org's token from POST /api/orgs/{org_id}/scim-token",
                }
            ],
        }
    )


async def resource_types(request: Request, svc: Services, org_id: str, actor: Actor) -> Response:
    types = [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": name,
            "name": name,
            "endpoint": f"/{name}s",
            "schema": schema,
        }
        for name, schema in (("User", scim.USER_SCHEMA), ("Group", scim.GROUP_SCHEMA))
    ]
    return _out(scim.list_response(types, len(types), 1))


async def create_token(request: Request) -> Response:
    svc = services(request)
    org_id = path_id(request, "org_id")
    access = await org_access(request, svc, org_id, "org.scim.manage")
    token = await write(svc, lambda c: scim_store.set_token(c, access.actor, org_id))
    return json_response({"token": token, "base_url": _base(request, svc)}, status=201)


async def revoke_token(request: Request) -> Response:
    svc = services(request)
    org_id = path_id(request, "org_id")
    access = await org_access(request, svc, org_id, "org.scim.manage")
    if not await write(svc, lambda c: scim_store.revoke_token(c, access.actor, org_id)):
        raise ApiError(404, "not_found", "this organisation has no SCIM token")
    return Response(status_code=204)


routes = [
    Route(f"{BASE}/ServiceProviderConfig", endpoint(service_provider_config), methods=["GET"]),
    Route(f"{BASE}/ResourceTypes", endpoint(resource_types), methods=["GET"]),
    Route(f"{BASE}/Users", endpoint(list_users), methods=["GET"]),
    Route(f"{BASE}/Users", endpoint(create_user), methods=["POST"]),
    Route(f"{BASE}/Users/{{id}}", endpoint(get_user), methods=["GET"]),
    Route(f"{BASE}/Users/{{id}}", endpoint(put_user), methods=["PUT"]),
    Route(f"{BASE}/Users/{{id}}", endpoint(patch_user), methods=["PATCH"]),
    Route(f"{BASE}/Users/{{id}}", endpoint(delete_user), methods=["DELETE"]),
    Route(f"{BASE}/Groups", endpoint(list_groups), methods=["GET"]),
    Route(f"{BASE}/Groups", endpoint(create_group), methods=["POST"]),
    Route(f"{BASE}/Groups/{{id}}", endpoint(get_group), methods=["GET"]),
    Route(f"{BASE}/Groups/{{id}}", endpoint(put_group), methods=["PUT"]),
    Route(f"{BASE}/Groups/{{id}}", endpoint(patch_group), methods=["PATCH"]),
    Route(f"{BASE}/Groups/{{id}}", endpoint(delete_group), methods=["DELETE"]),
    Route("/api/orgs/{org_id}/scim-token", create_token, methods=["POST"]),
    Route("/api/orgs/{org_id}/scim-token", revoke_token, methods=["DELETE"]),
]


def _scim(
    summary: str, ok: dict[int, str], body_text: str | None = None, body: spec.Schema | None = None, **kw: Any
) -> spec.Operation:
    """A SCIM operation: the org's SCIM token, SCIM's media type and error shape."""
    errors = (400, 401, 404, 409)
    return spec.op(
        summary, ok, security=spec.SCIM, body_text=body_text, body=body, errors=errors, media=spec.SCIM_JSON, **kw
    )


_LISTING: Final = spec.query(
    ("filter", 'eq filter, e.g. userName eq "a@b.c"'), ("startIndex", "1-based"), ("count", "page size")
)
_USER: Final = spec.obj(
    ("userName",),
    schemas=spec.list_of(spec.STR),
    userName=spec.STR,
    externalId=spec.STR,
    active={"type": "boolean"},
    name=spec.obj((), givenName=spec.STR, familyName=spec.STR, formatted=spec.STR),
    emails=spec.list_of(spec.obj((), value=spec.STR, primary={"type": "boolean"})),
)
_GROUP: Final = spec.obj(
    ("displayName",),
    schemas=spec.list_of(spec.STR),
    displayName=spec.STR,
    members=spec.list_of(spec.obj(("value",), value=spec.STR)),
)
_PATCH: Final = spec.obj(
    ("Operations",),
    schemas=spec.list_of(spec.STR),
    Operations=spec.list_of(
        spec.obj(("op",), op={"enum": ["add", "replace", "remove"]}, path=spec.STR, value=spec.ANY)
    ),
)


def _resources(kind: str, fields: str, schema: spec.Schema) -> spec.Paths:
    one = kind[:-1]
    return {
        f"{BASE}/{kind}": {
            "get": _scim(f"List or filter {kind.lower()} of the token's org", {200: "ListResponse"}, params=_LISTING),
            "post": _scim(f"Provision a {one.lower()}", {201: one}, f"SCIM {one}: {fields}", schema),
        },
        f"{BASE}/{kind}/{{id}}": {
            "get": _scim(f"One {one.lower()}", {200: one}),
            "put": _scim(f"Replace a {one.lower()}", {200: one}, f"SCIM {one}", schema),
            "patch": _scim(
                f"Change a {one.lower()} (SCIM PatchOp)", {200: one}, "PatchOp: {Operations: [...]}", _PATCH
            ),
            "delete": _scim(
                "Deactivate the user in the org (ends their sessions)" if kind == "Users" else "Delete the group",
                {204: "done"},
            ),
        },
    }


OPENAPI: Final[spec.Paths] = {
    f"{BASE}/ServiceProviderConfig": {"get": _scim("What this SCIM service supports", {200: "ServiceProviderConfig"})},
    f"{BASE}/ResourceTypes": {"get": _scim("The resource types: User and Group", {200: "ListResponse"})},
    **_resources("Users", "userName (the email), name, emails, active, externalId", _USER),
    **_resources("Groups", "displayName, members", _GROUP),
    "/api/orgs/{org_id}/scim-token": {
        "post": spec.op(
            "Create (or replace) the org's SCIM token, shown once",
            {201: "{token, base_url}"},
            security=spec.SESSION,
            errors=(401, 403, 404),
            returns=spec.obj(("token", "base_url"), token=spec.STR, base_url=spec.STR),
        ),
        "delete": spec.op(
            "Revoke the org's SCIM token", {204: "revoked"}, security=spec.SESSION, errors=(401, 403, 404)
        ),
    },
}
