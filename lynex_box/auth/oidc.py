"""OpenID Connect client: authorization code flow with PKCE (S256), state and nonce, ID token validation.

authlib builds the authorization request and exchanges the code (with the PKCE verifier and the client's
credentials); joserfc verifies the ID token's signature against the provider's JWKS and its claims (issuer,
audience, expiry, nonce). No JWT is parsed by hand. Pending logins (state -> nonce, verifier, where to go
next) live in memory for `login_timeout_s`, bounded in number; a state works once. Nothing here logs a
code, token or secret.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lynex_box.auth import rbac
from lynex_box.config import ConfigError, OidcSettings

MAX_PENDING: Final = 10_000
METADATA_TTL_S: Final = 3600.0
ALGORITHMS: Final = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class OidcError(Exception):
    """A login that cannot complete; `status` is the HTTP answer, the message names no secret."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_group_roles(text: str) -> dict[str, str]:
    """`"group=role,group=role"` as a dict; ConfigError naming the bad entry."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        group, sep, role = item.rpartition("=")
        if not sep or not group.strip() or role.strip() not in rbac.ROLES:
            raise ConfigError(f"oidc.group_roles entry {item!r} must look like group=role with a role of {rbac.ROLES}")
        mapping[group.strip()] = role.strip()
    return mapping


def role_for_groups(groups: object, mapping: dict[str, str], default: str) -> str | None:
    """The highest role any of the user's groups maps to, else `default` (None when empty)."""
    names = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    roles = [mapping[g] for g in names if isinstance(g, str) and g in mapping]
    if roles:
        return max(roles, key=lambda r: rbac.RANK[r])
    return default or None


@dataclass(frozen=True, slots=True)
class Pending:
    nonce: str
    verifier: str
    next_path: str
    redirect_uri: str
    created: float


class OidcClient:
    def __init__(self, settings: OidcSettings, clock: Callable[[], float] = time.monotonic) -> None:
        if not settings.issuer or not settings.client_id:
            raise ConfigError("oidc.enabled needs oidc.issuer and oidc.client_id; hint: set both in lynex.toml")
        self.settings = settings
        self.group_roles = parse_group_roles(settings.group_roles)
        self.clock = clock
        self._pending: dict[str, Pending] = {}
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.settings.http_timeout_s)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or self.clock() - self._metadata_at > METADATA_TTL_S:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._get_json(url)
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(key), str):
                    raise OidcError(502, f"the provider's discovery document has no {key}")
            if doc.get("issuer") != self.settings.issuer:
                raise OidcError(502, "the provider's discovery document names another issuer than oidc.issuer")
            self._metadata, self._metadata_at, self._jwks = doc, self.clock(), None
        return self._metadata

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with self._http() as http:
                r = await http.get(url, headers=headers)
            r.raise_for_status()
            doc = r.json()
        except (httpx.HTTPError, ValueError):
            raise OidcError(502, "the identity provider could not be reached or answered badly") from None
        if not isinstance(doc, dict):
            raise OidcError(502, "the identity provider answered badly")
        return doc

    async def _keys(self, refresh: bool) -> KeySet:
        if self._jwks is None or refresh:
            meta = await self.metadata()
            try:
                self._jwks = KeySet.import_key_set(await self._get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError):
                raise OidcError(502, "the provider's JWKS cannot be read") from None
        return self._jwks

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        auth_method = "client_secret_basic" if self.settings.client_secret else "none"
        return AsyncOAuth2Client(
            self.settings.client_id,
            self.settings.client_secret or None,
            scope=self.settings.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=auth_method,
            timeout=self.settings.http_timeout_s,
        )

    def _prune(self) -> None:
        horizon = self.clock() - self.settings.login_timeout_s
        self._pending = {s: p for s, p in self._pending.items() if p.created > horizon}
        while len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """(the provider's authorization URL, the state) for a new login."""
        meta = await self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        client = self._client(redirect_uri)
        try:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
        finally:
            await client.aclose()
        self._prune()
        self._pending[state] = Pending(nonce, verifier, next_path, redirect_uri, self.clock())
        return url, state

    def take(self, state: str) -> Pending:
        pending = self._pending.pop(state, None)
        if pending is None or self.clock() - pending.created > self.settings.login_timeout_s:
            raise OidcError(400, "this login is unknown or expired; start again")
        return pending

    async def finish(self, pending: Pending, code: str) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier) and return the ID token's validated claims."""
        meta = await self.metadata()
        client = self._client(pending.redirect_uri)
        try:
            token = await client.fetch_token(meta["token_endpoint"], code=code, code_verifier=pending.verifier)
        except Exception:  # authlib raises several types for a refused or garbled exchange
            raise OidcError(401, "the identity provider refused the login code") from None
        finally:
            await client.aclose()
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError(502, "the identity provider sent no ID token")
        claims = await self._verify(id_token, pending.nonce)
        if self.settings.groups_claim not in claims and isinstance(meta.get("userinfo_endpoint"), str):
            info = await self._get_json(meta["userinfo_endpoint"], {"Authorization": f"Bearer {token['access_token']}"})
            if info.get("sub") == claims["sub"]:
                claims = {**info, **claims}
        return claims

    async def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        for refresh in (False, True):  # a key we do not know may be a rotation: fetch the JWKS again once
            try:
                decoded = jwt.decode(id_token, await self._keys(refresh), algorithms=ALGORITHMS)
            except JoseError:
                if not refresh:
                    continue
                raise OidcError(401, "the ID token's signature does not verify") from None
            except ValueError:
                raise OidcError(401, "the ID token is malformed") from None
            try:
                registry.validate(decoded.claims)
            except JoseError as exc:
                raise OidcError(401, f"the ID token is not valid for this login ({exc.error})") from None
            return dict(decoded.claims)
        raise OidcError(401, "the ID token's signature does not verify")
