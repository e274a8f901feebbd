"""Built-in platform alerts: the conditions of packaging/prometheus/alerts.yml, checked in the process from the
values GET /metrics shows, for an operator who runs no Prometheus (docs/operations/monitoring.md).

Every `[platform_alerts] interval_s` the checker reads the request counters and the latency histogram of the app's
registry (the change since its last look: a rate over the interval), the WAL backlog and the data dir's free disk.
A condition that holds for `for_s` seconds in a row fires: one JSON POST to `webhook_url`; it resolves (another POST)
at the first check it no longer holds. The URL is the operator's own setting in lynex.toml, so it may name a
loopback or private address (no user chooses it: the alert target policy of [alerts] is for users' rules).
A failed POST is logged and tried again at the next check while the state it reports still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import socket
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx

from lynex_box import __version__
from lynex_box.api.platform_metrics import PlatformMetrics
from lynex_box.api.services import Services
from lynex_box.config import PlatformAlertsSettings

log = logging.getLogger("lynex.platform_alerts")
POST_TIMEOUT_S: Final = 10.0


@dataclass(slots=True)
class _State:
    since: float | None = None  # when the condition started holding (monotonic), None while it does not
    firing: bool = False
    told: bool = True  # the webhook has the current state (a failed POST is tried again at the next check)


@dataclass(frozen=True, slots=True)
class Reading:
    """One check's values: None where there is nothing to judge (too few requests, no query in the interval)."""

    error_ratio: float | None
    query_p95_s: float | None
    wal_backlog_bytes: int
    disk_free_ratio: float


class PlatformAlerts:
    """`run(stop)` checks every interval until `stop` is set; `check()` is one check (tests call it too)."""

    def __init__(self, settings: PlatformAlertsSettings, metrics: PlatformMetrics, svc: Services) -> None:
        self.settings = settings
        self.metrics = metrics
        self.svc = svc
        self.states: dict[str, _State] = {}
        self.posts = self.post_failures = 0
        self._last: tuple[float, float, dict[float, float]] | None = None  # requests, 5xx, query latency buckets

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:  # a check's bug must not end the checks
                log.exception("platform alert check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_s)

    def read(self) -> Reading:
        total, errors, buckets = _requests(self.metrics)
        last, self._last = self._last, (total, errors, buckets)
        error_ratio = query_p95 = None
        if last is not None:
            requests = total - last[0]
            if requests >= self.settings.min_requests:
                error_ratio = (errors - last[1]) / requests
            query_p95 = _p95({le: n - last[2].get(le, 0.0) for le, n in buckets.items()})
        engine = self.svc.engine
        usage = shutil.disk_usage(self.svc.settings.data_dir)
        return Reading(error_ratio, query_p95, engine.wal.backlog_bytes(engine.catalog.consumed_lsn()),
                       usage.free / usage.total if usage.total else 1.0)  # fmt: skip

    async def check(self) -> None:
        s, found = self.settings, self.read()
        conditions: list[tuple[str, float | None, float, bool, str]] = [  # name, value, threshold, holds, summary
            ("high_error_rate", found.error_ratio, s.error_ratio,
             found.error_ratio is not None and found.error_ratio > s.error_ratio, "share of requests answered 5xx"),
            ("query_latency_high", found.query_p95_s, s.query_p95_s,
             found.query_p95_s is not None and found.query_p95_s > s.query_p95_s, "p95 of GET /v1/... in seconds"),
            ("wal_backlog", found.wal_backlog_bytes, s.wal_backlog_bytes,
             found.wal_backlog_bytes > s.wal_backlog_bytes, "WAL bytes not yet published as segments"),
            ("disk_low", found.disk_free_ratio, s.disk_free_ratio,
             found.disk_free_ratio < s.disk_free_ratio, "share of the data dir's file system free"),
        ]  # fmt: skip
        now = time.monotonic()
        for name, value, threshold, holds, summary in conditions:
            state = self.states.setdefault(name, _State())
            if holds:
                state.since = now if state.since is None else state.since
                if not state.firing and now - state.since >= s.for_s:
                    state.firing, state.told = True, False
            else:
                state.since = None
                if state.firing:
                    state.firing, state.told = False, False
            if not state.told:
                state.told = await self._post(name, state.firing, value, threshold, summary)

    async def _post(self, name: str, firing: bool, value: float | None, threshold: float, summary: str) -> bool:
        body = {
            "alert": name, "state": "firing" if firing else "resolved",
            "value": "+Inf" if value is not None and math.isinf(value) else value, "threshold": threshold,
            "summary": summary, "node": socket.gethostname(), "data_dir": str(self.svc.settings.data_dir),
            "version": __version__, "at_us": time.time_ns() // 1000,
        }  # fmt: skip
        try:
            await asyncio.to_thread(_post, self.settings.webhook_url, body)
        except (httpx.HTTPError, ValueError) as exc:
            self.post_failures += 1
            log.warning("platform alert %s not delivered, tried again at the next check: %s", name, exc)
            return False
        self.posts += 1
        log.info("platform alert %s %s value=%s threshold=%s", name, body["state"], value, threshold)
        return True


def _post(url: str, body: dict[str, Any]) -> None:
    r = httpx.post(url, json=body, timeout=POST_TIMEOUT_S)
    if r.status_code >= 300:
        raise ValueError(f"{url} answered {r.status_code}")


def _requests(metrics: PlatformMetrics) -> tuple[float, float, dict[float, float]]:
    """(requests, 5xx answers, cumulative query latency buckets: upper bound -> count) since the start."""
    total = errors = 0.0
    for family in metrics.requests.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                total += sample.value
                errors += sample.value if sample.labels["status"].startswith("5") else 0.0
    buckets: dict[float, float] = {}
    for family in metrics.latency.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_bucket") and labels["method"] == "GET" and labels["route"].startswith("/v1/"):
                le = float(labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return total, errors, buckets


def _p95(buckets: dict[float, float]) -> float | None:
    """The upper bound of the bucket holding the 95th percentile of a histogram's counts (None: no observation)."""
    count = buckets.get(math.inf, 0.0)
    if count <= 0:
        return None
    for le in sorted(buckets):
        if buckets[le] >= 0.95 * count:
            return le
    return math.inf
