"""The platform alert conditions of packaging/prometheus/alerts.yml, read from the metrics registry: pure, no I/O.

A `Snapshot` is one collection of the app's registry (api/platform_metrics.py): the values GET /metrics would show
at that moment, gauges as they are. Counters and histograms are compared with an earlier snapshot of the `History`
over a window, as Prometheus' `rate()` and `increase()` do; until the history holds two snapshots such a condition
is unknown (`Reading.holds` None), which neither starts nor clears it. Nothing here counts anything twice: every
number comes from the registry.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client.core import Metric

from lynex_box.config import PlatformAlertsSettings

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every sample of one collection, by sample name (`lynex_http_requests_total`, `..._bucket`)."""

    at: float  # wall-clock seconds
    samples: Mapping[str, list[tuple[Labels, float]]]

    def gauge(self, name: str, **labels: str) -> float | None:
        for found, value in self.samples.get(name, ()):
            if all(found.get(k) == v for k, v in labels.items()):
                return value
        return None

    def total(self, name: str, keep: Callable[[Labels], bool] = lambda _: True) -> float:
        return sum(value for labels, value in self.samples.get(name, ()) if keep(labels))


def snapshot(metrics: Iterable[Metric], at: float) -> Snapshot:
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for family in metrics:
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return Snapshot(at, samples)


class History:
    """The snapshots of the last `keep_s` seconds, oldest first."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._snaps: deque[Snapshot] = deque()

    def add(self, snap: Snapshot) -> None:
        self._snaps.append(snap)
        # keep one snapshot at or before the longest window's start, so a full window can be measured
        while len(self._snaps) > 2 and self._snaps[1].at <= snap.at - self.keep_s:
            self._snaps.popleft()

    def base(self, now: float, window_s: float) -> Snapshot | None:
        """The newest snapshot at or before `now - window_s` (the oldest one while the history is shorter than the
        window), or None while there is only the current one."""
        found = None
        for snap in self._snaps:
            if snap.at >= now:
                break
            if found is None or snap.at <= now - window_s:
                found = snap
        return found


@dataclass(frozen=True, slots=True)
class Reading:
    """One condition's state at one evaluation: `holds` None while unknown (too little history, no metric)."""

    holds: bool | None
    value: float | None
    threshold: float
    shown: str  # the value as a person reads it, with the threshold: "9.1% of 4.0 requests/s answered 5xx (> 5%)"


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    title: str
    hint: str
    read: Callable[[Snapshot, History, PlatformAlertsSettings], Reading]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _unknown(threshold: float, why: str) -> Reading:
    return Reading(None, None, threshold, why)


def http_5xx_rate(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    base = history.base(now.at, s.error_window_s)
    if base is None:
        return _unknown(s.error_rate, "not enough history yet")
    name = "lynex_http_requests_total"
    span = now.at - base.at
    total = now.total(name) - base.total(name)
    errors = now.total(name, _is_5xx) - base.total(name, _is_5xx)
    rps = total / span if span > 0 else 0.0
    ratio = errors / total if total > 0 else 0.0
    holds = rps >= s.error_min_rps and ratio > s.error_rate
    shown = (f"{ratio:.1%} of {rps:.2f} requests/s answered 5xx over the last {span:.0f}s "
             f"(threshold > {s.error_rate:.1%} at >= {s.error_min_rps:g} requests/s)")  # fmt: skip
    return Reading(holds, ratio, s.error_rate, shown)


def _is_5xx(labels: Labels) -> bool:
    return labels.get("status", "").startswith("5")


def _gauge_over(name: str, value: float | None, threshold: float, shown: Callable[[float], str]) -> Reading:
    if value is None:
        return _unknown(threshold, f"{name} not reported yet")
    return Reading(value > threshold, value, threshold, shown(value))


def ingest_refused(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    value = now.gauge("lynex_backpressure")
    return _gauge_over("lynex_backpressure", value, 0, lambda v: "ingest is refused (503 overloaded)" if v else
                       "ingest is accepted")  # fmt: skip


def wal_backlog(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    size, age = now.gauge("lynex_wal_backlog_bytes"), now.gauge("lynex_wal_backlog_age_seconds")
    if size is None:
        return _unknown(s.wal_backlog_bytes, "lynex_wal_backlog_bytes not reported yet")
    old = age is not None and age > s.wal_backlog_age_s
    shown = (f"WAL backlog {human_bytes(size)}, oldest record {age or 0:.0f}s old (threshold > "
             f"{human_bytes(s.wal_backlog_bytes)} or > {s.wal_backlog_age_s:g}s)")  # fmt: skip
    return Reading(size > s.wal_backlog_bytes or old, size, s.wal_backlog_bytes, shown)


def query_saturated(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    value = now.gauge("lynex_pool_saturated_seconds", pool="query")
    limit = s.query_saturated_s
    return _gauge_over(
        "lynex_pool_saturated_seconds",
        value,
        limit,
        lambda v: f"every query worker busy for {v:.0f}s (threshold > {limit:g}s)",
    )


def read_only(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    value = now.gauge("lynex_read_only")
    return _gauge_over("lynex_read_only", value, 0, lambda v: "the node is read-only" if v else "the node is writable")


def disk_free(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    free, size = now.gauge("lynex_disk_free_bytes"), now.gauge("lynex_disk_total_bytes")
    if free is None or not size:
        return _unknown(s.disk_free_bytes, "lynex_disk_free_bytes not reported yet")
    holds = free < s.disk_free_bytes or free / size < s.disk_free_ratio
    shown = (f"{human_bytes(free)} free, {free / size:.1%} of {human_bytes(size)} (threshold < "
             f"{human_bytes(s.disk_free_bytes)} or < {s.disk_free_ratio:.0%})")  # fmt: skip
    return Reading(holds, free, s.disk_free_bytes, shown)


def query_latency(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    base = history.base(now.at, s.latency_window_s)
    if base is None:
        return _unknown(s.query_p95_s, "not enough history yet")
    name = "lynex_http_request_duration_seconds_bucket"
    bounds: dict[float, float] = {}
    for snap, sign in ((now, 1.0), (base, -1.0)):
        for labels, value in snap.samples.get(name, ()):
            if labels.get("method") == "GET" and labels.get("route", "").startswith("/v1/"):
                le = float(labels["le"])
                bounds[le] = bounds.get(le, 0.0) + sign * value
    p95 = quantile(0.95, bounds)
    span = now.at - base.at
    if p95 is None:
        return Reading(False, None, s.query_p95_s, f"no queries over the last {span:.0f}s")
    shown = f"p95 of GET /v1/... {p95:.2f}s over the last {span:.0f}s (threshold > {s.query_p95_s:g}s)"
    return Reading(p95 > s.query_p95_s, p95, s.query_p95_s, shown)


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative bucket counts by upper bound; None without observations."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower  # in the +Inf bucket: the highest finite bound, as Prometheus answers
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


def job_failures(now: Snapshot, history: History, s: PlatformAlertsSettings) -> Reading:
    base = history.base(now.at, s.job_window_s)
    if base is None:
        return _unknown(s.job_failures, "not enough history yet")
    name = "lynex_job_failures_total"
    before = {labels.get("job", ""): value for labels, value in base.samples.get(name, ())}
    worst, job = 0.0, ""
    for labels, value in now.samples.get(name, ()):
        grown = value - before.get(labels.get("job", ""), 0.0)
        if grown > worst:
            worst, job = grown, labels.get("job", "")
    span = now.at - base.at
    shown = f"job {job} failed {worst:.0f} times" if job else "no job failed"
    return Reading(worst > s.job_failures, worst, s.job_failures,
                   f"{shown} over the last {span:.0f}s (threshold > {s.job_failures})")  # fmt: skip


CONDITIONS: Final = (
    Condition("http_5xx_rate", "HTTP 5xx error rate",
              "lynex_http_errors_total on GET /metrics says which error codes (overloaded, read_only, internal...); "
              "the server log has the errors", http_5xx_rate),
    Condition("ingest_refused", "ingest refused",
              "senders get 503 overloaded: /readyz names the cause (WAL backlog or free disk over its limit)",
              ingest_refused),
    Condition("wal_backlog", "WAL backlog",
              "spans wait to be published as segments: flushes fail or are slower than ingest (see the log, "
              "lynex_flush_seconds); at [ingest] max_backlog_bytes ingest is refused", wal_backlog),
    Condition("query_latency", "query latency",
              "queries answer slowly: see lynex_pool_waiting{pool=\"query\"} and lynex_duckdb_memory_bytes; "
              "narrower queries, or more [query] workers and memory", query_latency),
    Condition("query_saturated", "query workers saturated",
              "every query worker stays busy: fewer or narrower queries, or more [query] workers on more cores",
              query_saturated),
    Condition("disk_free", "free disk",
              "free space on the data dir's disk before [ingest] min_free_disk_bytes refuses ingest: lower "
              "[retention] days, offload to a bucket ([offload]), or grow the disk", disk_free),
    Condition("job_failures", "scheduled job failing",
              "the log (logger lynex.lifecycle, lynex.alerts, lynex.cluster) has the job's error", job_failures),
    Condition("read_only", "read-only",
              "writes are answered 503 read_only: the bucket is unwritable (automatic) or [server] read_only is set; "
              "GET /readyz says which", read_only),
)  # fmt: skip
