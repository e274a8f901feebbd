"""The trust record of lynex_box/auth/jwt_trust.py: what `PUT .../jwt-trust` may store, and its storage (audited)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lynex_box.auth import jwt_trust
from lynex_box.auth.jwt_trust import InvalidTrust, parse_trust
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from tests.e2e.jwt_issuer import SigningKey

ACTOR = Actor("user", "u1", "admin@example.test")


def public_pem(private: object) -> str:
    pem: bytes = private.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@pytest.mark.parametrize(("kind", "family"), [("rsa", "RS256"), ("ec", "ES256"), ("ed25519", "EdDSA")])
def test_each_accepted_key_type_is_named_by_its_algorithm(kind: str, family: str) -> None:
    pem = SigningKey.generate(kind, "k").public_pem()
    assert jwt_trust.key_algorithm(pem) == family
    trust = parse_trust("p1", {"public_key_pem": pem, "issuer": "https://idp", "audience": "lynex"})
    assert (trust.project_claim, trust.jwks_url, trust.issuer) == ("project_id", None, "https://idp")


def test_keys_that_could_leak_or_are_weak_are_refused() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(InvalidTrust, match="private key"):
        jwt_trust.key_algorithm(private_pem)
    with pytest.raises(InvalidTrust, match="1024 bits"):
        jwt_trust.key_algorithm(public_pem(rsa.generate_private_key(65537, 1024)))
    with pytest.raises(InvalidTrust, match="only RSA"):
        jwt_trust.key_algorithm(public_pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(InvalidTrust, match="not a PEM public key"):
        jwt_trust.key_algorithm("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"issuer": "i", "audience": "a"}, "exactly one of jwks_url"),
        ({"jwks_url": "https://x/j", "public_key_pem": "x", "issuer": "i", "audience": "a"}, "exactly one"),
        ({"jwks_url": "file:///etc/passwd", "issuer": "i", "audience": "a"}, "http:// or https://"),
        ({"jwks_url": "https://x/j", "audience": "a"}, "issuer must be"),
        ({"jwks_url": "https://x/j", "issuer": "i", "audience": ""}, "audience must be"),
        ({"jwks_url": "https://x/j", "issuer": "i", "audience": "a", "project_claim": "aud"}, "registered claim"),
        ({"public_key_pem": 5, "issuer": "i", "audience": "a"}, "must be a string"),
    ],
)
def test_a_trust_without_what_it_needs_is_refused_naming_the_field(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidTrust, match=message):
        parse_trust("p1", doc)


def test_a_trust_is_stored_replaced_and_deleted_with_audit_entries(db: MetaDB, org: dict[str, str]) -> None:
    project = org["project"]
    first = parse_trust(project, {"jwks_url": "https://idp.example/jwks", "issuer": "i", "audience": "a"})
    jwt_trust.put(db, first, ACTOR)
    second = parse_trust(project, {"public_key_pem": SigningKey.generate("ec", "k").public_pem(), "issuer": "j",
                                   "audience": "b", "project_claim": "tenant"})  # fmt: skip
    stored = jwt_trust.put(db, second, ACTOR)
    assert jwt_trust.get(db, project) == stored and stored.updated_at > 0
    assert [t.project_id for t in jwt_trust.load_all(db)] == [project]
    assert jwt_trust.delete(db, project, ACTOR) and not jwt_trust.delete(db, project, ACTOR)
    assert jwt_trust.get(db, project) is None
    entries, _ = audit.list_entries(db, project_id=project, limit=10)
    assert [e["action"] for e in entries][:3] == ["jwt_trust.deleted", "jwt_trust.set", "jwt_trust.set"]
    assert entries[1]["details"] == {"jwks_url": None, "public_key": True, "issuer": "j", "audience": "b",
                                     "project_claim": "tenant"}  # fmt: skip
