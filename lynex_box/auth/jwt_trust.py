"""Which JWT issuer a project trusts for server-to-server ingest: the record, its validation and its storage.

A project trusts at most one issuer: by a JWKS URL (keys fetched and rotated by the issuer) or by one public key
(PEM). A token of that issuer is accepted as an ingest key of the project when it is signed by such a key with
RS256, ES256 or EdDSA (Ed25519), carries the `issuer` as `iss`, the `audience` in `aud`, an `exp` still ahead, and
the project's id in the claim named `project_claim` (lynex_box/auth/jwt_verifier.py checks tokens).

A public key is checked when it is set: a private key is refused (nothing secret is stored), so are RSA keys under
2048 bits and curves other than P-256 and Ed25519. Writes are audited (`jwt_trust.set`, `jwt_trust.deleted`) in
their own transaction. Pure validation and meta.db statements; no network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import apsw
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB

MAX_TEXT: Final = 512
MAX_PEM: Final = 16 * 1024
MIN_RSA_BITS: Final = 2048
DEFAULT_CLAIM: Final = "project_id"
_COLUMNS: Final = "project_id, jwks_url, public_key_pem, issuer, audience, project_claim, updated_at"


class InvalidTrust(ValueError):
    """A trust setting that cannot be stored; the message names the field and what it must be."""


@dataclass(frozen=True, slots=True)
class Trust:
    """A project's trusted issuer: exactly one of `jwks_url` and `public_key_pem` is set."""

    project_id: str
    jwks_url: str | None
    public_key_pem: str | None
    issuer: str
    audience: str
    project_claim: str
    updated_at: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "jwks_url": self.jwks_url,
            "public_key_pem": self.public_key_pem,
            "issuer": self.issuer,
            "audience": self.audience,
            "project_claim": self.project_claim,
            "updated_at": self.updated_at,
        }


def _text(doc: dict[str, Any], name: str, default: str | None = None) -> str:
    value = doc.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise InvalidTrust(f"{name} must be a non-empty string of at most {MAX_TEXT} characters")
    return value.strip()


def key_algorithm(pem: str) -> str:
    """The JWS algorithm family of a public key in PEM ("RS256", "ES256" or "EdDSA"); InvalidTrust for anything
    else, a private key included."""
    if len(pem) > MAX_PEM:
        raise InvalidTrust(f"public_key_pem is longer than {MAX_PEM} characters")
    if "PRIVATE KEY" in pem:
        raise InvalidTrust("public_key_pem holds a private key; hint: give the public key only (openssl pkey -pubout)")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnicodeError):
        raise InvalidTrust("public_key_pem is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidTrust(f"public_key_pem: an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are needed")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise InvalidTrust("public_key_pem: only RSA (RS256), P-256 (ES256) and Ed25519 (EdDSA) keys are accepted")


def parse_trust(project_id: str, doc: dict[str, Any]) -> Trust:
    """The trust a `PUT .../jwt-trust` body describes; InvalidTrust naming the field that is wrong."""
    url, pem = doc.get("jwks_url"), doc.get("public_key_pem")
    if (url is None) == (pem is None):
        raise InvalidTrust("give exactly one of jwks_url (the issuer's JWKS) and public_key_pem (one public key)")
    if url is not None:
        url = _text(doc, "jwks_url")
        if not url.lower().startswith(("https://", "http://")):
            raise InvalidTrust("jwks_url must be an http:// or https:// URL")
    if pem is not None:
        if not isinstance(pem, str):
            raise InvalidTrust("public_key_pem must be a string (a PEM public key)")
        pem = pem.strip() + "\n"
        key_algorithm(pem)
    claim = _text(doc, "project_claim", DEFAULT_CLAIM)
    if claim in ("iss", "aud", "exp", "nbf", "iat", "sub", "jti"):
        raise InvalidTrust(f"project_claim {claim!r} is a registered claim; name the claim that carries the project id")
    return Trust(project_id, url, pem, _text(doc, "issuer"), _text(doc, "audience"), claim)


def _row(row: tuple[Any, ...]) -> Trust:
    return Trust(*row)


def load_all(db: MetaDB) -> list[Trust]:
    return [_row(r) for r in db.read(f"SELECT {_COLUMNS} FROM jwt_trust ORDER BY project_id")]


def get(db: MetaDB, project_id: str) -> Trust | None:
    rows = db.read(f"SELECT {_COLUMNS} FROM jwt_trust WHERE project_id = ?", (project_id,))
    return _row(rows[0]) if rows else None


def put(db: MetaDB, trust: Trust, actor: Actor) -> Trust:
    """Store `trust` in place of the project's (audited); the stored record."""
    stored = Trust(**{**trust.as_dict(), "updated_at": time.time_ns() // 1000})

    def tx(conn: apsw.Connection) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO jwt_trust ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            tuple(stored.as_dict().values()),
        )
        details = {
            "jwks_url": stored.jwks_url,
            "public_key": stored.public_key_pem is not None,
            "issuer": stored.issuer,
            "audience": stored.audience,
            "project_claim": stored.project_claim,
        }
        audit.record(
            conn, actor, "jwt_trust.set", project_id=stored.project_id, target_type="jwt_trust",
            target_id=stored.project_id, details=details,
        )  # fmt: skip

    db.write(tx)
    return stored


def delete(db: MetaDB, project_id: str, actor: Actor) -> bool:
    """Forget the project's trust (audited); False when it had none."""

    def tx(conn: apsw.Connection) -> bool:
        conn.execute("DELETE FROM jwt_trust WHERE project_id = ?", (project_id,))
        if not conn.changes():
            return False
        audit.record(
            conn, actor, "jwt_trust.deleted", project_id=project_id, target_type="jwt_trust", target_id=project_id
        )
        return True

    return db.write(tx)
