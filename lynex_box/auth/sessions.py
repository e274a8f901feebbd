"""Login sessions: a random opaque token in an HttpOnly cookie, stored only as its SHA-256 hash.

Each session also has a CSRF token (given to the browser in a readable cookie and the login answer)
whose hash is kept beside it; a state-changing call authenticated by the cookie must echo it in
`X-CSRF-Token`. A session ends at its absolute expiry, after `session_idle_s` unused, at logout, or
when its user's password changes or the user is disabled. Tokens carry 256 bits of randomness, so a
plain hash (not argon2) is enough. Nothing here may log or return a stored token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Final

import apsw

from lynex_box.config import AuthSettings
from lynex_box.meta.db import MetaDB

SESSION_COOKIE: Final = "lynex_session"
CSRF_COOKIE: Final = "lynex_csrf"
CSRF_HEADER: Final = "x-csrf-token"
TOUCH_EVERY_US: Final = 60_000_000  # last_seen_at is written at most once a minute per session


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    user_id: str
    email: str
    name: str
    csrf_hash: str
    expires_at: int
    last_seen_at: int
    must_change_password: bool = False  # the user signed in with a printed password: only changing it is allowed

    def csrf_ok(self, header: str | None) -> bool:
        if not header or len(header) > 200:
            return False
        return hmac.compare_digest(token_hash(header), self.csrf_hash)


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    csrf_token: str
    max_age_s: int


class SessionStore:
    """Create, resolve and end sessions in meta.db; every method is blocking (call from a thread)."""

    def __init__(self, db: MetaDB, settings: AuthSettings) -> None:
        self.db = db
        self.settings = settings

    def create_in(self, conn: apsw.Connection, user_id: str, ip: str, user_agent: str) -> NewSession:
        """A new session for `user_id`, inside the caller's write transaction."""
        token = "lxs_" + secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now_us()
        ttl = self.settings.session_ttl_s
        conn.execute("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?", (now, self._idle_cutoff(now)))
        conn.execute(
            "INSERT INTO sessions (id_hash, user_id, csrf_hash, created_at, last_seen_at, expires_at, ip, user_agent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (token_hash(token), user_id, token_hash(csrf), now, now, now + ttl * 1_000_000, ip[:64], user_agent[:300]),
        )
        return NewSession(token, csrf, ttl)

    def _idle_cutoff(self, now: int) -> int:
        return now - self.settings.session_idle_s * 1_000_000

    def resolve(self, token: str | None) -> Session | None:
        """The live session of a cookie value; None when unknown, expired, idle too long or its user disabled."""
        if not token or len(token) > 200:
            return None
        rows = self.db.read(
            "SELECT s.id_hash, s.user_id, u.email, u.name, s.csrf_hash, s.expires_at, s.last_seen_at, "
            "u.must_change_password "
            "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND u.disabled = 0",
            (token_hash(token),),
        )
        if not rows:
            return None
        id_hash, user_id, email, name, csrf_hash, expires_at, last_seen_at, must_change = rows[0]
        session = Session(id_hash, user_id, email, name, csrf_hash, expires_at, last_seen_at, bool(must_change))
        now = _now_us()
        if session.expires_at <= now or session.last_seen_at <= self._idle_cutoff(now):
            return None
        if now - session.last_seen_at > TOUCH_EVERY_US:
            self.db.submit(
                lambda c: c.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", (now, session.id_hash))
            )
        return session

    def end(self, conn: apsw.Connection, id_hash: str) -> None:
        conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def end_all_of_user(self, conn: apsw.Connection, user_id: str, keep_id_hash: str | None = None) -> None:
        conn.execute("DELETE FROM sessions WHERE user_id = ? AND id_hash IS NOT ?", (user_id, keep_id_hash))
