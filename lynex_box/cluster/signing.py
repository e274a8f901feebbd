"""Signed forwards: how a node proves to the metadata lease holder that a forwarded request comes from a node of the
cluster, and what the holder may then trust (docs/format/cluster.md, "Forwarded metadata writes").

The forwarding node signs, with HMAC-SHA256 under the cluster secret (`secret.py`), one line per field: a version
tag, the method, the path, the raw query string, the time (epoch milliseconds), a random nonce, the forwarding
node's id, the client's address, the original `Host` and scheme, and the SHA-256 of the body. The holder recomputes
the signature and compares in constant time, refuses a time more than `window_s` away from its own clock, and a
nonce it has already seen within that window (`NonceLog`): a captured forward cannot be replayed, nor its body,
path or client address changed. Pure code, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Final

SCHEME: Final = "lynex-forward-v1"
# the headers a forward carries (lowercase, as ASGI gives them)
FORWARDED_BY: Final = "x-lynex-forwarded-by"
FORWARDED_AT: Final = "x-lynex-forwarded-at"
NONCE: Final = "x-lynex-nonce"
SIGNATURE: Final = "x-lynex-signature"
CLIENT_IP: Final = "x-forwarded-for"
ORIGINAL_HOST: Final = "x-forwarded-host"
ORIGINAL_SCHEME: Final = "x-forwarded-proto"
HEADERS: Final = (FORWARDED_BY, FORWARDED_AT, NONCE, SIGNATURE, CLIENT_IP, ORIGINAL_HOST, ORIGINAL_SCHEME)


class BadSignature(Exception):
    """A forward the holder must refuse: the message says which check failed (never the secret)."""


@dataclass(frozen=True, slots=True)
class Forward:
    """What a forward's signature covers."""

    method: str
    path: str
    query: str
    at_ms: int
    nonce: str
    forwarded_by: str
    client_ip: str
    host: str
    scheme: str
    body_sha256: str

    @classmethod
    def of(
        cls, method: str, path: str, query: str, at_ms: int, *, forwarded_by: str, client_ip: str, host: str,
        scheme: str, body: bytes, nonce: str | None = None,
    ) -> Forward:  # fmt: skip
        digest = hashlib.sha256(body).hexdigest()
        return cls(
            method.upper(), path, query, at_ms, nonce or secrets.token_hex(16), forwarded_by, client_ip, host,
            scheme, digest,
        )  # fmt: skip

    def canonical(self) -> bytes:
        fields = (
            SCHEME, self.method, self.path, self.query, str(self.at_ms), self.nonce, self.forwarded_by,
            self.client_ip, self.host, self.scheme, self.body_sha256,
        )  # fmt: skip
        if any("\n" in value for value in fields):
            raise BadSignature("a signed field holds a line break")
        return "\n".join(fields).encode("utf-8", "surrogateescape")

    def headers(self, secret: bytes) -> dict[str, str]:
        """The headers that carry this forward and its signature."""
        return {
            FORWARDED_BY: self.forwarded_by,
            FORWARDED_AT: str(self.at_ms),
            NONCE: self.nonce,
            SIGNATURE: sign(secret, self),
            CLIENT_IP: self.client_ip,
            ORIGINAL_HOST: self.host,
            ORIGINAL_SCHEME: self.scheme,
        }


def sign(secret: bytes, forward: Forward) -> str:
    return hmac.new(secret, forward.canonical(), hashlib.sha256).hexdigest()


def verify(secret: bytes, forward: Forward, signature: str, *, now_ms: int, window_s: float) -> None:
    """Raise `BadSignature` unless `signature` is `forward`'s under `secret` and its time within `window_s`."""
    if not hmac.compare_digest(sign(secret, forward).encode(), signature.encode("utf-8", "replace")):
        raise BadSignature("the signature does not match (another cluster's secret, or the request was changed)")
    age_s = abs(now_ms - forward.at_ms) / 1000
    if age_s > window_s:
        raise BadSignature(f"the forward's time is {age_s:.0f} s away from this node's clock (at most {window_s:g} s)")


class NonceLog:
    """The nonces of the forwards accepted in the last `window_s` (twice, for clocks either side): a second use
    of one is a replay. At most `max_entries` are kept; when full, the oldest are dropped first. Thread-safe."""

    def __init__(self, window_s: float, max_entries: int = 200_000) -> None:
        self._keep_ms = int(window_s * 2000)
        self._max = max_entries
        self._seen: dict[str, int] = {}  # nonce -> when it may be forgotten (ms); insertion order = age order
        self._lock = threading.Lock()

    def first_use(self, nonce: str, now_ms: int) -> bool:
        """True the first time `nonce` is seen (and remembers it), False for a replay."""
        with self._lock:
            self._expire(now_ms)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now_ms + self._keep_ms
            return True

    def _expire(self, now_ms: int) -> None:
        while self._seen:
            oldest, until = next(iter(self._seen.items()))
            if until > now_ms and len(self._seen) < self._max:
                return
            del self._seen[oldest]
