"""Who is calling: an API key from `Authorization: Bearer`, or Langfuse-style `Basic public:secret`.

The project a request may touch comes only from here, never from the body. A missing or unknown key
is 401, a valid key of another project 403, a key without the needed scope 403.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

from starlette.requests import Request

from lynex_box.api.errors import ApiError
from lynex_box.auth.keys import KeyRing, Principal

UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="lynex"'}


def credentials(request: Request) -> tuple[str, str | None] | None:
    """(api_key, basic_user) from the Authorization header, or None when absent."""
    header = request.headers.get("authorization")
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


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def authenticate(request: Request, keys: KeyRing) -> Principal:
    creds = credentials(request)
    if creds is None:
        raise ApiError(401, "unauthorized", "missing Authorization header with an API key", UNAUTHORIZED)
    key, basic_user = creds
    principal = keys.check(key)
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid, expired or revoked API key", UNAUTHORIZED)
    if basic_user is not None and basic_user != principal.project_id:
        raise ApiError(403, "forbidden", "the public key does not name the project of this secret key")
    return principal


def require_project(principal: Principal, project_id: str, write: bool) -> None:
    if principal.project_id != project_id:
        raise ApiError(403, "forbidden", "this API key does not belong to that project")
    if write and not principal.can_write():
        raise ApiError(403, "forbidden", f"an API key with scope {principal.scope!r} cannot write")
    if not write and not principal.can_read():
        raise ApiError(403, "forbidden", f"an API key with scope {principal.scope!r} cannot read")
