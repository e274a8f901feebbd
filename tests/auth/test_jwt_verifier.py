"""Which tokens lynex_box/auth/jwt_verifier.py accepts as ingest keys, and when it fetches a JWKS.

Trusts are stored in a real meta.db; tokens are signed by real keys (tests/e2e/jwt_issuer.py). The JWKS `fetch` is
an in-memory issuer with a counter and the clock is a variable, so that TTLs and the refetch limit are checked
without waiting; tests/e2e/test_jwt.py fetches over HTTP from a real server.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import pytest

from lynex_box.auth import jwt_trust
from lynex_box.auth.jwt_trust import parse_trust
from lynex_box.auth.jwt_verifier import NOT_TRUSTED, JwksUnavailable, JwtRefused, JwtVerifier, looks_like_jwt
from lynex_box.auth.keys import Principal
from lynex_box.config import AuthSettings
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from tests.e2e.jwt_issuer import SigningKey, claims

ACTOR = Actor("user", "u1", "admin@example.test")
URL = "https://idp.example/jwks.json"
SETTINGS = AuthSettings(jwt_jwks_ttl_s=300, jwt_jwks_min_refetch_s=30, jwt_leeway_s=30)


@dataclass
class Issuer:
    """What the JWKS URL answers (None: the fetch fails), how often it was asked, and the time."""

    keys: list[SigningKey] | None = None
    fetches: int = 0
    now: float = 1000.0
    served: list[str] = field(default_factory=list)

    async def fetch(self, url: str) -> bytes:
        self.fetches += 1
        if self.keys is None:
            raise OSError("connection refused")
        return orjson.dumps({"keys": [k.public_jwk() for k in self.keys]})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    yield Issuer()


def verifier(db: MetaDB, issuer: Issuer) -> JwtVerifier:
    v = JwtVerifier(db, SETTINGS, issuer.fetch, clock=lambda: issuer.now)
    v.refresh()
    return v


def trust(db: MetaDB, project: str, **doc: object) -> None:
    jwt_trust.put(db, parse_trust(project, {"issuer": "https://idp", "audience": "lynex", **doc}), ACTOR)


def check(v: JwtVerifier, token: str) -> Principal:
    return asyncio.run(v.principal(token))


def refused(v: JwtVerifier, token: str) -> str:
    with pytest.raises(JwtRefused) as caught:
        check(v, token)
    return str(caught.value)


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RS256"), ("ec", "ES256"), ("ed25519", "EdDSA"),
                                           ("ed25519", "Ed25519")])  # fmt: skip
def test_a_token_signed_by_the_trusted_public_key_is_an_ingest_principal_of_its_project(
    db: MetaDB, org: dict[str, str], issuer: Issuer, kind: str, alg: str
) -> None:
    key = SigningKey.generate(kind, "k1")
    trust(db, org["project"], public_key_pem=key.public_pem())
    token = key.sign(claims("https://idp", "lynex", org["project"]), alg=alg)
    assert looks_like_jwt(token) and not looks_like_jwt("lx_abcdefgh_" + "x" * 38)
    principal = check(verifier(db, issuer), token)
    assert principal == Principal(project_id=org["project"], scope="ingest", key_id=f"jwt:{org['project']}")
    assert issuer.fetches == 0


def test_expired_forged_and_misaddressed_tokens_are_refused_with_the_reason(
    db: MetaDB, org: dict[str, str], issuer: Issuer
) -> None:
    key, other = SigningKey.generate("ec", "k1"), SigningKey.generate("ec", "k1")
    project = org["project"]
    trust(db, project, public_key_pem=key.public_pem())
    v = verifier(db, issuer)
    assert "expired" in refused(v, key.sign(claims("https://idp", "lynex", project, ttl_s=-60)))
    check(v, key.sign(claims("https://idp", "lynex", project, ttl_s=-10)))  # within the 30 s leeway
    assert refused(v, other.sign(claims("https://idp", "lynex", project))) == NOT_TRUSTED
    assert "aud is not" in refused(v, key.sign(claims("https://idp", "someone-else", project)))
    assert refused(v, key.sign(claims("https://evil", "lynex", project))) == NOT_TRUSTED
    assert refused(v, key.sign(claims("https://idp", "lynex", org["other_project"]))) == NOT_TRUSTED
    no_exp = {k: v for k, v in claims("https://idp", "lynex", project).items() if k != "exp"}
    assert "exp" in refused(v, key.sign(no_exp))
    later = claims("https://idp", "lynex", project, nbf=int(time.time()) + 600)
    assert "nbf" in refused(v, key.sign(later))
    assert "alg 'ES384'" in refused(v, _with_alg(key.sign(claims("https://idp", "lynex", project)), "ES384"))
    assert refused(v, _with_alg(key.sign(claims("https://idp", "lynex", project)), "EdDSA")) == NOT_TRUSTED


def _with_alg(token: str, alg: str) -> str:
    """The token with its header's alg replaced (its signature no longer matters: it is refused before)."""
    header = base64.urlsafe_b64encode(orjson.dumps({"alg": alg})).rstrip(b"=").decode()
    return ".".join([header, *token.split(".")[1:]])


def test_a_token_naming_another_trusting_project_is_that_projects_principal(
    db: MetaDB, org: dict[str, str], issuer: Issuer
) -> None:
    """The route then refuses it with 403 (principal.check_key), as it refuses another project's API key."""
    key = SigningKey.generate("ec", "k1")
    trust(db, org["project"], public_key_pem=key.public_pem())
    trust(db, org["other_project"], public_key_pem=key.public_pem(), project_claim="tenant")
    token = key.sign(claims("https://idp", "lynex", "nobody", tenant=org["other_project"]))
    assert check(verifier(db, issuer), token).project_id == org["other_project"]


def test_a_jwks_is_fetched_once_and_again_after_its_ttl(db: MetaDB, org: dict[str, str], issuer: Issuer) -> None:
    key = SigningKey.generate("rsa", "k1")
    issuer.keys = [key]
    trust(db, org["project"], jwks_url=URL)
    v = verifier(db, issuer)
    for _ in range(3):  # three tokens (one token would be taken from the verifier's memory)
        check(v, key.sign(claims("https://idp", "lynex", org["project"])))
    assert issuer.fetches == 1
    issuer.now += 301
    check(v, key.sign(claims("https://idp", "lynex", org["project"])))
    assert issuer.fetches == 2


def test_a_new_key_id_is_fetched_at_once_and_unknown_ones_at_most_once_per_refetch_interval(
    db: MetaDB, org: dict[str, str], issuer: Issuer
) -> None:
    old, new, later = (SigningKey.generate("rsa", kid) for kid in ("k1", "k2", "k3"))
    issuer.keys = [old]
    trust(db, org["project"], jwks_url=URL)
    v = verifier(db, issuer)
    project = org["project"]
    check(v, old.sign(claims("https://idp", "lynex", project)))
    issuer.now += 31
    issuer.keys = [old, new]  # the issuer rotates
    check(v, new.sign(claims("https://idp", "lynex", project)))
    assert issuer.fetches == 2
    for _ in range(5):  # made-up key ids right after: no fetch
        assert refused(v, later.sign(claims("https://idp", "lynex", project))) == NOT_TRUSTED
    assert issuer.fetches == 2
    issuer.keys = [new, later]
    issuer.now += 31
    check(v, later.sign(claims("https://idp", "lynex", project)))
    assert issuer.fetches == 3


def test_an_issuer_that_cannot_be_reached_leaves_the_cached_keys_in_use(
    db: MetaDB, org: dict[str, str], issuer: Issuer
) -> None:
    key = SigningKey.generate("ec", "k1")
    issuer.keys = [key]
    trust(db, org["project"], jwks_url=URL)
    v = verifier(db, issuer)
    check(v, key.sign(claims("https://idp", "lynex", org["project"])))
    issuer.keys, issuer.now = None, issuer.now + 301  # stale, and the issuer is down
    check(v, key.sign(claims("https://idp", "lynex", org["project"])))
    check(v, key.sign(claims("https://idp", "lynex", org["project"])))
    assert issuer.fetches == 2  # one failed attempt, then none within the refetch interval


def test_without_any_cached_keys_a_down_issuer_is_unavailable_with_a_wait(
    db: MetaDB, org: dict[str, str], issuer: Issuer
) -> None:
    key = SigningKey.generate("ec", "k1")
    trust(db, org["project"], jwks_url=URL)
    v = verifier(db, issuer)
    token = key.sign(claims("https://idp", "lynex", org["project"]))
    with pytest.raises(JwksUnavailable) as caught:
        check(v, token)
    assert 1 <= caught.value.retry_after_s <= 31
    with pytest.raises(JwksUnavailable):
        check(v, token)
    assert issuer.fetches == 1
    issuer.keys, issuer.now = [key], issuer.now + 31
    assert check(v, token).project_id == org["project"]


def test_load_refuses_an_answer_that_is_no_usable_jwks(db: MetaDB, issuer: Issuer) -> None:
    v = verifier(db, issuer)
    issuer.keys = []
    with pytest.raises(ValueError, match="no RSA"):
        asyncio.run(v.jwks.load(URL))
    issuer.keys = None
    with pytest.raises(ValueError, match="connection refused"):
        asyncio.run(v.jwks.load(URL))


def test_a_remembered_token_still_expires_and_a_change_of_trust_forgets_it(
    db: MetaDB, org: dict[str, str], issuer: Issuer
) -> None:
    key = SigningKey.generate("ec", "k1")
    trust(db, org["project"], public_key_pem=key.public_pem())
    wall = [time.time()]
    v = JwtVerifier(db, SETTINGS, issuer.fetch, clock=lambda: issuer.now, wall=lambda: wall[0])
    v.refresh()
    token = key.sign({**claims("https://idp", "lynex", org["project"]), "exp": int(wall[0]) + 60})
    check(v, token)
    wall[0] += 89  # exp + 29 s: within the leeway, still taken (from memory)
    check(v, token)
    wall[0] += 2
    assert "expired" in refused(v, token)
    fresh = key.sign(claims("https://idp", "lynex", org["project"]))
    wall[0] = time.time()
    check(v, fresh)
    jwt_trust.delete(db, org["project"], ACTOR)
    v.refresh()  # what the trust API does after a change
    assert refused(v, fresh) == NOT_TRUSTED
