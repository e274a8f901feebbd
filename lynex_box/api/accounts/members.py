"""The people API: members of projects and orgs, invitations by link (emailed too when [smtp] is on and the
invitation names an email), admin-issued password resets.

Only users manage people (API keys may at most list a project's members). The actor's role is
re-checked against the stored state inside the write transaction (see auth/memberships.py), so the
role read here only decides whether to try. Tokens are in creation answers only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object, text_field
from lynex_box.api.params import path_id
from lynex_box.api.principal import authenticate, org_access, project_access, require_session, user_actor
from lynex_box.api.services import Services, services, write
from lynex_box.auth import emails, invitations, memberships, orgs, resets, users
from lynex_box.auth.errors import AdminError

log = logging.getLogger("lynex.auth")


def _role(doc: dict[str, Any], key: str = "role") -> str:
    value = doc.get(key)
    if value not in ("owner", "admin", "member", "viewer"):
        raise ApiError(400, "bad_request", f"{key} must be one of owner, admin, member, viewer")
    return str(value)


async def _project_candidate(svc: Services, doc: dict[str, Any]) -> str:
    """The user a body names by `user_id` or `email`. Unknown accounts get the same 404 as accounts of other
    orgs (set_project_role refuses those), so the answer tells nothing about other orgs' members."""
    user_id = text_field(doc, "user_id", required=False, max_len=100)
    if user_id is not None:
        return user_id
    try:
        email = users.clean_email(doc.get("email"))
    except AdminError:
        raise ApiError(400, "bad_request", "give the user_id or email of a member of this organisation") from None
    user = await asyncio.to_thread(svc.accounts.user_by_email, email)
    if user is None:
        raise ApiError(404, "not_found", memberships.NOT_A_MEMBER)
    return user.id


async def _project_org(svc: Services, project_id: str) -> str:
    found = await asyncio.to_thread(svc.projects.get, project_id)
    if found is None:
        raise ApiError(404, "not_found", "no project with that id")
    return str(found["org_id"])


async def list_project_members(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "members.read")
    org_id = await _project_org(svc, project_id)
    items = await asyncio.to_thread(svc.accounts.project_members, project_id, org_id)
    return json_response({"items": items})


async def _project_member(svc: Services, project_id: str, user_id: str) -> dict[str, Any]:
    org_id = await _project_org(svc, project_id)
    items = await asyncio.to_thread(svc.accounts.project_members, project_id, org_id)
    return next((m for m in items if m["user_id"] == user_id), {"user_id": user_id})


async def add_project_member(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "members.manage")
    doc = await json_object(request)
    user_id, role = await _project_candidate(svc, doc), _role(doc)
    await write(
        svc,
        lambda c: memberships.set_project_role(c, access.actor, access.role, project_id, user_id, role, create=True),
    )
    member = await _project_member(svc, project_id, user_id)
    svc.events.emit("member_added", {"project_id": project_id, "user_id": user_id, "role": role,
                                     "actor": {"type": access.actor.type, "id": access.actor.id}})  # fmt: skip
    return json_response(member, status=201)


async def change_project_member(request: Request) -> Response:
    svc = services(request)
    project_id, user_id = path_id(request, "project_id"), path_id(request, "user_id")
    access = await project_access(request, svc, project_id, "members.manage")
    role = _role(await json_object(request))
    await write(
        svc,
        lambda c: memberships.set_project_role(c, access.actor, access.role, project_id, user_id, role, create=False),
    )
    return json_response(await _project_member(svc, project_id, user_id))


async def remove_project_member(request: Request) -> Response:
    svc = services(request)
    project_id, user_id = path_id(request, "project_id"), path_id(request, "user_id")
    access = await project_access(request, svc, project_id, "members.manage")
    await write(svc, lambda c: memberships.remove_project_role(c, access.actor, access.role, project_id, user_id))
    return Response(status_code=204)


async def create_org(request: Request) -> Response:
    """`{"name"}` -> a new org owned by the caller (who must already own one)."""
    svc = services(request)
    if "authorization" in request.headers:
        authenticate(request, svc.keys)
        raise ApiError(403, "forbidden", "API keys cannot create organisations")
    session = await require_session(request, svc)
    doc = await json_object(request)
    actor = user_actor(session, request)
    return json_response(await write(svc, lambda c: orgs.create(c, actor, doc.get("name"))), status=201)


async def list_org_members(request: Request) -> Response:
    svc = services(request)
    org_id = path_id(request, "org_id")
    await org_access(request, svc, org_id, "org.members.read")
    return json_response({"items": await asyncio.to_thread(svc.accounts.org_members, org_id)})


async def _org_member(svc: Services, org_id: str, user_id: str) -> dict[str, Any]:
    items = await asyncio.to_thread(svc.accounts.org_members, org_id)
    return next((m for m in items if m["user_id"] == user_id), {"user_id": user_id})


async def add_org_member(request: Request) -> Response:
    """`{"email", "role"}` -> 202 and an invitation for that address: an account joins an org only by accepting
    one (docs/security.md). The answer is the same whether or not an account with that address exists
    elsewhere; only an address that is already a member of this org gets a 409."""
    svc = services(request)
    org_id = path_id(request, "org_id")
    access = await org_access(request, svc, org_id, "org.members.manage")
    doc = await json_object(request)
    if doc.get("user_id") is not None:
        raise ApiError(400, "bad_request", "add a member by email: they join by accepting the invitation sent there")
    try:
        email = users.clean_email(doc.get("email"))
    except AdminError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    role = _role(doc)
    out = await _invite(request, svc, access, org_id, role, email, None, None, refuse_members=True)
    return json_response(out, status=202)


async def change_org_member(request: Request) -> Response:
    svc = services(request)
    org_id, user_id = path_id(request, "org_id"), path_id(request, "user_id")
    access = await org_access(request, svc, org_id, "org.members.manage")
    role = _role(await json_object(request))
    await write(svc, lambda c: memberships.change_org_role(c, access.actor, access.role, org_id, user_id, role))
    return json_response(await _org_member(svc, org_id, user_id))


async def remove_org_member(request: Request) -> Response:
    svc = services(request)
    org_id, user_id = path_id(request, "org_id"), path_id(request, "user_id")
    access = await org_access(request, svc, org_id, "org.members.manage")
    await write(svc, lambda c: memberships.remove_org_member(c, access.actor, access.role, org_id, user_id))
    return Response(status_code=204)


def _base_url(request: Request, svc: Services) -> str:
    return svc.settings.server.public_url.rstrip("/") or str(request.base_url).rstrip("/")


async def list_invitations(request: Request) -> Response:
    svc = services(request)
    org_id = path_id(request, "org_id")
    await org_access(request, svc, org_id, "org.invite")
    return json_response({"items": await asyncio.to_thread(svc.accounts.pending_invitations, org_id)})


async def _email_invitation(svc: Services, org_id: str, email: str, role: str, url: str, expires: int) -> bool:
    """Queue the invitation email; True when queued. The API answer carries the link either way."""
    mailer = svc.auth.mailer
    if mailer is None or not email:
        return False
    org_name = await asyncio.to_thread(svc.accounts.org_name, org_id)
    try:
        message = emails.invitation(svc.settings.smtp.from_address, email, org_name, role, url, expires)
    except ValueError:
        log.warning("mail not sent kind=invitation org_id=%s reason=bad_address", org_id)
        return False
    return mailer.submit("invitation", message)


async def _invite(
    request: Request,
    svc: Services,
    access: Any,
    org_id: str,
    role: str,
    email: str,
    project_id: str | None,
    project_role: str | None,
    refuse_members: bool = False,
) -> dict[str, Any]:
    """Create (and email, when it names an address and [smtp] is on) an invitation; its public answer."""
    ttl = svc.settings.auth.invitation_ttl_s
    token, invitation_id, expires = await write(
        svc,
        lambda c: invitations.create(
            c, access.actor, access.role, org_id, role, email, project_id, project_role, ttl, refuse_members
        ),
    )
    url = f"{_base_url(request, svc)}/invite#{token}"
    emailed = await _email_invitation(svc, org_id, email, role, url, expires)
    return {
        "id": invitation_id,
        "token": token,
        "url": url,
        "emailed": emailed,
        "org_id": org_id,
        "role": role,
        "email": email,
        "project_id": project_id,
        "project_role": project_role,
        "expires_at": expires,
    }


async def create_invitation(request: Request) -> Response:
    """`{"role", "email"?, "project_id"?, "project_role"?}` -> the link's token, shown once; with an email and
    [smtp] on, the link is also emailed (`"emailed": true`)."""
    svc = services(request)
    org_id = path_id(request, "org_id")
    access = await org_access(request, svc, org_id, "org.invite")
    doc = await json_object(request)
    role = _role(doc)
    email = ""
    if doc.get("email"):
        try:
            email = users.clean_email(doc["email"])
        except AdminError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
    project_id = text_field(doc, "project_id", required=False, max_len=100)
    project_role = _role(doc, "project_role") if project_id is not None else None
    out = await _invite(request, svc, access, org_id, role, email, project_id, project_role)
    return json_response(out, status=201)


async def revoke_invitation(request: Request) -> Response:
    svc = services(request)
    org_id, invitation_id = path_id(request, "org_id"), path_id(request, "invitation_id")
    access = await org_access(request, svc, org_id, "org.invite")
    await write(svc, lambda c: invitations.revoke(c, access.actor, org_id, invitation_id))
    return Response(status_code=204)


async def issue_password_reset(request: Request) -> Response:
    """An admin's reset link for a member: `{"reset_token", "url", "expires_at"}`, shown once."""
    svc = services(request)
    org_id, user_id = path_id(request, "org_id"), path_id(request, "user_id")
    access = await org_access(request, svc, org_id, "org.password_reset")
    ttl = svc.settings.auth.password_reset_ttl_s
    token, expires = await write(svc, lambda c: resets.issue(c, access.actor, org_id, access.role, user_id, ttl))
    out = {"reset_token": token, "url": f"{_base_url(request, svc)}/reset-password#{token}", "expires_at": expires}
    return json_response(out, status=201)


routes = [
    Route("/api/orgs", create_org, methods=["POST"]),
    Route("/api/projects/{project_id}/members", list_project_members, methods=["GET"]),
    Route("/api/projects/{project_id}/members", add_project_member, methods=["POST"]),
    Route("/api/projects/{project_id}/members/{user_id}", change_project_member, methods=["PATCH"]),
    Route("/api/projects/{project_id}/members/{user_id}", remove_project_member, methods=["DELETE"]),
    Route("/api/orgs/{org_id}/members", list_org_members, methods=["GET"]),
    Route("/api/orgs/{org_id}/members", add_org_member, methods=["POST"]),
    Route("/api/orgs/{org_id}/members/{user_id}", change_org_member, methods=["PATCH"]),
    Route("/api/orgs/{org_id}/members/{user_id}", remove_org_member, methods=["DELETE"]),
    Route("/api/orgs/{org_id}/members/{user_id}/password-reset", issue_password_reset, methods=["POST"]),
    Route("/api/orgs/{org_id}/invitations", list_invitations, methods=["GET"]),
    Route("/api/orgs/{org_id}/invitations", create_invitation, methods=["POST"]),
    Route("/api/orgs/{org_id}/invitations/{invitation_id}", revoke_invitation, methods=["DELETE"]),
]

_MEMBER: Final = "{user_id, email, name, role, ...}"
_INVITED: Final = "{id, token, url, emailed, org_id, role, email, project_id, project_role, expires_at}"
_INVITATION: Final = spec.obj(
    ("id", "token", "url", "emailed", "org_id", "role", "expires_at"), token=spec.STR, url=spec.STR
)
OPENAPI: Final[spec.Paths] = {
    # organisations: API keys never act on them, only sessions do
    "/api/orgs": {
        "post": spec.op(
            "Create an organisation owned by the caller (who must own one already)",
            {201: "{id, name}"},
            security=spec.SESSION,
            body_text="{name}",
            body=spec.obj(("name",), name=spec.STR),
            errors=(400, 401, 403),
            returns=spec.obj(("id", "name")),
        )
    },
    "/api/orgs/{org_id}/members": {
        "get": spec.op(
            "Members of the organisation with their roles",
            {200: "{items: [" + _MEMBER + "]}"},
            security=spec.SESSION,
            returns=spec.ITEMS,
        ),
        "post": spec.op(
            "Invite an address to join the organisation (an account joins only by accepting); the same answer "
            "whether or not an account has that address; 409 when it is already a member",
            {202: _INVITED},
            security=spec.SESSION,
            body_text="{email, role}",
            body=spec.obj(("email", "role"), email=spec.STR, role=spec.ROLE),
            errors=(400, 401, 403, 409),
            returns=_INVITATION,
        ),
    },
    "/api/orgs/{org_id}/members/{user_id}": {
        "patch": spec.op(
            "Change a member's org role",
            {200: _MEMBER},
            security=spec.SESSION,
            body_text="{role}",
            body=spec.obj(("role",), role=spec.ROLE),
            errors=(400, 401, 403, 404, 409),
        ),
        "delete": spec.op(
            "Remove a member from the organisation",
            {204: "removed"},
            security=spec.SESSION,
            errors=(401, 403, 404, 409),
        ),
    },
    "/api/orgs/{org_id}/members/{user_id}/password-reset": {
        "post": spec.op(
            "Issue a one-time password reset link for a member of this org alone (shown once); 403 for an "
            "account that also belongs to another org",
            {201: "{reset_token, url, expires_at}"},
            security=spec.SESSION,
            errors=(401, 403, 404),
            returns=spec.obj(("reset_token", "url", "expires_at")),
        )
    },
    "/api/orgs/{org_id}/invitations": {
        "get": spec.op(
            "Pending invitations of the organisation",
            {200: "{items: [...]}"},
            security=spec.SESSION,
            returns=spec.ITEMS,
        ),
        "post": spec.op(
            "Invite by link; with an email and [smtp] on, the link is also emailed",
            {201: _INVITED},
            security=spec.SESSION,
            body_text="{role, email?, project_id?, project_role?}",
            body=spec.obj(("role",), role=spec.ROLE, email=spec.STR, project_id=spec.STR, project_role=spec.ROLE),
            returns=_INVITATION,
        ),
    },
    "/api/orgs/{org_id}/invitations/{invitation_id}": {
        "delete": spec.op(
            "Revoke a pending invitation", {204: "revoked"}, security=spec.SESSION, errors=(401, 403, 404)
        )
    },
    # a project's members: a key may list them, only users change them
    "/api/projects/{project_id}/members": {
        "get": spec.op(
            "Members of the project with their effective roles", {200: "{items: [" + _MEMBER + "]}"}, returns=spec.ITEMS
        ),
        "post": spec.op(
            "Give a user a role on the project",
            {201: _MEMBER},
            security=spec.SESSION,
            body_text="{user_id | email, role}",
            body=spec.obj(("role",), user_id=spec.STR, email=spec.STR, role=spec.ROLE),
        ),
    },
    "/api/projects/{project_id}/members/{user_id}": {
        "patch": spec.op(
            "Change a project role",
            {200: _MEMBER},
            security=spec.SESSION,
            body_text="{role}",
            body=spec.obj(("role",), role=spec.ROLE),
        ),
        "delete": spec.op("Remove a project role", {204: "removed"}, security=spec.SESSION, errors=(401, 403, 404)),
    },
}
