"""The one admission step of every ingest route: who sends, into which project, whether the server can take it now,
and the metering of what it sends. An HTTP route calls `admit` before it reads a byte of the body, then
`Admitted.charge` with the bytes and the events it found. The OTLP/gRPC receiver, which has no Starlette request,
calls the same two steps `admit` is made of: `identify` (who sends, from the `authorization` value) and `admit_key`
(where, whether); so every protocol is let in by the same rules.

- Who: an API key (`Authorization: Bearer`, or Langfuse's Basic `project:key`; `principal.key_principal`), or a
  JWT of an issuer the project trusts, in its place (`principal.token_principal`). In `--dev` mode a loopback caller
  without either writes to the default project. A route that also takes users
  (`user_action`: scores written from the UI) lets a login session with that right in instead.
- Where: the path's project, which must be the key's (`principal.check_key`), or else the key's own project
  (OTLP and Langfuse senders name no project).
- Whether: 503 + Retry-After while the node is read-only (`read_only`, api/readonly.py; the HTTP gate answers
  earlier, this is for OTLP/gRPC), while the WAL or the disk is over its limit, and for writes that become spans, while
  the project is encrypted and its key is locked (its spans could not be flushed without writing them in
  plaintext, which never happens).
- Metering: the key's and the project's rate limits, in memory; 429 + Retry-After when empty (OTLP asks for 503,
  which every exporter version retries). A user's session is not metered.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from lynex_box.api import unavailable
from lynex_box.api.errors import ApiError
from lynex_box.api.principal import (
    check_key,
    is_loopback,
    key_principal,
    parse_authorization,
    project_access,
    token_principal,
)
from lynex_box.api.readonly import refusal
from lynex_box.api.services import Services, services
from lynex_box.auth.jwt_verifier import looks_like_jwt
from lynex_box.auth.keys import Principal
from lynex_box.auth.ratelimit import RateLimited
from lynex_box.segments.encryption import KeyUnavailable


@dataclass(frozen=True, slots=True)
class Admitted:
    """An ingest request let in: what it may use, the project it writes to, and the key that sends (None for a
    user's session)."""

    svc: Services
    project_id: str
    key: Principal | None

    def charge(self, events: int = 0, nbytes: int = 0, status: int = 429) -> None:
        """Take `events` and `nbytes` from the key's and the project's rate limits; `status` + Retry-After when
        either is empty."""
        if self.key is None:
            return
        try:
            self.svc.auth.limiter.take(self.key.project_id, self.key.key_id, events, nbytes)
        except RateLimited as exc:
            raise ApiError(
                status, "rate_limited", f"{exc.what} exceeded; retry later", {"Retry-After": str(exc.retry_after_s)}
            ) from None


async def identify(svc: Services, authorization: str | None, loopback: bool) -> Principal:
    """The sender of an ingest request, whatever its protocol: `authorization` is the HTTP header or the gRPC
    `authorization` metadata (None when absent); in `--dev` mode a loopback caller without one writes to the
    default project."""
    if svc.settings.server.dev and authorization is None and svc.default_project_id is not None and loopback:
        return Principal(project_id=svc.default_project_id, scope="ingest", key_id="dev")
    creds = parse_authorization(authorization)
    if creds is not None and creds[1] is None and looks_like_jwt(creds[0]):
        return await token_principal(svc, creds[0])  # a JWT of a trusted issuer: wherever an ingest key goes
    return key_principal(creds, svc.keys)


async def sender(request: Request, svc: Services) -> Principal:
    """The sending key of an HTTP request (`identify`)."""
    return await identify(svc, request.headers.get("authorization"), is_loopback(request))


def admit_key(svc: Services, key: Principal, project_id: str | None = None, *, spans: bool = True) -> Admitted:
    """The protocol-independent part of admission, for a sender already identified: into which project (the
    path's, which must be the key's; None: the key's own), and whether the server can take it now (ApiError 403,
    503). Every ingest route, HTTP or gRPC, lets a key in through here."""
    project_id = key.project_id if project_id is None else project_id
    check_key(key, project_id, "data.ingest")
    refuse_overload(svc, project_id if spans else None)
    return Admitted(svc, project_id, key)


async def admit(
    request: Request, project_id: str | None = None, *, user_action: str | None = None, spans: bool = True
) -> Admitted:
    """Let an ingest request in, or raise ApiError (401, 403, 404, 503). `project_id` is the path's (None: the
    key's own); `user_action` lets a session with that right in when no key is sent; `spans` is False for writes
    that do not become spans (scores), which a locked encryption key does not stop."""
    svc = services(request)
    if user_action is not None and project_id is not None and "authorization" not in request.headers:
        await project_access(request, svc, project_id, user_action)
        refuse_overload(svc, project_id if spans else None)
        return Admitted(svc, project_id, None)
    return admit_key(svc, await sender(request, svc), project_id, spans=spans)


def refuse_overload(svc: Services, locked_project: str | None = None) -> None:
    """503 when the node is read-only, when the WAL or the disk is over its limit, or when `locked_project` is
    encrypted and its key is locked."""
    read_only = refusal(svc.read_only)
    if read_only is not None:
        raise read_only
    if locked_project is not None:
        try:
            svc.data_keys.cipher(locked_project)
        except KeyUnavailable as exc:
            raise unavailable.key_locked(exc) from None
    pressure = svc.engine.backpressure()
    if pressure is not None:
        raise ApiError(
            503, "overloaded", f"{pressure.reason}; retry later", {"Retry-After": str(pressure.retry_after_s)}
        )
