"""Who is calling: an API key from `Authorization: Bearer` (or Langfuse-style `Basic public:secret`), a JWT of an
issuer a project trusts (`Bearer`; ingest routes only, through `admission.identify`), or a user's login session
cookie.

The project a request may touch comes only from here, never from the body. A missing or unknown key
is 401, a valid key of another project 403, a key without the needed scope 403. A request with an
Authorization header is judged by its key alone. Otherwise a session cookie names a user: a project
the user has no role on is 404 (its existence is not revealed), a role too low for the action 403, and
a state-changing call without the session's `X-CSRF-Token` 403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
from dataclasses import dataclass

from starlette.requests import Request

from lynex_box.api.errors import ApiError
from lynex_box.api.services import Services
from lynex_box.auth import rbac
from lynex_box.auth.jwt_verifier import JwksUnavailable, JwtRefused, looks_like_jwt
from lynex_box.auth.keys import KeyRing, Principal
from lynex_box.auth.sessions import CSRF_HEADER, SESSION_COOKIE, Session
from lynex_box.meta.audit import Actor

UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="lynex"'}


def parse_authorization(header: str | None) -> tuple[str, str | None] | None:
    """(api_key, basic_user) from an Authorization value, None when absent: an HTTP header, or the `authorization`
    metadata of a gRPC call (the OTLP/gRPC receiver), read by the same rules."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value, None
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "unauthorized", "malformed Basic credentials", UNAUTHORIZED) from None
        user, sep, secret = decoded.partition(":")
        if sep and secret:
            return secret, user
    raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <api key>' or Basic", UNAUTHORIZED)


def credentials(request: Request) -> tuple[str, str | None] | None:
    """(api_key, basic_user) from the Authorization header, or None when absent."""
    return parse_authorization(request.headers.get("authorization"))


def is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(request: Request) -> bool:
    return is_loopback_address(request.client.host if request.client else "")


def key_principal(creds: tuple[str, str | None] | None, keys: KeyRing) -> Principal:
    """The API key's principal: the one place a key is looked up and verified (401 when absent or invalid)."""
    if creds is None:
        raise ApiError(401, "unauthorized", "missing Authorization header with an API key", UNAUTHORIZED)
    key, basic_user = creds
    principal = keys.check(key)
    if principal is None:
        if looks_like_jwt(key):
            raise ApiError(401, "unauthorized", "a JWT is accepted by ingest routes only; use an API key", UNAUTHORIZED)
        raise ApiError(401, "unauthorized", "invalid, expired or revoked API key", UNAUTHORIZED)
    if basic_user is not None and basic_user != principal.project_id:
        raise ApiError(403, "forbidden", "the public key does not name the project of this secret key")
    return principal


async def token_principal(svc: Services, token: str) -> Principal:
    """The principal of a JWT of an issuer a project trusts (`auth/jwt_verifier.py`): ingest on that project only.
    401 when refused, 503 + Retry-After when the issuer's keys cannot be fetched now."""
    if svc.jwt is None:
        raise ApiError(401, "unauthorized", "JWTs are not accepted by this server", UNAUTHORIZED)
    try:
        return await svc.jwt.principal(token)
    except JwtRefused as exc:
        raise ApiError(401, "unauthorized", f"JWT refused: {exc}", UNAUTHORIZED) from None
    except JwksUnavailable as exc:
        raise ApiError(503, "jwks_unavailable", str(exc), {"Retry-After": str(exc.retry_after_s)}) from None


def authenticate(request: Request, keys: KeyRing) -> Principal:
    """The principal of the request's API key (401 when absent or invalid)."""
    return key_principal(credentials(request), keys)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a session whose password was printed (the first admin's, one the operator set) may do until it is changed.
PASSWORD_CHANGE_PATHS = frozenset({"/api/auth/me", "/api/auth/logout", "/api/auth/password"})
_VERBS = {"data.read": "read", "data.ingest": "write"}


@dataclass(frozen=True, slots=True)
class Access:
    """An authenticated caller's standing on one project (or org): by API key or by user session."""

    project_id: str
    actor: Actor
    role: str | None = None  # a user's effective role
    scope: str | None = None  # an API key's scope
    session: Session | None = None
    org_id: str | None = None

    def can(self, action: str) -> bool:
        if self.scope is not None:
            return rbac.scope_allows(self.scope, action)
        return rbac.role_allows(self.role, action)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def user_actor(session: Session, request: Request) -> Actor:
    return Actor("user", session.user_id, session.email, client_ip(request))


async def current_session(request: Request, svc: Services, check_csrf: bool = True) -> Session | None:
    """The caller's live session, or None; 403 for an unsafe method without the session's CSRF token."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    session = await asyncio.to_thread(svc.auth.sessions.resolve, token)
    if session is None:
        return None
    if check_csrf and request.method not in SAFE_METHODS and not session.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token header for this session")
    if session.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise ApiError(
            403,
            "password_change_required",
            "this account signed in with a printed password: choose a new one first "
            "(POST /api/auth/password with current_password and new_password)",
        )
    return session


async def require_session(request: Request, svc: Services) -> Session:
    session = await current_session(request, svc)
    if session is None:
        raise ApiError(401, "unauthorized", "log in first: no valid session cookie")
    return session


def check_key(principal: Principal, project_id: str, action: str) -> None:
    """The one rule for an API key on a project: it acts on its own project only, with the actions of its scope
    (`rbac.KEY_SCOPE_ACTIONS`); 403 otherwise. Ingest routes and `project_access` both ask it."""
    if principal.project_id != project_id:
        raise ApiError(403, "forbidden", "this API key does not belong to that project")
    if not rbac.scope_allows(principal.scope, action):
        verb = _VERBS.get(action, f"do {action!r}")
        raise ApiError(403, "forbidden", f"an API key with scope {principal.scope!r} cannot {verb}")


def _key_access(request: Request, svc: Services, project_id: str, action: str) -> Access:
    principal = authenticate(request, svc.keys)
    check_key(principal, project_id, action)
    actor = Actor("key", principal.key_id, principal.key_id, client_ip(request))
    return Access(project_id, actor, scope=principal.scope)


async def project_access(request: Request, svc: Services, project_id: str, action: str) -> Access:
    """The caller's right to do `action` on `project_id`, by API key or session; ApiError otherwise."""
    if "authorization" in request.headers:
        return _key_access(request, svc, project_id, action)
    session = await current_session(request, svc)
    if session is None:
        raise ApiError(401, "unauthorized", "missing Authorization header with an API key, or a login session")
    found = await asyncio.to_thread(svc.accounts.project_role, session.user_id, project_id)
    if found is None or found[1] is None:
        raise ApiError(404, "not_found", "no project with that id")
    org_id, role = found
    if not rbac.role_allows(role, action):
        raise ApiError(403, "forbidden", f"the role {role!r} cannot do {action!r} on this project")
    return Access(project_id, user_actor(session, request), role=role, session=session, org_id=org_id)


async def org_access(request: Request, svc: Services, org_id: str, action: str) -> Access:
    """A user's right to do `action` on an org; API keys never act on orgs."""
    if "authorization" in request.headers:
        authenticate(request, svc.keys)
        raise ApiError(403, "forbidden", "API keys act on one project; organisations need a user session")
    session = await require_session(request, svc)
    role = await asyncio.to_thread(svc.accounts.org_role, session.user_id, org_id)
    if role is None:
        raise ApiError(404, "not_found", "no organisation with that id")
    if not rbac.role_allows(role, action):
        raise ApiError(403, "forbidden", f"the role {role!r} cannot do {action!r} in this organisation")
    return Access("", user_actor(session, request), role=role, session=session, org_id=org_id)
