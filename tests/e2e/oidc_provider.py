"""A small OpenID provider for tests: a real HTTP server on 127.0.0.1 issuing RS256-signed ID tokens.

It implements what the appliance's login uses: discovery, `/authorize` (the user is already "signed in":
`provider.user` holds their claims; it answers with a redirect carrying a one-time code), `/token` (client
authentication by HTTP Basic, PKCE S256 checked, the code used once), `/jwks` and `/userinfo`. Knobs let a
test make it misbehave: a wrong audience, a foreign signing key, a tampered nonce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "lynex-test"
CLIENT_SECRET = "test-client-secret-value"


class Provider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"}, private=True)
        self.foreign_key = RSAKey.generate_key(2048, parameters={"kid": "test-1"}, private=True)
        self.user: dict[str, Any] = {}
        self.audience = CLIENT_ID
        self.sign_with_foreign_key = False
        self.nonce_override: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Provider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce_override or nonce,
            **self.user,
        }
        key = self.foreign_key if self.sign_with_foreign_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    i = provider.issuer
                    self._json(
                        200,
                        {
                            "issuer": i,
                            "authorization_endpoint": f"{i}/authorize",
                            "token_endpoint": f"{i}/token",
                            "jwks_uri": f"{i}/jwks",
                            "userinfo_endpoint": f"{i}/userinfo",
                            "response_types_supported": ["code"],
                            "code_challenge_methods_supported": ["S256"],
                        },
                    )
                elif url.path == "/jwks":
                    self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    self._authorize(query)
                elif url.path == "/userinfo":
                    self._json(200, {"sub": provider.user.get("sub"), "groups": provider.user.get("groups", [])})
                else:
                    self._json(404, {"error": "not_found"})

            def _authorize(self, q: dict[str, str]) -> None:
                ok = (
                    q.get("client_id") == CLIENT_ID
                    and q.get("response_type") == "code"
                    and q.get("code_challenge_method") == "S256"
                    and q.get("code_challenge")
                    and q.get("nonce")
                )
                if not ok:
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {
                    "challenge": q["code_challenge"],
                    "nonce": q["nonce"],
                    "redirect_uri": q["redirect_uri"],
                }
                location = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
                self.send_response(302)
                self.send_header("Location", location)
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                provider.token_requests.append(form)
                auth = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.path != "/token" or auth != expected:
                    self._json(401, {"error": "invalid_client"})
                    return
                grant = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (
                    grant is None
                    or grant["challenge"] != challenge
                    or grant["redirect_uri"] != form.get("redirect_uri")
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                self._json(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(grant["nonce"]),
                    },
                )

        return Handler
