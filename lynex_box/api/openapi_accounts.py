"""OpenAPI descriptions of the account, admin, SSO and SCIM routes (`/api/...`, `/scim/v2/...`).

Data only: openapi.py joins these to the app's routes. docs/security.md is the prose for the same routes;
tests/api/test_openapi.py fails when a route has no entry here or in openapi.py, or an entry no route.
"""

from __future__ import annotations

from typing import Any, Final

from lynex_box.api import openapi_bodies as b

ERROR_REF: Final = {"$ref": "#/components/schemas/Error"}
SCIM_JSON: Final = "application/scim+json"

# who may call: an API key, a browser session (state-changing calls also need X-CSRF-Token), either, nobody
Security = list[dict[str, list[str]]]
KEY: Final[Security] = [{"bearer": []}]
SESSION: Final[Security] = [{"session": [], "csrf": []}]
KEY_OR_SESSION: Final[Security] = [{"bearer": []}, {"session": [], "csrf": []}]
PUBLIC: Final[Security] = []
SCIM: Final[Security] = [{"scimToken": []}]


def _error(media: str = "application/json") -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ScimError"} if media == SCIM_JSON else ERROR_REF
    return {"description": "error", "content": {media: {"schema": schema}}}


def _ok(description: str, code: int, media: str) -> dict[str, Any]:
    if code == 204 or 300 <= code < 400:
        return {"description": description}
    return {"description": description, "content": {media: {"schema": {"type": "object"}}}}


def op(
    summary: str,
    ok: dict[int, str],
    *,
    security: Security = KEY_OR_SESSION,
    body: str | None = None,
    query: tuple[tuple[str, str], ...] = (),
    errors: tuple[int, ...] = (400, 401, 403, 404),
    media: str = "application/json",
    schema: b.Schema | None = None,
) -> dict[str, Any]:
    """One operation; `body` describes the JSON request body's fields (`schema`, from openapi_bodies.py, is its
    JSON Schema), `query` the query parameters. A success answer other than 204 or a redirect is a JSON object
    of `media`. An operation with a body also answers 415 when the body is sent without that media type."""
    if body is not None and 415 not in errors:
        errors = (*errors, 415)
    out: dict[str, Any] = {
        "summary": summary,
        "security": security,
        "responses": {
            **{str(code): _ok(text, code, media) for code, text in ok.items()},
            **{str(code): _error(media) for code in errors},
        },
    }
    if query:
        out["parameters"] = [
            {"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
            for n, d in query
        ]
    if body is not None:
        out["requestBody"] = b.json_body(schema or {"type": "object"}, media, body)
    return out


_PAGE = (("limit", "1..500, default 100"), ("cursor", "next_cursor of the previous page"), ("action", "one action"))


def _auth() -> dict[str, dict[str, Any]]:
    reset_off = "404 not_enabled when [smtp] or [server] public_url is not set"
    return {
        "/api/auth/login": {
            "post": op(
                "Log in; sets the lynex_session (HttpOnly) and lynex_csrf cookies",
                {200: "{user: {id, email, name}, csrf_token}"},
                security=PUBLIC,
                body="{email, password}",
                schema=b.LOGIN,
                errors=(400, 401, 429),
            )
        },
        "/api/auth/logout": {
            "post": op("End the session and clear its cookies", {204: "logged out"}, security=SESSION, errors=(403,))
        },
        "/api/auth/me": {
            "get": op(
                "The logged-in user, their orgs and the projects they can see with their effective role",
                {200: "{user, orgs: [{id, name, role}], projects: [{project_id, name, org_id, role}]}"},
                security=SESSION,
                errors=(401,),
            )
        },
        "/api/auth/password": {
            "post": op(
                "Change one's own password; ends the user's other sessions",
                {204: "changed"},
                security=SESSION,
                body="{current_password, new_password}",
                schema=b.PASSWORD_CHANGE,
                errors=(400, 401, 403, 429),
            )
        },
        "/api/auth/password/reset": {
            "post": op(
                "Set a new password with a one-time reset token (admin-issued or emailed); ends all the user's "
                "sessions",
                {204: "password set"},
                security=PUBLIC,
                body="{token, password}",
                schema=b.PASSWORD_RESET,
                errors=(400, 404),
            )
        },
        "/api/auth/password/forgot": {
            "post": op(
                "Request a password reset link by email. The same 202 whether or not an account has that email; "
                f"limited per recipient (silently) and per source address (429). {reset_off}",
                {202: '{"status": "accepted", "message"}'},
                security=PUBLIC,
                body="{email}",
                schema=b.FORGOT,
                errors=(400, 404, 429),
            )
        },
        "/api/auth/oidc": {
            "get": op(
                "Whether single sign-on is on, and where it starts",
                {200: "{enabled, login_url}"},
                security=PUBLIC,
                errors=(),
            )
        },
        "/api/auth/oidc/login": {
            "get": op(
                "Start an OpenID Connect login (authorization code flow with PKCE)",
                {302: "to the identity provider"},
                security=PUBLIC,
                query=(("next", "a local path to return to after the login"),),
                errors=(400, 404),
            )
        },
        "/api/auth/oidc/callback": {
            "get": op(
                "The identity provider's redirect back: logs the user in like /api/auth/login",
                {302: "to next, with the session cookies"},
                security=PUBLIC,
                query=(("code", "authorization code"), ("state", "the login's state")),
                errors=(400, 401, 403, 404, 409),
            )
        },
        "/api/invitations/lookup": {
            "post": op(
                "What an invitation offers (org name, role, email), before accepting it",
                {200: "{id, org_id, org_name, email, role, project_id, project_role, created_at, expires_at}"},
                security=PUBLIC,
                body="{token}",
                schema=b.TOKEN,
                errors=(400, 404),
            )
        },
        "/api/invitations/accept": {
            "post": op(
                "Accept an invitation: with a session, join as that user; without, create the account and log in",
                {200: "{joined} (with a session)", 201: "{user, csrf_token, joined}, and the session cookies"},
                security=[{}, {"session": [], "csrf": []}],
                body="{token, password?, name?, email?}",
                schema=b.ACCEPT,
                errors=(400, 403, 404, 409),
            )
        },
    }


def org_op(summary: str, ok: dict[int, str], **kw: Any) -> dict[str, Any]:
    """An org operation: API keys never act on orgs, only sessions do."""
    return op(summary, ok, security=SESSION, **kw)


def _orgs() -> dict[str, dict[str, Any]]:
    member = "{user_id, email, name, role, ...}"
    return {
        "/api/orgs": {
            "post": org_op(
                "Create an organisation owned by the caller (who must own one already)",
                {201: "{id, name}"},
                body="{name}",
                schema=b.NAME,
                errors=(400, 401, 403),
            )
        },
        "/api/orgs/{org_id}/members": {
            "get": org_op("Members of the organisation with their roles", {200: "{items: [" + member + "]}"}),
            "post": org_op(
                "Invite an address to join the organisation (an account joins only by accepting); the same answer "
                "whether or not an account has that address; 409 when it is already a member",
                {202: "{id, token, url, emailed, org_id, role, email, project_id, project_role, expires_at}"},
                body="{email, role}",
                errors=(400, 401, 403, 409),
                schema=b.ORG_MEMBER,
            ),
        },
        "/api/orgs/{org_id}/members/{user_id}": {
            "patch": org_op(
                "Change a member's org role",
                {200: member},
                body="{role}",
                schema=b.ROLE_ONLY,
                errors=(400, 401, 403, 404, 409),
            ),
            "delete": org_op("Remove a member from the organisation", {204: "removed"}, errors=(401, 403, 404, 409)),
        },
        "/api/orgs/{org_id}/members/{user_id}/password-reset": {
            "post": org_op(
                "Issue a one-time password reset link for a member of this org alone (shown once); 403 for an "
                "account that also belongs to another org",
                {201: "{reset_token, url, expires_at}"},
                errors=(401, 403, 404),
            )
        },
        "/api/orgs/{org_id}/invitations": {
            "get": org_op("Pending invitations of the organisation", {200: "{items: [...]}"}),
            "post": org_op(
                "Invite by link; with an email and [smtp] on, the link is also emailed",
                {201: "{id, token, url, emailed, org_id, role, email, project_id, project_role, expires_at}"},
                body="{role, email?, project_id?, project_role?}",
                schema=b.INVITATION,
            ),
        },
        "/api/orgs/{org_id}/invitations/{invitation_id}": {
            "delete": org_op("Revoke a pending invitation", {204: "revoked"}, errors=(401, 403, 404))
        },
        "/api/orgs/{org_id}/audit": {
            "get": org_op(
                "The org's audit entries, its projects', and sign-ins of members of this org alone, newest first",
                {200: "{items: [{id, at, actor_type, actor_id, actor_label, action, ...}], next_cursor}"},
                query=_PAGE,
            )
        },
        "/api/orgs/{org_id}/scim-token": {
            "post": org_op(
                "Create (or replace) the org's SCIM token, shown once",
                {201: "{token, base_url}"},
                errors=(401, 403, 404),
            ),
            "delete": org_op("Revoke the org's SCIM token", {204: "revoked"}, errors=(401, 403, 404)),
        },
    }


def _projects() -> dict[str, dict[str, Any]]:
    member = "{user_id, email, name, role, ...}"
    return {
        "/api/projects": {
            "get": op("Projects the caller can see, with its role (a key: its own project)", {200: "{items: [...]}"}),
            "post": op(
                "Create a project (org owner or admin)",
                {201: "{project_id, name, org_id, created_at, role}"},
                security=SESSION,
                body="{name, org_id?}",
                schema=b.PROJECT,
            ),
        },
        "/api/projects/{project_id}/keys": {
            "get": op("API keys of the project, without secrets", {200: "{items: [...]}"}),
            "post": op(
                "Create an API key; the secret is in this answer only",
                {201: "{key_id, api_key, prefix, scope, name, expires_at, ...}"},
                body="{scope: ingest | read | admin, name?, expires_at? | expires_in_days?}",
                schema=b.KEY,
            ),
        },
        "/api/projects/{project_id}/keys/{key_id}": {
            "delete": op("Revoke an API key", {204: "revoked"}, errors=(401, 403, 404))
        },
        "/api/projects/{project_id}/members": {
            "get": op("Members of the project with their effective roles", {200: "{items: [" + member + "]}"}),
            "post": op(
                "Give a user a role on the project",
                {201: member},
                security=SESSION,
                body="{user_id | email, role}",
                schema=b.MEMBER,
            ),
        },
        "/api/projects/{project_id}/members/{user_id}": {
            "patch": op("Change a project role", {200: member}, security=SESSION, body="{role}", schema=b.ROLE_ONLY),
            "delete": op("Remove a project role", {204: "removed"}, security=SESSION, errors=(401, 403, 404)),
        },
        "/api/projects/{project_id}/settings": {
            "get": op(
                "The project's settings",
                {
                    200: "{name, retention_days, hot_window_s, limits, effective_limits, "
                    "defaults: {retention_days, hot_window_s}, offload_enabled, encryption}"
                },
            ),
            "patch": op(
                "Change the project's name, retention (days, 0 = forever), hot window (seconds), ingest limits, "
                "and turn encryption at rest on (409 to turn it off, or without a key-encryption key)",
                {200: "the settings"},
                body="{name?, retention_days?, hot_window_s?, "
                "limits?: {events_per_s, events_burst, bytes_per_s, bytes_burst}, encryption?}",
                schema=b.SETTINGS,
                errors=(400, 401, 403, 404, 409),
            ),
        },
        "/api/projects/{project_id}/audit": {
            "get": op(
                "The project's audit entries, newest first",
                {200: "{items: [...], next_cursor}"},
                query=_PAGE,
            )
        },
        "/api/projects/{project_id}/usage": {
            "get": op(
                "Usage per UTC day: events, spans, traces, tokens, cost",
                {200: "{project_id, from, to, days: [...], totals}"},
                query=(("from", "date or RFC 3339 (default 30 days ago)"), ("to", "date or RFC 3339")),
            )
        },
    }


def _scim() -> dict[str, dict[str, Any]]:
    def scim(
        summary: str,
        ok: dict[int, str],
        body: str | None = None,
        query: tuple[tuple[str, str], ...] = (),
        schema: b.Schema | None = None,
    ) -> dict[str, Any]:
        errors = (400, 401, 404, 409)
        return op(summary, ok, security=SCIM, body=body, schema=schema, query=query, errors=errors, media=SCIM_JSON)

    listing = (("filter", 'eq filter, e.g. userName eq "a@b.c"'), ("startIndex", "1-based"), ("count", "page size"))
    paths: dict[str, dict[str, Any]] = {
        "/scim/v2/ServiceProviderConfig": {
            "get": scim("What this SCIM service supports", {200: "ServiceProviderConfig"})
        },
        "/scim/v2/ResourceTypes": {"get": scim("The resource types: User and Group", {200: "ListResponse"})},
    }
    for kind, fields, schema in (
        ("Users", "userName (the email), name, emails, active, externalId", b.SCIM_USER),
        ("Groups", "displayName, members", b.SCIM_GROUP),
    ):
        one = kind[:-1]
        paths[f"/scim/v2/{kind}"] = {
            "get": scim(f"List or filter {kind.lower()} of the token's org", {200: "ListResponse"}, query=listing),
            "post": scim(f"Provision a {one.lower()}", {201: one}, body=f"SCIM {one}: {fields}", schema=schema),
        }
        paths[f"/scim/v2/{kind}/{{id}}"] = {
            "get": scim(f"One {one.lower()}", {200: one}),
            "put": scim(f"Replace a {one.lower()}", {200: one}, body=f"SCIM {one}", schema=schema),
            "patch": scim(
                f"Change a {one.lower()} (SCIM PatchOp)",
                {200: one},
                body="PatchOp: {Operations: [...]}",
                schema=b.SCIM_PATCH,
            ),
            "delete": scim(
                "Deactivate the user in the org (ends their sessions)" if kind == "Users" else "Delete the group",
                {204: "done"},
            ),
        }
    return paths


def account_paths() -> dict[str, dict[str, Any]]:
    """path -> method -> operation, for every account, admin, SSO and SCIM route."""
    return {**_auth(), **_orgs(), **_projects(), **_scim()}
