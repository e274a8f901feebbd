"""The account and security components a running server holds, built once by app.py.

Started by `build` and `refresh`, stopped by `close` (the mail worker); `jobs()` keeps what the hot paths cache from
meta.db fresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from lynex_box.auth.oidc import OidcClient
from lynex_box.auth.ratelimit import IngestLimiter
from lynex_box.auth.reset_limit import ResetRequestLimit
from lynex_box.auth.sessions import SessionStore
from lynex_box.auth.throttle import LoginThrottle
from lynex_box.config import Settings
from lynex_box.jobs import Job
from lynex_box.mailer import Mailer
from lynex_box.meta.db import MetaDB

log = logging.getLogger("lynex.auth")
REFRESH_S: Final = 2.0  # how often the cached ingest limits are read again: a changed limit applies within this


@dataclass(slots=True)
class AuthComponents:
    db: MetaDB
    sessions: SessionStore
    throttle: LoginThrottle
    limiter: IngestLimiter
    oidc: OidcClient | None = None
    mailer: Mailer | None = None  # None when [smtp] is off: links are then only handed out by the API
    reset_limit: ResetRequestLimit | None = None

    @classmethod
    def build(cls, settings: Settings, db: MetaDB) -> AuthComponents:
        oidc = OidcClient(settings.oidc) if settings.oidc.enabled else None
        mailer = Mailer(settings.smtp) if settings.smtp.enabled else None
        if mailer is not None and not settings.server.public_url:
            log.warning(
                "smtp is on but server.public_url is empty: password reset by email stays off "
                "(its links must not be built from a request's Host header); hint: set server.public_url"
            )
        return cls(
            db,
            SessionStore(db, settings.auth),
            LoginThrottle(settings.auth),
            IngestLimiter(settings.limits),
            oidc,
            mailer,
            ResetRequestLimit(settings.auth),
        )

    def refresh(self, db: MetaDB | None = None) -> None:
        """Reload what the hot paths cache from meta.db (blocking; run in a thread)."""
        self.limiter.refresh(db or self.db)

    def jobs(self) -> list[Job]:
        return [Job.blocking("refresh_limits", self.refresh, REFRESH_S)]

    def close(self) -> None:
        """Stop the mail worker (blocking; run in a thread)."""
        if self.mailer is not None:
            self.mailer.close()
