"""The account and security components a running server holds, built once by app.py."""

from __future__ import annotations

from dataclasses import dataclass

from lynex_box.auth.oidc import OidcClient
from lynex_box.auth.ratelimit import IngestLimiter
from lynex_box.auth.sessions import SessionStore
from lynex_box.auth.throttle import LoginThrottle
from lynex_box.config import Settings
from lynex_box.meta.db import MetaDB


@dataclass(slots=True)
class AuthComponents:
    sessions: SessionStore
    throttle: LoginThrottle
    limiter: IngestLimiter
    oidc: OidcClient | None = None

    @classmethod
    def build(cls, settings: Settings, db: MetaDB) -> AuthComponents:
        oidc = OidcClient(settings.oidc) if settings.oidc.enabled else None
        return cls(SessionStore(db, settings.auth), LoginThrottle(settings.auth), IngestLimiter(settings.limits), oidc)

    def refresh(self, db: MetaDB) -> None:
        """Reload what the hot paths cache from meta.db (blocking; run in a thread)."""
        self.limiter.refresh(db)
