"""API keys: generated, shown once, stored as a SHA-256 hash behind a visible prefix.

A key looks like `lx_<prefix>_<secret>`; the prefix (8 chars) finds the row, the hash of the whole key
proves it. SHA-256 (not argon2) is right here: keys carry 190 bits of randomness, so there is nothing
to brute-force, and ingest checks a key on every request. `KeyRing` answers from memory, refreshed from
meta.db every few seconds (its `jobs()`), so a revoked key stops working within `refresh_s` and ingest never
waits on SQLite. Nothing here may log or return a key's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final

from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB

SCOPES: Final = ("ingest", "read", "admin")
REFRESH_S: Final = 2.0  # how often the key ring is read again: a revoked key stops working within this
LAST_USED_WRITE_S: Final = 30.0  # how often keys' last-use times are written to meta.db (and once on stop)
_ALPHABET: Final = "abcdefghijkmnopqrstuvwxyz23456789"  # no l/1/0 look-alikes


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: always exactly one project, with a scope (what it allows: `rbac.KEY_SCOPE_ACTIONS`)."""

    project_id: str
    scope: str
    key_id: str


def generate_key() -> tuple[str, str]:
    """A new key and its prefix."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(38))
    return f"lx_{prefix}_{secret}", prefix


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str | None:
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != "lx" or len(parts[1]) != 8:
        return None
    return parts[1]


@dataclass(frozen=True, slots=True)
class _KeyRow:
    id: str
    project_id: str
    key_hash: str
    scope: str
    expires_at: int | None


class KeyRing:
    """In-memory view of the active API keys; `check` never touches SQLite on a hit."""

    def __init__(self, db: MetaDB, refresh_s: float = REFRESH_S) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self._keys: dict[str, _KeyRow] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}

    def refresh(self) -> None:
        rows = self.db.read(
            "SELECT prefix, id, project_id, key_hash, scope, expires_at FROM api_keys WHERE revoked_at IS NULL"
        )
        keys = {r[0]: _KeyRow(r[1], r[2], r[3], r[4], r[5]) for r in rows}
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.refresh_s

    def check(self, key: str) -> Principal | None:
        """The principal of a valid, unexpired, unrevoked key; None otherwise."""
        prefix = key_prefix(key)
        if prefix is None:
            return None
        with self._lock:
            row = self._keys.get(prefix)
        if row is None or not hmac.compare_digest(row.key_hash, hash_key(key)):
            return None
        now_us = time.time_ns() // 1000
        if row.expires_at is not None and row.expires_at <= now_us:
            return None
        self._used[row.id] = now_us
        return Principal(project_id=row.project_id, scope=row.scope, key_id=row.id)

    def take_last_used(self) -> dict[str, int]:
        """Last-use times seen since the previous call (written to meta.db in the background)."""
        used, self._used = self._used, {}
        return used

    def write_last_used(self) -> None:
        """Write the last-use times seen since the previous write (blocking; a job, and the ring's stop)."""
        used = self.take_last_used()
        if used:
            self.db.write(
                lambda c: c.executemany(
                    "UPDATE api_keys SET last_used_at = ? WHERE id = ?", [(t, k) for k, t in used.items()]
                )
            )

    def jobs(self) -> list[Job]:
        return [
            Job.blocking("refresh_keys", self.refresh, self.refresh_s),
            Job.blocking("key_last_used", self.write_last_used, LAST_USED_WRITE_S),
        ]
