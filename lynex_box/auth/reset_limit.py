"""Limits on password reset emails: per recipient (so nobody can flood a mailbox) and per source address.

Counts live in memory in fixed one-hour windows; a restart forgets them. The per-email limit is applied
whether or not an account exists, and exceeding it changes nothing in the answer (it only stops the
email), so the limit reveals nothing about which emails have accounts. Memory is bounded by dropping
windows that have ended once the table grows large.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lynex_box.config import AuthSettings

WINDOW_S = 3600.0
MAX_ENTRIES = 100_000


class ResetRequestLimit:
    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests in it)

    def ip_retry_after(self, ip: str) -> float | None:
        """Count one request from `ip`; seconds to wait when it is over its hourly limit, else None."""
        return self._take("i:" + ip, self.settings.email_reset_per_ip_per_hour)

    def email_allowed(self, email: str) -> bool:
        """Count one reset email to `email`; False when that address already got its hourly share."""
        return self._take("e:" + email.strip().lower()[:320], self.settings.email_reset_per_email_per_hour) is None

    def _take(self, key: str, limit: int) -> float | None:
        now = self.clock()
        self._prune(now)
        start, count = self._windows.get(key, (now, 0))
        if now - start >= WINDOW_S:
            start, count = now, 0
        if count >= limit:
            return start + WINDOW_S - now
        self._windows[key] = (start, count + 1)
        return None

    def _prune(self, now: float) -> None:
        if len(self._windows) < MAX_ENTRIES:
            return
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < WINDOW_S}
        if len(self._windows) >= MAX_ENTRIES:  # a flood within one hour: keep the newest half
            newest = sorted(self._windows.items(), key=lambda kv: kv[1][0])[MAX_ENTRIES // 2 :]
            self._windows = dict(newest)
