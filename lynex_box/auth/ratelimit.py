"""Ingest rate limits: token buckets of events and bytes per project and per API key, in memory.

The ingest hot path calls `IngestLimiter.take` and never touches SQLite: per-project overrides are
loaded by `refresh` (a background job, and right after a settings change). A request bigger than a
bucket's burst passes when the bucket is full and leaves it in debt, so a limit slows large batches
down instead of refusing them forever. Not thread-safe by design: it is used from the event loop only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from lynex_box.config import LimitsSettings
from lynex_box.meta.db import MetaDB

LIMIT_FIELDS: Final = ("events_per_s", "events_burst", "bytes_per_s", "bytes_burst")


@dataclass(frozen=True, slots=True)
class Limits:
    """One principal's rates; 0 means unlimited."""

    events_per_s: float
    events_burst: int
    bytes_per_s: float
    bytes_burst: int

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_s(self, amount: float, now: float) -> float:
        """0 when `amount` may be taken now; otherwise the seconds until it may."""
        self._refill(now)
        need = min(amount, self.burst)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def take(self, amount: float) -> None:
        self.tokens -= amount


class RateLimited(Exception):
    def __init__(self, retry_after_s: int, what: str) -> None:
        super().__init__(what)
        self.retry_after_s = retry_after_s
        self.what = what


class IngestLimiter:
    def __init__(self, settings: LimitsSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.project_default = Limits(
            settings.project_events_per_s,
            settings.project_events_burst,
            settings.project_bytes_per_s,
            settings.project_bytes_burst,
        )
        self.key_default = Limits(
            settings.key_events_per_s, settings.key_events_burst, settings.key_bytes_per_s, settings.key_bytes_burst
        )
        self._overrides: dict[str, dict[str, Any]] = {}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def project_limits(self, project_id: str) -> Limits:
        override = self._overrides.get(project_id)
        if not override:
            return self.project_default
        return replace(self.project_default, **override)

    def set_overrides(self, overrides: dict[str, dict[str, Any]]) -> None:
        """Per-project limits (only the fields that are set); buckets pick the new rates up on next use."""
        self._overrides = overrides

    def refresh(self, db: MetaDB) -> None:
        """Load per-project overrides from meta.db (blocking; called from a background job)."""
        rows = db.read(f"SELECT project_id, {', '.join(LIMIT_FIELDS)} FROM project_limits")
        overrides = {}
        for row in rows:
            values = {k: v for k, v in zip(LIMIT_FIELDS, row[1:], strict=True) if v is not None}
            if values:
                overrides[row[0]] = values
        self.set_overrides(overrides)

    def _bucket(self, name: str, unit: str, rate: float, burst: float, now: float) -> TokenBucket | None:
        if rate <= 0:
            return None
        burst = max(burst, 1.0)
        bucket = self._buckets.get((name, unit))
        if bucket is None:
            bucket = self._buckets[(name, unit)] = TokenBucket(rate, burst, burst, now)
        elif bucket.rate != rate or bucket.burst != burst:
            # new limits apply at once: a larger burst adds its headroom now, a smaller one caps the tokens
            bucket._refill(now)
            tokens = bucket.tokens + max(0.0, burst - bucket.burst)
            bucket.rate, bucket.burst, bucket.tokens = rate, burst, min(tokens, burst)
        return bucket

    def take(self, project_id: str, key_id: str, events: int = 0, nbytes: int = 0) -> None:
        """Charge a request to its key's and project's buckets, or raise RateLimited charging nothing."""
        now = self.clock()
        project, key = self.project_limits(project_id), self.key_default
        wanted: list[tuple[TokenBucket, int, str]] = []
        for name, limits, who in (("p:" + project_id, project, "project"), ("k:" + key_id, key, "API key")):
            for unit, amount, rate, burst in (
                ("events", events, limits.events_per_s, limits.events_burst),
                ("bytes", nbytes, limits.bytes_per_s, limits.bytes_burst),
            ):
                bucket = self._bucket(name, unit, rate, burst, now) if amount > 0 else None
                if bucket is None:
                    continue
                wait = bucket.wait_s(amount, now)
                if wait > 0:
                    raise RateLimited(max(1, math.ceil(wait)), f"{who} {unit} rate limit")
                wanted.append((bucket, amount, unit))
        for bucket, amount, _ in wanted:
            bucket.take(amount)
