"""Server-to-server JWTs as ingest keys: which project a token speaks for, checked against the issuer that project
trusts (lynex_box/auth/jwt_trust.py).

A token is read twice: first unverified, only to find the trust it claims (its `iss`, and the project id in the
claim that project named), then verified with that trust's keys: the header's `alg` must be RS256, ES256 or EdDSA
(also spelled Ed25519) and match the key's type, the signature must hold, `iss` and `aud` must be the trust's, `exp`
must be ahead and `nbf` behind (`[auth] jwt_leeway_s` of skew). A token that passes is a principal of scope
`ingest` on that project; every ingest rate limit of the project applies, with all of its tokens sharing one key
bucket (`jwt:<project>`). Refusals (`JwtRefused`, 401) say why once the signature holds (expired, wrong audience);
before, they all say the same (`NOT_TRUSTED`), so that no caller learns which project trusts which issuer.

A JWKS is fetched through the `fetch` given at construction (app.py passes one bound to the alerts' outbound
address policy, so a JWKS URL cannot reach internal services) and cached per URL for `[auth] jwt_jwks_ttl_s`.
A key id the cached set lacks makes it fetched again, at most once every `jwt_jwks_min_refetch_s`: a rotated key
is picked up by its first token, while tokens with made-up key ids cannot make the appliance hammer the issuer.
A fetch that fails keeps the set already cached; without one the token's answer is `JwksUnavailable` (503, retried
by senders). A token that passed is remembered for a while (`JwtVerifier`), so its signature is checked once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from lynex_box.auth import jwt_trust
from lynex_box.auth.jwt_trust import MIN_RSA_BITS, Trust
from lynex_box.auth.keys import Principal
from lynex_box.config import AuthSettings
from lynex_box.meta.db import MetaDB

log = logging.getLogger("lynex.jwt")

Fetch = Callable[[str], Awaitable[bytes]]  # a JWKS document's bytes; raises (anything) when it cannot be had
Key = RSAKey | ECKey | OKPKey
MAX_TOKEN_BYTES: Final = 16 * 1024
REMEMBERED: Final = 4096  # tokens that passed, kept to spare their signature check on the next request
# Every refusal before the signature holds says the same: which projects trust which issuer (and with which keys)
# is not told to a caller who cannot sign for them. The server log has the particulars.
NOT_TRUSTED: Final = "the token is not signed by a key of an issuer trusted for the project it names"
# the JWS algorithms accepted -> the key type (and curve) they need
ALGORITHMS: Final = {"RS256": ("RSA", None), "ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519"),
                     "Ed25519": ("OKP", "Ed25519")}  # fmt: skip
_KEY_TYPES: Final[dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}


class JwtRefused(Exception):
    """The token is not accepted (401); the message says why."""


class JwksUnavailable(Exception):
    """The issuer's JWKS cannot be had now and none is cached (503: the sender retries after `retry_after_s`)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url parts (API keys have none of these dots)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts) and all(p.replace("-", "").replace("_", "").isalnum() for p in parts)


def _part(text: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise JwtRefused("the token is not a JWT (a part is not base64url JSON)") from None
    if not isinstance(value, dict):
        raise JwtRefused("the token is not a JWT (a part is not a JSON object)")
    return value


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a token, not yet verified: only to find which trust to verify it with."""
    if len(token) > MAX_TOKEN_BYTES:
        raise JwtRefused(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    header, claims, _ = token.split(".")
    return _part(header), _part(claims)


def import_jwks(document: bytes) -> KeySet:
    """The signing keys of a JWKS document that this module can use (RSA of 2048 bits or more, P-256, Ed25519;
    public parts only); ValueError when it is no JWKS or holds none."""
    doc = json.loads(document)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError('not a JWKS (a JSON object with a "keys" list)')
    keys: list[Key] = []
    for entry in doc["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") not in _KEY_TYPES:
            continue
        public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SecurityWarning)  # small RSA keys: dropped below, not warned about
                key = _KEY_TYPES[entry["kty"]].import_key(public)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
            continue
        keys.append(key)
    if not keys:
        raise ValueError("the JWKS holds no RSA (2048+ bits), P-256 or Ed25519 signing key")
    return KeySet(keys)  # type: ignore[arg-type]


def _pem_keys(trust: Trust) -> KeySet:
    assert trust.public_key_pem is not None
    family = jwt_trust.key_algorithm(trust.public_key_pem)
    kind = _KEY_TYPES[{"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}[family]]
    return KeySet([kind.import_key(trust.public_key_pem)])


def _candidates(keys: KeySet, kid: str | None, alg: str) -> list[Key]:
    kty, crv = ALGORITHMS[alg]
    found = [
        k
        for k in keys.keys
        if isinstance(k, RSAKey | ECKey | OKPKey) and k.key_type == kty and (crv is None or k.get("crv") == crv)
    ]
    return [k for k in found if k.kid == kid] if kid is not None else found


@dataclass(slots=True)
class _Cached:
    keys: KeySet | None
    attempted_at: float  # the last fetch, whether it worked
    fetched_at: float = 0.0  # the last fetch that worked


class JwksCache:
    """JWKS documents by URL: fetched when missing, older than the TTL, or lacking a key id (rate-limited)."""

    def __init__(self, fetch: Fetch, settings: AuthSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch = fetch
        self.ttl_s = settings.jwt_jwks_ttl_s
        self.min_refetch_s = settings.jwt_jwks_min_refetch_s
        self.clock = clock
        self._entries: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self, url: str) -> KeySet:
        """Fetch `url` now and keep it; ValueError naming what is wrong (the URL's answer, or the fetch's error)."""
        try:
            keys = import_jwks(await self.fetch(url))
        except Exception as exc:  # the fetch raises its own types; every one means "no usable JWKS"
            raise ValueError(f"cannot read a JWKS at {url}: {exc}") from None
        now = self.clock()
        self._entries[url] = _Cached(keys, now, now)
        return keys

    async def key_set(self, url: str, kid: str | None) -> KeySet:
        """The set to verify a token of key id `kid` with (it may still lack `kid`: the caller refuses then)."""
        entry = self._entries.get(url)
        if entry is not None and not self._wanted(entry, kid) and entry.keys is not None:
            return entry.keys
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:  # one fetch per URL at a time: the others wait for its result
            entry = self._entries.get(url)
            if entry is None or self._wanted(entry, kid):
                entry = await self._refetch(url, entry)
        if entry.keys is None:
            wait = max(1, int(self.min_refetch_s - (self.clock() - entry.attempted_at)) + 1)
            raise JwksUnavailable("the trusted issuer's keys cannot be fetched now (the server log says why)", wait)
        return entry.keys

    def _wanted(self, entry: _Cached, kid: str | None) -> bool:
        """Whether to fetch again: stale, or lacking `kid`, and the last attempt is old enough."""
        now = self.clock()
        if now - entry.attempted_at < self.min_refetch_s:
            return False
        if entry.keys is None or now - entry.fetched_at >= self.ttl_s:
            return True
        return kid is not None and all(k.kid != kid for k in entry.keys.keys)

    async def _refetch(self, url: str, entry: _Cached | None) -> _Cached:
        now = self.clock()
        try:
            keys = import_jwks(await self.fetch(url))
        except Exception as exc:  # the fetch raises its own types; every one means "not now"
            log.warning("jwks fetch failed url=%s error=%s", url, exc)
            kept = _Cached(entry.keys if entry else None, now, entry.fetched_at if entry else 0.0)
            self._entries[url] = kept
            return kept
        log.info("jwks fetched url=%s keys=%d", url, len(keys.keys))
        fresh = _Cached(keys, now, now)
        self._entries[url] = fresh
        return fresh


class JwtVerifier:
    """The trusts of every project (from meta.db, `refresh`), and the check of one token (`principal`).

    A token that passed is remembered (`REMEMBERED` of them, the oldest forgotten first) until its `exp` or for
    `jwt_jwks_ttl_s`, whichever comes first, and forgotten when the trusts change: senders reuse a token for many
    requests, and its signature (0.15-0.5 ms of CPU measured on a loaded 2-core box, on the event loop) is then
    checked once. `clock` is monotonic time (the JWKS cache), `wall` the time `exp` and `nbf` are compared with.
    """

    def __init__(
        self,
        db: MetaDB,
        settings: AuthSettings,
        fetch: Fetch,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.leeway_s = settings.jwt_leeway_s
        self.remember_s = settings.jwt_jwks_ttl_s
        self.wall = wall
        self.jwks = JwksCache(fetch, settings, clock)
        self._by_issuer: dict[str, list[Trust]] = {}
        self._pem: dict[str, KeySet] = {}
        self._accepted: OrderedDict[str, tuple[Principal, float]] = OrderedDict()  # token -> (principal, until)

    def refresh(self) -> None:
        """Read every project's trust (blocking: at start and after a change)."""
        by_issuer: dict[str, list[Trust]] = {}
        pem: dict[str, KeySet] = {}
        for trust in jwt_trust.load_all(self.db):
            by_issuer.setdefault(trust.issuer, []).append(trust)
            if trust.public_key_pem is not None:
                pem[trust.project_id] = _pem_keys(trust)
        self._by_issuer, self._pem = by_issuer, pem
        self._accepted = OrderedDict()  # a removed or changed trust must not keep its tokens working

    async def principal(self, token: str) -> Principal:
        """The ingest principal `token` is; JwtRefused (401) or JwksUnavailable (503) otherwise."""
        remembered = self._accepted.get(token)
        if remembered is not None and self.wall() < remembered[1]:
            return remembered[0]
        header, claims = unverified(token)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise JwtRefused(f"alg {alg!r} is not accepted; use RS256, ES256 or EdDSA")
        trusts = self._by_issuer.get(str(claims.get("iss")), ())
        named = [t for t in trusts if claims.get(t.project_claim) == t.project_id]
        if len(named) != 1:
            log.info("jwt refused: no trust matches iss=%r (%d trusts of that issuer)", claims.get("iss"), len(trusts))
            raise JwtRefused(NOT_TRUSTED)
        trust = named[0]
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        if trust.jwks_url is None:
            keys = self._pem[trust.project_id]
            kid = None  # one key: whatever id the token gives it
        else:
            keys = await self.jwks.key_set(trust.jwks_url, kid)
        candidates = _candidates(keys, kid, alg)
        if not candidates:
            log.info("jwt refused: no key matches project=%s kid=%r alg=%s", trust.project_id, kid, alg)
            raise JwtRefused(NOT_TRUSTED)
        exp = self._verify(token, candidates, alg, trust)
        principal = Principal(project_id=trust.project_id, scope="ingest", key_id=f"jwt:{trust.project_id}")
        self._remember(token, principal, min(exp + self.leeway_s, self.wall() + self.remember_s))
        return principal

    def _remember(self, token: str, principal: Principal, until: float) -> None:
        self._accepted.pop(token, None)
        self._accepted[token] = (principal, until)
        while len(self._accepted) > REMEMBERED:
            self._accepted.popitem(last=False)

    def _verify(self, token: str, candidates: list[Key], alg: str, trust: Trust) -> float:
        """The token's `exp` once its signature and claims hold; JwtRefused otherwise."""
        verified = None
        with warnings.catch_warnings():
            # RFC 9864 deprecates the name EdDSA for Ed25519; issuers still send it, and we accept it
            warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
            for key in candidates:
                try:
                    verified = jwt.decode(token, key, algorithms=[alg])
                    break
                except JoseError:
                    continue
        if verified is None:
            log.info("jwt refused: signature does not verify project=%s", trust.project_id)
            raise JwtRefused(NOT_TRUSTED)
        registry = JWTClaimsRegistry(
            now=lambda: int(self.wall()),
            leeway=self.leeway_s,
            iss={"essential": True, "value": trust.issuer},
            aud={"essential": True, "value": trust.audience},
            exp={"essential": True},
        )
        try:
            registry.validate(verified.claims)
        except ExpiredTokenError:
            raise JwtRefused("the token has expired") from None
        except MissingClaimError as exc:
            raise JwtRefused(f"the token lacks a required claim ({exc.description})") from None
        except InvalidClaimError as exc:
            if exc.claim in ("iss", "aud"):
                raise JwtRefused(f"the token's {exc.claim} is not the one this project trusts") from None
            raise JwtRefused(f"the token's {exc.claim} claim is refused ({exc.description})") from None
        except JoseError as exc:
            raise JwtRefused(f"the token's claims are refused ({exc.description})") from None
        return float(verified.claims["exp"])
