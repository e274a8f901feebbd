"""`GET /metrics`: the process's own health in Prometheus' text format (docs/operations/monitoring.md).

Two kinds of metric, both in a registry of this app (not prometheus_client's global one, so several servers in one
process, as in the tests, never share or clash):

- what the process already keeps (WAL backlog, head, worker pools, flushes, scheduled jobs, the bucket cache, free
  disk, DuckDB memory, process RSS/CPU/files) is read when Prometheus scrapes, by `PlatformCollector`: no
  instrument on any hot path;
- what exists only as requests pass (requests by route and status, their latency, error answers by code) is
  counted in one place, the outermost ASGI middleware `RequestMetrics`: one clock read before and after, one
  counter and one histogram observation, labelled by the route's template (`/v1/projects/{project_id}/traces`, never
  the raw path) so the label sets stay bounded. Error bodies (status >= 400, a few hundred bytes) are parsed for
  their `error.code`, which is the "rejected by reason" label.

Who may read it is `[metrics] allow`: loopback (the default), an org owner's session, a bearer token
(`token_file`), or anyone.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lynex_box import __version__
from lynex_box.api import spec
from lynex_box.api.errors import ApiError
from lynex_box.api.principal import require_session
from lynex_box.api.services import Services
from lynex_box.config import ConfigError, MetricsSettings

log = logging.getLogger("lynex.metrics")

# request latency buckets (seconds): ingest answers in milliseconds, queries in tens of ms to seconds
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED: Final = "unmatched"  # a request no route took (404s, refusals before routing): one label for them all
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,47}")
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"
DUCKDB_MEMORY_TIMEOUT_S: Final = 1.0  # a scrape does not wait on busy query workers for longer


class RequestMetrics:
    """ASGI middleware: each HTTP request counted by route template, method and status, its duration observed, and
    an error answer counted by its `error.code`. Outermost, so refusals of the inner middleware are counted too."""

    def __init__(self, app: ASGIApp, metrics: PlatformMetrics) -> None:
        self.app = app
        self.requests = metrics.requests
        self.latency = metrics.latency
        self.errors = metrics.errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what an exception that escapes every handler becomes
        code: str | None = None

        async def watch(message: Message) -> None:
            nonlocal status, code
            if message["type"] == "http.response.start":
                status = message["status"]
            elif status >= 400 and code is None and message["type"] == "http.response.body":
                code = _error_code(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            code = code or "internal"  # Starlette's outermost handler answers it with a 500
            raise
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "other"  # a client's verb: bounded
            self.requests.labels(template, method, str(status)).inc()
            self.latency.labels(template, method).observe(time.perf_counter() - started)
            if status >= 400:
                self.errors.labels(template, str(status), code or "other").inc()


def _error_code(body: bytes) -> str:
    """The `error.code` of a JSON error body (api/errors.py), or "other": never an unbounded label value."""
    try:
        found = orjson.loads(body)["error"]["code"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "other"
    return found if isinstance(found, str) and _CODE.fullmatch(found) else "other"


class PlatformCollector(Collector):
    """Reads the running engine's state at scrape time. Before the engine has started only `lynex_up` (0) shows."""

    def __init__(self, metrics: PlatformMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # nothing to read at registration: the engine is not started yet

    def collect(self) -> Iterator[Metric]:
        svc = self._metrics.services
        info = GaugeMetricFamily("lynex_build_info", "The running version (always 1)", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily("lynex_up", "1 once every component has started and the node is ready",
                                value=1 if svc is not None and svc.ready else 0)  # fmt: skip
        if svc is None:
            return
        yield from _engine_metrics(svc, self._metrics.duckdb_memory)
        yield from _job_metrics(svc)
        yield from _plugin_metrics(svc)
        yield from _disk_metrics(svc.settings.data_dir)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _engine_metrics(svc: Services, duckdb_memory: int | None) -> Iterator[Metric]:
    engine = svc.engine
    wal, store = engine.wal, engine.store
    yield _gauge("lynex_wal_backlog_bytes", "WAL bytes not yet published as segments (what a crash would replay)",
                 wal.backlog_bytes(engine.catalog.consumed_lsn()))  # fmt: skip
    yield _gauge("lynex_wal_backlog_age_seconds", "Seconds since the oldest WAL record not yet published was written",
                 wal.backlog_age_s(engine.catalog.consumed_lsn()))  # fmt: skip
    yield _gauge("lynex_pipeline_lag_records", "Durable WAL records the pipeline has not yet put in the head",
                 engine.pipeline_lag())  # fmt: skip
    yield _gauge("lynex_backpressure", "1 while ingest is refused (WAL backlog or free disk over its limit)",
                 1 if engine.backpressure() is not None else 0)  # fmt: skip
    head = store.head_stats()
    yield _gauge("lynex_head_rows", "Spans in the in-memory head, not yet flushed to a segment", head["rows"])
    yield _gauge("lynex_head_bytes", "Bytes of the in-memory head", head["bytes"])
    yield _counter("lynex_spans_stored", "Spans put in the head since the process started (replay included)",
                   store.spans_appended)  # fmt: skip
    yield _counter("lynex_flushes", "Head flushes to segments since start", store.flushes)
    yield _counter("lynex_flush_seconds", "Seconds spent flushing the head since start", store.flush_seconds)
    pools = GaugeMetricFamily("lynex_pool_workers", "Threads of a worker pool", labels=["pool"])
    busy = GaugeMetricFamily("lynex_pool_busy", "Threads of a worker pool running something", labels=["pool"])
    waiting = GaugeMetricFamily("lynex_pool_waiting", "Tasks waiting for a thread of the pool", labels=["pool"])
    saturated = GaugeMetricFamily("lynex_pool_saturated_seconds", "Seconds every thread of the pool has been busy",
                                  labels=["pool"])  # fmt: skip
    for name, stats in (("query", engine.query.pool.stats()), ("export", svc.exports.stats())):
        pools.add_metric([name], stats.workers)
        busy.add_metric([name], stats.busy)
        waiting.add_metric([name], stats.waiting)
        saturated.add_metric([name], stats.saturated_s)
    yield from (pools, busy, waiting, saturated)
    if duckdb_memory is not None:
        yield _gauge("lynex_duckdb_memory_bytes", "Bytes DuckDB holds for queries (duckdb_memory())", duckdb_memory)
    cache = svc.lifecycle.cache  # None without a bucket: zeros, so dashboards and rules always find the series
    found = cache.stats() if cache is not None else {"bytes": 0, "files": 0, "hits": 0, "misses": 0}
    yield _gauge("lynex_segment_cache_bytes", "Bytes of offloaded segments cached on local disk", found["bytes"])
    yield _gauge("lynex_segment_cache_files", "Offloaded segments cached on local disk", found["files"])
    yield _counter("lynex_segment_cache_hits", "Reads of an offloaded segment served from the cache", found["hits"])
    yield _counter("lynex_segment_cache_misses", "Reads of an offloaded segment fetched from the bucket",
                   found["misses"])  # fmt: skip
    if svc.alerts is not None:
        evaluator = svc.alerts.evaluator
        yield _counter("lynex_alert_evaluations", "Alert rules evaluated since start", evaluator.evaluations)
        yield _counter("lynex_alert_evaluation_failures", "Alert rule evaluations whose query failed",
                       evaluator.evaluation_failures)  # fmt: skip
    if svc.read_only is not None:
        yield _gauge("lynex_read_only", "1 while this node refuses writes (manual or automatic read-only)",
                     1 if svc.read_only.state().get("read_only") else 0)  # fmt: skip


def _job_metrics(svc: Services) -> Iterator[Metric]:
    """Each scheduled job (lifecycle passes, alert evaluation ticks, cluster heartbeat...): turns, failures, time."""
    runs = CounterMetricFamily("lynex_job_runs", "Finished turns of a scheduled job", labels=["job"])
    failures = CounterMetricFamily("lynex_job_failures", "Turns of a scheduled job that failed", labels=["job"])
    seconds = CounterMetricFamily("lynex_job_seconds", "Seconds spent in a scheduled job", labels=["job"])
    last = GaugeMetricFamily("lynex_job_last_seconds", "Duration of a scheduled job's last turn", labels=["job"])
    failed_passes = svc.lifecycle.failures  # a lifecycle pass logs its failure and returns (lifecycle/service.py)
    for job, stats in sorted(svc.job_runs.items()):
        runs.add_metric([job], stats.runs)
        failures.add_metric([job], stats.failures + failed_passes.get(job, 0))
        seconds.add_metric([job], stats.seconds)
        last.add_metric([job], stats.last_s)
    yield from (runs, failures, seconds, last)


def _plugin_metrics(svc: Services) -> Iterator[Metric]:
    """Each plugin subscription's counters (docs/plugins.md): what GET /v1/plugins shows, for dashboards and rules."""
    calls = CounterMetricFamily("lynex_plugin_events", "Topic events of a plugin subscription by outcome",
                                labels=["plugin", "hook", "outcome"])  # fmt: skip
    queued = GaugeMetricFamily("lynex_plugin_queue", "Events waiting in a plugin subscription's queue",
                               labels=["plugin", "hook"])  # fmt: skip
    for plugin in svc.plugins.status() if svc.plugins is not None else []:
        for sub in plugin["subscriptions"]:
            for outcome in ("delivered", "errors", "timeouts", "dropped"):
                calls.add_metric([plugin["name"], sub["hook"], outcome], sub[outcome])
            queued.add_metric([plugin["name"], sub["hook"]], sub["queued"])
        for hook in plugin.get("pipeline", []):  # pipeline hooks: batches they took, and those that failed
            calls.add_metric([plugin["name"], hook["hook"], "delivered"], hook["calls"] - hook["errors"])
            calls.add_metric([plugin["name"], hook["hook"], "errors"], hook["errors"])
    yield calls
    yield queued
    traces = svc.engine.traces  # the trace_completed table, only while a plugin subscribes to it
    if traces is not None:
        yield _gauge("lynex_traces_open", "Traces waiting to be completed (trace_completed topic)", traces.open_count)
        done = CounterMetricFamily("lynex_traces_completed", "trace_completed events by reason", labels=["reason"])
        done.add_metric(["idle"], traces.completed - traces.completed_early)
        done.add_metric(["early"], traces.completed_early)
        yield done


def _disk_metrics(data_dir: Path) -> Iterator[Metric]:
    usage = shutil.disk_usage(data_dir)
    yield _gauge("lynex_disk_free_bytes", "Free bytes of the data directory's file system", usage.free)
    yield _gauge("lynex_disk_total_bytes", "Size of the data directory's file system", usage.total)


class PlatformMetrics:
    """The app's registry and its request instruments; `services` is set once the components have started."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings
        self.token = _read_token(settings.token_file)
        self.registry = CollectorRegistry(auto_describe=True)
        self.services: Services | None = None
        self.duckdb_memory: int | None = None  # read on the query workers just before each scrape's collection
        self.requests = Counter("lynex_http_requests", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("lynex_http_request_duration_seconds", "HTTP request duration by route template",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.errors = Counter("lynex_http_errors", "Error answers (status >= 400) by route, status and error code",
                              ["route", "status", "code"], registry=self.registry)  # fmt: skip
        self.registry.register(PlatformCollector(self))
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, _cpu_seconds_total, _open_fds

    async def scrape(self) -> bytes:
        svc = self.services
        if svc is not None:
            try:
                self.duckdb_memory = await asyncio.wait_for(
                    svc.engine.query.call_async(svc.engine.query.memory_bytes), DUCKDB_MEMORY_TIMEOUT_S
                )
            except TimeoutError:
                self.duckdb_memory = None  # every query worker busy: this scrape goes without it
        # the collectors read /proc, the disk and the engine's state: in a thread, not on the event loop
        return await asyncio.to_thread(generate_latest, self.registry)


def _read_token(path: str) -> str | None:
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"metrics.token_file = {path!r} cannot be read: {exc}; hint: a readable file") from exc
    if len(token) < 16:
        raise ConfigError(f"metrics.token_file = {path!r} holds a token under 16 characters; hint: a longer token")
    return token


# a reverse proxy on the same machine connects from loopback too; these headers say it passed a request on
PROXY_HEADERS: Final = ("forwarded", "x-forwarded-for", "x-real-ip")


def _loopback(request: Request) -> bool:
    """A request from this machine itself, not one a local reverse proxy passed on (it sets a forwarding header)."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def _admit(request: Request, metrics: PlatformMetrics, svc: Services) -> None:
    """Raise 401/403 unless `[metrics] allow` admits the caller."""
    allow = metrics.settings.allow
    if allow == "any" or (allow == "loopback" and _loopback(request)):
        return
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if metrics.token is not None and scheme.lower() == "bearer" and hmac.compare_digest(given, metrics.token):
            return
        raise ApiError(403, "forbidden", "this credential may not read /metrics; hint: the [metrics] token_file "
                                         "token, or an org owner's login")  # fmt: skip
    session = await require_session(request, svc)
    orgs = await asyncio.to_thread(svc.accounts.user_orgs, session.user_id)
    if not any(org["role"] == "owner" for org in orgs):
        raise ApiError(403, "forbidden", "only a user who owns an organisation may read /metrics")


async def metrics_endpoint(request: Request) -> Response:
    metrics: PlatformMetrics = request.app.state.metrics
    if not metrics.settings.enabled:
        raise ApiError(404, "not_found", "GET /metrics is off; hint: [metrics] enabled = true")
    svc: Services | None = getattr(request.app.state, "services", None)
    if svc is None:
        raise ApiError(503, "starting", "recovering; no metrics yet", {"Retry-After": "1"})
    await _admit(request, metrics, svc)
    return Response(await metrics.scrape(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]

OPENAPI: Final[spec.Paths] = {
    "/metrics": {
        "get": spec.op(
            "The process's own health in Prometheus' text format (docs/operations/monitoring.md). Who may read it is "
            "[metrics] allow: loopback (default), an org owner's session or the [metrics] token_file bearer token, "
            "or anyone; 404 when [metrics] enabled = false",
            {200: {"description": "Prometheus text exposition 0.0.4", "content": {"text/plain": {"schema": spec.STR}}}},
            security=spec.KEY_OR_SESSION,
            errors=(401, 403, 404, 503),
        )
    }
}
