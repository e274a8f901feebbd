"""The JWT issuer a project trusts for server-to-server ingest: `GET`, `PUT` and `DELETE
/api/projects/{pid}/jwt-trust` (permissions `keys.read` and `keys.manage`: a trusted issuer mints ingest keys).

`PUT` checks what it is given before storing it: a public key must be one the verifier accepts, and a JWKS URL
must be allowed by the outbound address policy and answer a usable JWKS now (fetched through the verifier, whose
cache it seeds). Stored and audited in one transaction; the verifier reads the trusts again right after.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object
from lynex_box.api.params import path_id
from lynex_box.api.principal import project_access
from lynex_box.api.services import Services, services
from lynex_box.auth.jwt_trust import InvalidTrust, parse_trust
from lynex_box.auth.jwt_verifier import JwtVerifier

PATH: Final = "/api/projects/{project_id}/jwt-trust"


def _verifier(svc: Services) -> JwtVerifier:
    if svc.jwt is None:
        raise ApiError(503, "unavailable", "JWT trust is not available on this server now; retry later")
    return svc.jwt


async def get_trust(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    await project_access(request, svc, project_id, "keys.read")
    trust = await asyncio.to_thread(svc.projects.jwt_trust, project_id)
    return json_response({"trust": None if trust is None else trust.as_dict()})


async def put_trust(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "keys.manage")
    verifier = _verifier(svc)
    try:
        trust = parse_trust(project_id, await json_object(request))
    except InvalidTrust as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if trust.jwks_url is not None:
        try:
            await verifier.jwks.load(trust.jwks_url)
        except ValueError as exc:
            hint = "; hint: the URL must answer a JWKS now, from an address [alerts] allows (docs/api.md)"
            raise ApiError(400, "bad_jwks_url", f"jwks_url: {exc}{hint}") from None
    stored = await asyncio.to_thread(svc.projects.set_jwt_trust, trust, access.actor)
    await asyncio.to_thread(verifier.refresh)
    return json_response({"trust": stored.as_dict()})


async def delete_trust(request: Request) -> Response:
    svc = services(request)
    project_id = path_id(request, "project_id")
    access = await project_access(request, svc, project_id, "keys.manage")
    verifier = _verifier(svc)
    await asyncio.to_thread(svc.projects.delete_jwt_trust, project_id, access.actor)
    await asyncio.to_thread(verifier.refresh)
    return Response(status_code=204)


routes = [
    Route(PATH, get_trust, methods=["GET"]),
    Route(PATH, put_trust, methods=["PUT"]),
    Route(PATH, delete_trust, methods=["DELETE"]),
]

_TRUST: Final = spec.obj(
    ("project_id", "jwks_url", "public_key_pem", "issuer", "audience", "project_claim", "updated_at"),
    jwks_url={"type": ["string", "null"]},
    public_key_pem={"type": ["string", "null"]},
    issuer=spec.STR,
    audience=spec.STR,
    project_claim=spec.STR,
)
_ANSWER: Final = spec.obj(("trust",), trust={"anyOf": [_TRUST, {"type": "null"}]})
OPENAPI: Final[spec.Paths] = {
    PATH: {
        "get": spec.op(
            "The JWT issuer the project trusts for server-to-server ingest (trust null: none)",
            {200: "{trust: {jwks_url | public_key_pem, issuer, audience, project_claim, updated_at} | null}"},
            returns=_ANSWER,
        ),
        "put": spec.op(
            "Trust a JWT issuer for ingest (in place of the former one): its JWKS URL or one public key (RS256, "
            "ES256, EdDSA), the iss and aud its tokens carry, and the claim naming this project (default "
            "project_id). A token it signs is then accepted wherever an ingest key of the project is. Audited",
            {200: "{trust}"},
            body_text="{jwks_url | public_key_pem, issuer, audience, project_claim?}",
            body=spec.obj(
                ("issuer", "audience"),
                jwks_url=spec.STR,
                public_key_pem=spec.STR,
                issuer=spec.STR,
                audience=spec.STR,
                project_claim=spec.STR,
            ),
            returns=_ANSWER,
        ),
        "delete": spec.op("Trust no JWT issuer any more (audited)", {204: "done"}, errors=(401, 403, 404)),
    }
}
