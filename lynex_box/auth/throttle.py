"""Login throttling: after repeated failures an email (or a source address) is locked out for a while.

After `login_max_failures` failures in a row for one email, each further attempt is refused with 429
for `login_lockout_s`, doubling with each further failure up to `login_lockout_max_s`; a success resets
the email's count. Source addresses get the same treatment at `login_max_failures_per_ip`, counted
over all emails and not reset by a success (one valid account must not unlock a guessing address).
State lives in memory: a restart forgets it, which costs an attacker a restart they cannot cause.
Memory is bounded: counters idle for longer than the longest lockout are dropped.

An attempt is counted *before* the password is checked (`reserve`), in the same step as the lock check, and
refunded when it succeeds (`succeeded`): checking the lock first and counting the failure after the slow hash
let 40 parallel guesses all pass a check made while none had failed yet. The event loop runs `reserve` without
an await inside, so two requests never interleave between the check and the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lynex_box.config import AuthSettings

MAX_ENTRIES = 100_000


@dataclass(slots=True)
class _Counter:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._counters: dict[str, _Counter] = {}

    def retry_after(self, email: str, ip: str) -> float | None:
        """Seconds until this email and address may try again; None when they may try now."""
        now = self.clock()
        waits = [c.locked_until - now for c in self._get(email, ip) if c.locked_until > now]
        return max(waits) if waits else None

    def reserve(self, email: str, ip: str) -> float | None:
        """Seconds to wait when this email or address is locked out; else None, with the attempt counted as a
        failure until `succeeded` refunds it."""
        wait = self.retry_after(email, ip)
        if wait is None:
            self.failed(email, ip)
        return wait

    def failed(self, email: str, ip: str) -> None:
        now = self.clock()
        self._prune(now)
        for key, limit in (
            (self._email_key(email), self.settings.login_max_failures),
            (self._ip_key(ip), self.settings.login_max_failures_per_ip),
        ):
            counter = self._counters.setdefault(key, _Counter())
            counter.failures += 1
            counter.last_failure = now
            if counter.failures >= limit:
                excess = min(counter.failures - limit, 30)
                lock = min(self.settings.login_lockout_s * 2**excess, self.settings.login_lockout_max_s)
                counter.locked_until = now + lock

    def succeeded(self, email: str, ip: str | None = None) -> None:
        """Reset the email's count; with `ip`, also refund the address the failure `reserve` counted."""
        self._counters.pop(self._email_key(email), None)
        counter = self._counters.get(self._ip_key(ip)) if ip is not None else None
        if counter is not None and counter.failures > 0:
            counter.failures -= 1
            if counter.failures < self.settings.login_max_failures_per_ip:
                counter.locked_until = 0.0

    def _get(self, email: str, ip: str) -> list[_Counter]:
        keys = (self._email_key(email), self._ip_key(ip))
        return [self._counters[k] for k in keys if k in self._counters]

    @staticmethod
    def _email_key(email: str) -> str:
        return "e:" + email.strip().lower()[:320]

    @staticmethod
    def _ip_key(ip: str) -> str:
        return "i:" + ip

    def _prune(self, now: float) -> None:
        if len(self._counters) < MAX_ENTRIES:
            return
        horizon = self.settings.login_lockout_max_s
        self._counters = {
            k: c for k, c in self._counters.items() if c.locked_until > now or now - c.last_failure < horizon
        }
        if len(self._counters) >= MAX_ENTRIES:  # a flood of distinct emails: keep the newest half
            newest = sorted(self._counters.items(), key=lambda kv: kv[1].last_failure)[MAX_ENTRIES // 2 :]
            self._counters = dict(newest)
