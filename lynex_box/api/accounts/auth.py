"""The account API: login, logout, who am I, password change and reset (by link, or requested by email),
accepting invitations.

The web UI is built against exactly these shapes: login answers `{"user", "csrf_token"}` and sets the
`lynex_session` (HttpOnly) and `lynex_csrf` (readable) cookies, both SameSite=Lax and Secure over TLS.
Secrets travel only in bodies and cookies, never in paths or query strings (which end up in logs), and
no answer or log line repeats one. argon2 and SQLite run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import apsw
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object, text_field
from lynex_box.api.principal import client_ip, current_session, require_session, user_actor
from lynex_box.api.services import Services, services, write
from lynex_box.auth import emails, invitations, resets, users
from lynex_box.auth.admin import hash_password
from lynex_box.auth.errors import AdminError
from lynex_box.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, NewSession
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor

BAD_LOGIN = "wrong email or password"
FORGOT_ANSWER = {"status": "accepted", "message": "if an account has this email, a reset link is on its way"}
log = logging.getLogger("lynex.auth")


def cookie_secure(request: Request, svc: Services) -> bool:
    mode = svc.settings.auth.cookie_secure
    if mode != "auto":
        return mode == "always"
    return request.url.scheme == "https" or svc.settings.server.public_url.startswith("https://")


def set_session_cookies(response: Response, request: Request, svc: Services, new: NewSession) -> None:
    secure = cookie_secure(request, svc)
    response.set_cookie(
        SESSION_COOKIE, new.token, max_age=new.max_age_s, path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.set_cookie(
        CSRF_COOKIE, new.csrf_token, max_age=new.max_age_s, path="/", secure=secure, httponly=False, samesite="lax"
    )


def clear_session_cookies(response: Response, request: Request, svc: Services) -> None:
    secure = cookie_secure(request, svc)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="lax")


def _locked(wait_s: float) -> ApiError:
    seconds = max(1, int(wait_s + 0.999))
    return ApiError(429, "locked_out", "too many failed logins; try again later", {"Retry-After": str(seconds)})


def _login_check(svc: Services, email: str, password: str) -> tuple[users.User | None, users.User | None]:
    """(the user when the password matches, the account the email names if any)."""
    known = svc.accounts.user_by_email(email) if len(email) <= 320 else None
    return svc.accounts.verify_login(email, password), known


async def login(request: Request) -> Response:
    svc = services(request)
    doc = await json_object(request)
    email = text_field(doc, "email", max_len=320) or ""
    password = text_field(doc, "password", max_len=users.MAX_PASSWORD) or ""
    ip = client_ip(request)
    wait = svc.auth.throttle.reserve(email, ip)  # counted as a failure until it succeeds: see auth/throttle.py
    if wait is not None:
        raise _locked(wait)
    user, known = await asyncio.to_thread(_login_check, svc, email, password)
    if user is None:
        actor = Actor("anonymous", "", known.email if known else "", ip)
        target = known.id if known else ""
        details = {"user_agent": _agent(request)}  # never the password typed
        await write(
            svc,
            lambda c: audit.record(
                c, actor, "login.failed", target_type="user" if known else "", target_id=target, details=details
            ),
        )
        raise ApiError(401, "invalid_credentials", BAD_LOGIN)
    svc.auth.throttle.succeeded(email, ip)
    new = await write(svc, lambda c: _start_session(c, svc, user, request, "login"))
    response = json_response({"user": user.public(), "csrf_token": new.csrf_token})
    set_session_cookies(response, request, svc, new)
    return response


def _agent(request: Request) -> str:
    """The browser or client that signs in, as the audit log keeps it (bounded)."""
    return request.headers.get("user-agent", "")[:300]


def _start_session(conn: apsw.Connection, svc: Services, user: users.User, request: Request, action: str) -> NewSession:
    agent = _agent(request)
    new = svc.auth.sessions.create_in(conn, user.id, client_ip(request), agent)
    actor = Actor("user", user.id, user.email, client_ip(request))
    audit.record(conn, actor, action, target_type="user", target_id=user.id, details={"user_agent": agent})
    return new


async def logout(request: Request) -> Response:
    svc = services(request)
    session = await current_session(request, svc)
    if session is not None:
        actor = user_actor(session, request)

        def tx(conn: apsw.Connection) -> None:
            svc.auth.sessions.end(conn, session.id_hash)
            audit.record(conn, actor, "logout", target_type="user", target_id=session.user_id)

        await write(svc, tx)
    response = Response(status_code=204)
    clear_session_cookies(response, request, svc)
    return response


async def me(request: Request) -> Response:
    svc = services(request)
    session = await current_session(request, svc)
    if session is None and request.query_params.get("optional") == "1":
        # The UI's first question on every page load: "signed out" is an expected answer there, not an error
        # (the browser logs every 401 it fetches as a console error).
        return json_response({"user": None, "orgs": [], "projects": []})
    if session is None:
        session = await require_session(request, svc)  # the 401 with its message
    orgs = await asyncio.to_thread(svc.accounts.user_orgs, session.user_id)
    projects = await asyncio.to_thread(svc.accounts.user_projects, session.user_id)
    user = {"id": session.user_id, "email": session.email, "name": session.name,
            "must_change_password": session.must_change_password}  # fmt: skip
    return json_response({"user": user, "orgs": orgs, "projects": projects})


async def change_password(request: Request) -> Response:
    svc = services(request)
    session = await require_session(request, svc)
    doc = await json_object(request)
    current = text_field(doc, "current_password", max_len=users.MAX_PASSWORD) or ""
    new_password = doc.get("new_password")
    ip = client_ip(request)
    try:
        users.check_password_policy(new_password, svc.settings.auth.password_min_length, session.email)
    except AdminError as exc:
        raise ApiError(400, "weak_password", str(exc)) from None
    assert isinstance(new_password, str)
    if new_password == current:
        raise ApiError(400, "weak_password", "the new password must differ from the current one")
    wait = svc.auth.throttle.reserve(session.email, ip)  # counted before the hash, like a login
    if wait is not None:
        raise _locked(wait)
    ok = await asyncio.to_thread(svc.accounts.verify_login, session.email, current)
    if ok is None or ok.id != session.user_id:
        raise ApiError(403, "invalid_credentials", "the current password is wrong")
    svc.auth.throttle.succeeded(session.email, ip)
    new_hash = await asyncio.to_thread(hash_password, new_password)
    actor = user_actor(session, request)
    await write(svc, lambda c: resets.change(c, actor, session.user_id, new_hash, session.id_hash))
    return Response(status_code=204)


async def reset_password(request: Request) -> Response:
    """Redeem a reset token (admin-issued or emailed): `{"token", "password"}`; the user then logs in."""
    svc = services(request)
    doc = await json_object(request)
    token = text_field(doc, "token", max_len=200) or ""
    password = doc.get("password")
    try:
        users.check_password_policy(password, svc.settings.auth.password_min_length)
    except AdminError as exc:
        raise ApiError(400, "weak_password", str(exc)) from None
    assert isinstance(password, str)
    new_hash = await asyncio.to_thread(hash_password, password)
    await write(svc, lambda c: resets.redeem(c, token, new_hash, client_ip(request)))
    return Response(status_code=204)


async def forgot_password(request: Request) -> Response:
    """`{"email"}` -> 202, the same answer whether or not an account has that email; if one has (enabled,
    with a password, under the hourly per-email limit) a one-time reset link is emailed to it.

    The link's base is `[server] public_url` only, never the request's Host header: this call is
    unauthenticated, and a forged Host would otherwise send a victim a link that leaks the token."""
    svc = services(request)
    mailer, base = svc.auth.mailer, svc.settings.server.public_url.rstrip("/")
    if mailer is None or not base or svc.auth.reset_limit is None:
        raise ApiError(
            404,
            "not_enabled",
            "password reset by email is not enabled; ask an admin for a reset link "
            "(hint for the operator: [smtp] enabled = true and [server] public_url)",
        )
    doc = await json_object(request)
    try:
        email = users.clean_email(doc.get("email"))
    except AdminError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    ip = client_ip(request)
    wait = svc.auth.reset_limit.ip_retry_after(ip)
    if wait is not None:
        raise ApiError(
            429, "rate_limited", "too many reset requests from this address", {"Retry-After": str(int(wait) + 1)}
        )
    allowed = svc.auth.reset_limit.email_allowed(email)
    ttl = svc.settings.auth.email_reset_ttl_s
    issued = await write(svc, lambda c: resets.email_issue(c, email, ip, ttl, allowed))
    if issued is not None:
        user, token, expires = issued
        try:
            message = emails.password_reset(
                svc.settings.smtp.from_address, user.email, f"{base}/reset-password#{token}", expires
            )
        except ValueError:
            log.warning("mail not sent kind=password_reset user_id=%s reason=bad_address", user.id)
        else:
            mailer.submit("password_reset", message)
    return json_response(FORGOT_ANSWER, status=202)


async def lookup_invitation(request: Request) -> Response:
    """`{"token"}` -> what the invitation offers (org, role, email), so the UI can show it before accepting."""
    svc = services(request)
    doc = await json_object(request)
    token = text_field(doc, "token", max_len=200) or ""
    found = await asyncio.to_thread(svc.accounts.invitation, token)
    if found is None:
        raise ApiError(404, "not_found", "this invitation is unknown, used, revoked or expired")
    return json_response(found)


async def accept_invitation(request: Request) -> Response:
    """Logged in: join with this account. Not logged in: `{"token", "password", "name"?, "email"?}` creates
    the account (with the invitation's email when it names one), joins, and logs in like `/login`."""
    svc = services(request)
    session = await current_session(request, svc)
    doc = await json_object(request)
    token = text_field(doc, "token", max_len=200) or ""
    if session is not None:
        actor = user_actor(session, request)
        joined = await write(svc, lambda c: invitations.accept(c, token, session.user_id, session.email, actor))
        return json_response({"joined": joined})
    found = await asyncio.to_thread(svc.accounts.invitation, token)
    if found is None:
        raise ApiError(404, "not_found", "this invitation is unknown, used, revoked or expired")
    try:
        email = users.clean_email(found["email"] or doc.get("email"))
        password = users.check_password_policy(doc.get("password"), svc.settings.auth.password_min_length, email)
    except AdminError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    name = doc.get("name") if isinstance(doc.get("name"), str) else ""
    password_hash = await asyncio.to_thread(hash_password, password)

    def tx(conn: apsw.Connection) -> tuple[users.User, NewSession, dict[str, Any]]:
        user_id = users.insert_user(conn, email, password_hash, str(name))
        user = users.User(user_id, email, str(name)[:200], password_hash, False, 0)
        actor = Actor("user", user_id, email, client_ip(request))
        joined = invitations.accept(conn, token, user_id, email, actor)
        return user, _start_session(conn, svc, user, request, "login"), joined

    user, new, joined = await write(svc, tx)
    response = json_response({"user": user.public(), "csrf_token": new.csrf_token, "joined": joined}, status=201)
    set_session_cookies(response, request, svc, new)
    return response


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
    Route("/api/auth/password", change_password, methods=["POST"]),
    Route("/api/auth/password/reset", reset_password, methods=["POST"]),
    Route("/api/auth/password/forgot", forgot_password, methods=["POST"]),
    Route("/api/invitations/lookup", lookup_invitation, methods=["POST"]),
    Route("/api/invitations/accept", accept_invitation, methods=["POST"]),
]

_RESET_OFF: Final = "404 not_enabled when [smtp] or [server] public_url is not set"
_USER: Final = spec.obj(
    ("id", "email", "name", "must_change_password"),
    id=spec.STR,
    email=spec.STR,
    name=spec.STR,
    must_change_password={"type": "boolean"},
)
OPENAPI: Final[spec.Paths] = {
    "/api/auth/login": {
        "post": spec.op(
            "Log in; sets the lynex_session (HttpOnly) and lynex_csrf cookies",
            {200: "{user: {id, email, name, must_change_password}, csrf_token}"},
            security=spec.PUBLIC,
            body_text="{email, password}",
            body=spec.obj(("email", "password"), email=spec.STR, password=spec.STR),
            errors=(400, 401, 429),
            returns=spec.obj(("user", "csrf_token"), user=_USER, csrf_token=spec.STR),
        )
    },
    "/api/auth/logout": {
        "post": spec.op(
            "End the session and clear its cookies", {204: "logged out"}, security=spec.SESSION, errors=(403,)
        )
    },
    "/api/auth/me": {
        "get": spec.op(
            "The logged-in user, their orgs and the projects they can see with their effective role",
            {200: "{user, orgs: [{id, name, role}], projects: [{project_id, name, org_id, role}]}"},
            security=spec.SESSION,
            params=spec.query(("optional", "1: answer 200 {user: null, orgs: [], projects: []} when signed out")),
            errors=(401,),
            returns=spec.obj(
                ("user", "orgs", "projects"), user=_USER, orgs=spec.list_of(spec.obj(("id", "name", "role")))
            ),
        )
    },
    "/api/auth/password": {
        "post": spec.op(
            "Change one's own password (the new one must differ); ends the user's other sessions. A session whose "
            "password was printed (must_change_password) may call only this, /api/auth/me and /api/auth/logout: "
            "anything else answers 403 password_change_required",
            {204: "changed"},
            security=spec.SESSION,
            body_text="{current_password, new_password}",
            body=spec.obj(("current_password", "new_password"), current_password=spec.STR, new_password=spec.STR),
            errors=(400, 401, 403, 429),
        )
    },
    "/api/auth/password/reset": {
        "post": spec.op(
            "Set a new password with a one-time reset token (admin-issued or emailed); ends all the user's sessions",
            {204: "password set"},
            security=spec.PUBLIC,
            body_text="{token, password}",
            body=spec.obj(("token", "password"), token=spec.STR, password=spec.STR),
            errors=(400, 404),
        )
    },
    "/api/auth/password/forgot": {
        "post": spec.op(
            "Request a password reset link by email. The same 202 whether or not an account has that email; "
            f"limited per recipient (silently) and per source address (429). {_RESET_OFF}",
            {202: '{"status": "accepted", "message"}'},
            security=spec.PUBLIC,
            body_text="{email}",
            body=spec.obj(("email",), email=spec.STR),
            errors=(400, 404, 429),
        )
    },
    "/api/invitations/lookup": {
        "post": spec.op(
            "What an invitation offers (org name, role, email), before accepting it",
            {200: "{id, org_id, org_name, email, role, project_id, project_role, created_at, expires_at}"},
            security=spec.PUBLIC,
            body_text="{token}",
            body=spec.obj(("token",), token=spec.STR),
            errors=(400, 404),
        )
    },
    "/api/invitations/accept": {
        "post": spec.op(
            "Accept an invitation: with a session, join as that user; without, create the account and log in",
            {200: "{joined} (with a session)", 201: "{user, csrf_token, joined}, and the session cookies"},
            security=[{}, {"session": [], "csrf": []}],
            body_text="{token, password?, name?, email?}",
            body=spec.obj(("token",), token=spec.STR, password=spec.STR, name=spec.STR, email=spec.STR),
            errors=(400, 403, 404, 409),
        )
    },
}
