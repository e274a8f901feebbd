"""Single sign-on endpoints: start an OpenID Connect login, finish it at the callback, tell the UI about it.

`GET /api/auth/oidc` -> `{"enabled", "login_url"}`. `GET /api/auth/oidc/login?next=/ui/...` redirects to the
provider; the state also goes into a short-lived HttpOnly cookie, so a callback is accepted only in the
browser that started the login. `GET /api/auth/oidc/callback` exchanges the code, validates the ID token,
signs the user in (see auth/sso.py), sets the same cookies as `POST /api/auth/login` and redirects to `next`
(a local path only). Failures answer a JSON error.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.accounts.auth import _start_session, cookie_secure, set_session_cookies
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.principal import client_ip
from lynex_box.api.services import Services, services, write
from lynex_box.auth import sso
from lynex_box.auth.oidc import OidcClient, OidcError
from lynex_box.meta.audit import Actor

STATE_COOKIE = "lynex_oidc_state"
CALLBACK = "/api/auth/oidc/callback"
DEFAULT_NEXT = "/ui/"


def _client(svc: Services) -> OidcClient:
    if svc.auth.oidc is None:
        raise ApiError(404, "not_found", "single sign-on is not configured; hint: [oidc] enabled = true")
    return svc.auth.oidc


def _redirect_uri(request: Request, svc: Services) -> str:
    configured = svc.settings.oidc.redirect_url
    base = svc.settings.server.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return configured or base + CALLBACK


def _safe_next(value: str | None) -> str:
    """Only a local absolute path: never another site (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return DEFAULT_NEXT
    return value


async def oidc_info(request: Request) -> Response:
    svc = services(request)
    enabled = svc.auth.oidc is not None
    return json_response({"enabled": enabled, "login_url": "/api/auth/oidc/login" if enabled else None})


async def oidc_login(request: Request) -> Response:
    svc = services(request)
    client = _client(svc)
    try:
        url, state = await client.start(_redirect_uri(request, svc), _safe_next(request.query_params.get("next")))
    except OidcError as exc:
        raise ApiError(exc.status, "sso_failed", str(exc)) from None
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=svc.settings.oidc.login_timeout_s,
        path="/api/auth/oidc",
        secure=cookie_secure(request, svc),
        httponly=True,
        samesite="lax",
    )
    return response


async def oidc_callback(request: Request) -> Response:
    svc = services(request)
    client = _client(svc)
    params = request.query_params
    if params.get("error"):
        raise ApiError(401, "sso_failed", "the identity provider did not sign you in")
    state, code = params.get("state", ""), params.get("code", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not code or len(code) > 2048 or cookie != state:
        raise ApiError(400, "sso_failed", "this login was not started in this browser, or it is incomplete")
    try:
        pending = client.take(state)
        claims = await client.finish(pending, code)
    except OidcError as exc:
        raise ApiError(exc.status, "sso_failed", str(exc)) from None
    user = await write(svc, lambda c: sso.sign_in(c, claims, svc.settings.oidc, client.group_roles))
    if user is None:
        actor = Actor("anonymous", "", "single sign-on", client_ip(request))
        await asyncio.to_thread(svc.audit.record, actor, "login.failed", details={"method": "oidc"})
        raise ApiError(403, "no_role", "your account has no role in Lynex Box; ask an administrator for access")
    new = await write(svc, lambda c: _start_session(c, svc, user, request, "login"))
    response = RedirectResponse(pending.next_path, status_code=302)
    set_session_cookies(response, request, svc, new)
    response.delete_cookie(STATE_COOKIE, path="/api/auth/oidc")
    return response


routes = [
    Route("/api/auth/oidc", oidc_info, methods=["GET"]),
    Route("/api/auth/oidc/login", oidc_login, methods=["GET"]),
    Route(CALLBACK, oidc_callback, methods=["GET"]),
]

OPENAPI: Final[spec.Paths] = {
    "/api/auth/oidc": {
        "get": spec.op(
            "Whether single sign-on is on, and where it starts",
            {200: "{enabled, login_url}"},
            security=spec.PUBLIC,
            errors=(),
            returns=spec.obj(("enabled",), enabled={"type": "boolean"}),
        )
    },
    "/api/auth/oidc/login": {
        "get": spec.op(
            "Start an OpenID Connect login (authorization code flow with PKCE)",
            {302: "to the identity provider"},
            security=spec.PUBLIC,
            params=spec.query(("next", "a local path to return to after the login")),
            errors=(400, 404),
        )
    },
    CALLBACK: {
        "get": spec.op(
            "The identity provider's redirect back: logs the user in like /api/auth/login",
            {302: "to next, with the session cookies"},
            security=spec.PUBLIC,
            params=spec.query(("code", "authorization code"), ("state", "the login's state")),
            errors=(400, 401, 403, 404, 409),
        )
    },
}
