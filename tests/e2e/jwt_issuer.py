"""A JWT issuer for tests: signing keys made with `cryptography`, tokens signed with joserfc, and its JWKS served by a
real HTTP server on 127.0.0.1 in a thread (which counts the fetches, and whose key set a test can rotate)."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

ALG_OF = {"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"}


@dataclass
class SigningKey:
    """A private key of one kind ("rsa", "ec", "ed25519") with a key id."""

    kind: str
    kid: str
    private: Any = field(repr=False)

    @classmethod
    def generate(cls, kind: str, kid: str) -> SigningKey:
        private: Any
        if kind == "rsa":
            private = rsa.generate_private_key(65537, 2048)
        elif kind == "ec":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        return cls(kind, kid, private)

    def _jwk(self, private: bool) -> RSAKey | ECKey | OKPKey:
        kind = {"rsa": RSAKey, "ec": ECKey, "ed25519": OKPKey}[self.kind]
        key = self.private if private else self.private.public_key()
        fmt = serialization.PrivateFormat.PKCS8 if private else serialization.PublicFormat.SubjectPublicKeyInfo
        if private:
            pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        else:
            pem = key.public_bytes(serialization.Encoding.PEM, fmt)
        return kind.import_key(pem, parameters={"kid": self.kid})  # type: ignore[attr-defined,no-any-return]

    def public_pem(self) -> str:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def public_jwk(self) -> dict[str, Any]:
        return {**self._jwk(private=False).as_dict(private=False), "kid": self.kid, "use": "sig"}

    def sign(self, claims: dict[str, Any], alg: str | None = None, kid: str | None = "") -> str:
        """A token of `claims` signed with this key (`kid` "" = this key's id, None = no kid header)."""
        header: dict[str, Any] = {"alg": alg or ALG_OF[self.kind]}
        if kid is not None:
            header["kid"] = kid or self.kid
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
            return jwt.encode(header, claims, self._jwk(private=True), algorithms=[header["alg"]])


def claims(issuer: str, audience: str, project_id: str, *, ttl_s: int = 300, **more: Any) -> dict[str, Any]:
    """Claims of a new token (a `jti` of its own: two tokens are never the same string, so none is taken from the
    verifier's memory of tokens it accepted)."""
    now = int(time.time())
    return {"iss": issuer, "aud": audience, "project_id": project_id, "iat": now, "exp": now + ttl_s,
            "jti": os.urandom(8).hex(), **more}  # fmt: skip


class JwksServer:
    """Serves `{"keys": [...]}` of the keys it is given at `/jwks.json` and counts the GETs."""

    def __init__(self, keys: Iterable[SigningKey] = ()) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.fetches += 1
                    body = orjson.dumps({"keys": [k.public_jwk() for k in owner.keys]})
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def serve(self, *keys: SigningKey) -> None:
        """From now on serve exactly these keys (a rotation)."""
        with self._lock:
            self.keys = list(keys)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
