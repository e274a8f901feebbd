"""Wiring only: builds the components, orders their start and stop, schedules their jobs, mounts the routes.

Start order (the lifespan, `start`): engine (recovery and replay) -> read-only mode (`lifecycle/readonly.py`: by
hand, `[server] read_only`, the node writes nothing and runs only `READ_ONLY_JOBS`; automatic when the bucket stays
unwritable) -> cluster node (in cluster mode; a `ClusterObserver` when read-only) -> prices -> auth (mail worker) ->
key ring -> trusted JWT issuers -> alerts (sealing key, deliverer) -> platform alerts -> synthetic monitors ->
pipeline and flusher tasks -> scheduler -> exports -> the OTLP/gRPC receiver; `/readyz` turns ready after that.
Each component's stop goes on an async exit stack right after it starts, so a start that fails half-way stops what
had started, and SIGTERM stops them in reverse, ending with the engine's final flush: nothing to replay. The
scheduler runs the jobs each component declares (`jobs()`); this module hard-codes none. A start that fails, or a
cluster node fenced later, leaves its reason in `app.state.failure`, which the server turns into its exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box import API_VERSION, __version__
from lynex_box.alerts.clusterkey import ClusterKey
from lynex_box.alerts.fetch import blocking_post, fetch_small
from lynex_box.alerts.platform.notices import Node
from lynex_box.alerts.platform.service import PlatformAlerts
from lynex_box.alerts.service import AlertService
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.api import accounts, admin, ingest, query, unavailable
from lynex_box.api.bodyguard import BodyGuard
from lynex_box.api.errors import ApiError, api_error_handler, error_response, json_response
from lynex_box.api.forward import MetaForward
from lynex_box.api.ingest.otlp_grpc import OtlpGrpcServer
from lynex_box.api.metaseq import MetaSeqHeader
from lynex_box.api.openapi import openapi_document
from lynex_box.api.platform_metrics import PlatformMetrics, RequestMetrics
from lynex_box.api.platform_metrics import routes as metrics_routes
from lynex_box.api.plugin_access import score_writer, trace_reader
from lynex_box.api.readonly import ReadOnlyGate
from lynex_box.api.sentry_report import init_sentry
from lynex_box.api.services import Services
from lynex_box.auth.admin import get_setting
from lynex_box.auth.components import AuthComponents
from lynex_box.auth.jwt_verifier import JwtVerifier
from lynex_box.auth.keys import KeyRing
from lynex_box.cluster import ClusterError
from lynex_box.cluster.alertstate import AlertStateStore
from lynex_box.cluster.node import ClusterNode, NodeIdentity, SegmentSharing
from lynex_box.cluster.observer import ClusterObserver
from lynex_box.cluster.usagemark import ClusterClosedDays
from lynex_box.config import Settings
from lynex_box.engine import DataDirBusy, Engine
from lynex_box.jobs import Job, JobRuns, Periodic, timed
from lynex_box.lifecycle.bucket import SegmentUploader
from lynex_box.lifecycle.export_runner import ExportAborted, ExportRunner
from lynex_box.lifecycle.plugin_objects import object_writer
from lynex_box.lifecycle.readonly import ReadOnlyMode
from lynex_box.lifecycle.usage_close import ClosedDays, MetaClosedDays, UsageCloser, meta_projects, query_compute
from lynex_box.meta.prices import PriceReloader, read_prices_at
from lynex_box.meta.project_plugins import RELOAD_JOB, ProjectPlugins
from lynex_box.monitors.runner import Runner
from lynex_box.monitors.service import MonitorService
from lynex_box.monitors.spec import MonitorLimits
from lynex_box.pipeline.enrich import CostEnricher
from lynex_box.plugins.context import PluginContext
from lynex_box.plugins.host import PluginHost
from lynex_box.pricing import PriceBook
from lynex_box.segments.encryption import KeyUnavailable
from lynex_box.web import routes as web_routes

log = logging.getLogger("lynex.app")

# The jobs a node started read-only (`[server] read_only`) still runs: each only reads (meta.db, the bucket's
# manifests) or, in cluster mode, applies the metadata log to meta.db. Flushes, lifecycle passes, alerts, key
# last-use writes, heartbeats and leases are left out.
READ_ONLY_JOBS = frozenset(
    {
        "refresh_limits",
        "refresh_keys",
        "reload_prices",
        "reload_pii",
        "cluster_poll",
        "cluster_meta",
        "cluster_scores_poll",
        RELOAD_JOB,
    }
)


async def healthz(request: Request) -> Response:
    return json_response({"status": "alive", "version": __version__})


async def version(request: Request) -> Response:
    """The package version and the API's major version (SDKs compare theirs with it); public, like /healthz."""
    return json_response({"version": __version__, "api": API_VERSION})


async def readyz(request: Request) -> Response:
    svc: Services | None = getattr(request.app.state, "services", None)  # set once every component has started
    if svc is None or not svc.ready:
        return error_response(503, "starting", "recovering; not accepting yet", {"Retry-After": "1"})
    pressure = svc.engine.backpressure()
    if pressure is not None:
        return error_response(503, "overloaded", pressure.reason, {"Retry-After": str(pressure.retry_after_s)})
    full = svc.engine.query.pool.saturated()
    if full is not None:
        message = (
            f"every one of the {full.workers} query workers has been busy for {full.saturated_s:.1f} s "
            f"({full.waiting} queries waiting): queries answer late; hint: fewer or narrower queries, "
            "or more [query] workers on more cores"
        )
        return error_response(503, "saturated", message, {"Retry-After": "5"})
    workers = {"query": svc.engine.query.pool.stats().as_dict(), "export": svc.exports.stats().as_dict()}
    state = svc.read_only.state() if svc.read_only is not None else {"read_only": False}
    # a read-only node is ready: it serves queries and the UI (writes get 503 `read_only`, api/readonly.py)
    return json_response({"status": "ready", "workers": workers, **state})


async def openapi(request: Request) -> Response:
    return json_response(openapi_document(request.app.routes))


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found", f"no route for {request.method} {request.url.path}")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """A client that hung up while sending its body: nothing to answer, nothing went wrong here."""
    client = request.client.host if request.client else ""
    log.debug("client disconnected before its body was read path=%s client=%s", request.url.path, client)
    return error_response(400, "client_disconnected", "the client closed the connection before its body arrived")


async def internal_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ExportAborted):  # a download cut on purpose (time budget, stop), logged where it stopped
        return error_response(500, "export_aborted", str(exc))  # never sent: the response had started
    log.exception("unhandled error path=%s", request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the server log has the details")


def _scheduler(
    components: list[Periodic],
    guard: Callable[[list[Job]], list[Job]] | None,
    read_only: bool = False,
    runs: dict[str, JobRuns] | None = None,
) -> AsyncIOScheduler:
    """A scheduler of the jobs the components declare; each job runs one turn at a time, missed turns coalesced.
    In cluster mode `guard` (`ClusterNode.guard`) makes the singleton jobs run only under their lease; `read_only`
    keeps only the jobs that write nothing (`READ_ONLY_JOBS`). Each turn is counted in `runs` (GET /metrics)."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    for component in components:
        jobs = component.jobs()
        if read_only:
            jobs = [job for job in jobs if job.id in READ_ONLY_JOBS]
        for guarded in guard(jobs) if guard is not None else jobs:
            job = timed(guarded, runs) if runs is not None else guarded
            scheduler.add_job(job.run, "interval", seconds=job.every_s, id=job.id, coalesce=True, max_instances=1)
    return scheduler


async def _cluster_node(settings: Settings, engine: Engine, on_fenced: Callable[[str], None]) -> ClusterNode:
    """This process as a node of the cluster on `[bucket]`: checked, settled and claimed (cluster/node.py); it
    publishes the engine's segments and feeds the other nodes' to the engine's queries."""
    bucket, ctx, shared = engine.lifecycle.bucket, engine.lifecycle.ctx, engine.query.shared
    assert bucket is not None and shared is not None, "[cluster] enabled needs a bucket (config.py checks it)"
    identity = NodeIdentity.of(settings, ctx.node_id, __version__)
    sharing = SegmentSharing(
        engine.store, SegmentUploader(bucket, ctx.node_id, ctx.scratch), shared, engine.flush,
        merge=engine.lifecycle.merge_shared, drop=engine.lifecycle.drop_replaced, compaction=settings.compaction,
    )  # fmt: skip
    return await asyncio.to_thread(
        ClusterNode.start, bucket, settings.cluster, engine.meta, identity, on_fenced, sharing, engine.data_keys.kek
    )


def _read_only_mode(settings: Settings, engine: Engine) -> ReadOnlyMode:
    """Manual read-only (`[server] read_only`), and automatic read-only on the bucket's write health."""
    lifecycle = engine.lifecycle
    mode = ReadOnlyMode(
        manual=settings.server.read_only, readonly_after_s=settings.bucket.readonly_after_s,
        node_id=lifecycle.ctx.node_id, health=lifecycle.bucket_health, bucket=lifecycle.bucket,
    )  # fmt: skip
    if mode.manual:
        log.warning("read-only mode entered cause=manual: ingest and admin writes are answered 503")
    return mode


async def _cluster_observer(settings: Settings, engine: Engine) -> ClusterObserver:
    """A read-only node of the cluster: it reads the other nodes' manifests and writes nothing (cluster/observer.py)."""
    bucket, ctx, shared = engine.lifecycle.bucket, engine.lifecycle.ctx, engine.query.shared
    assert bucket is not None and shared is not None, "[cluster] enabled needs a bucket (config.py checks it)"
    identity = NodeIdentity.of(settings, ctx.node_id, __version__)
    return await asyncio.to_thread(ClusterObserver.start, bucket, settings.cluster, engine.meta, identity, shared)


def _meta_applied(
    engine: Engine,
    keys: KeyRing,
    auth: AuthComponents,
    prices: PriceReloader,
    jwt: JwtVerifier,
    alerts: AlertService,
    read_only: bool = False,
    project_plugins: ProjectPlugins | None = None,
) -> Callable[[set[str], list[dict[str, Any]]], None]:
    """What a node does after applying metadata log entries (cluster/replicator.py; on its poll thread): reload
    every in-memory copy of the tables that changed ("*": a snapshot, everything), so a key revoked on the holder is
    refused here at once; and carry out on this node's own segments a repricing the holder recorded (not on a
    read-only node: it rewrites no segment)."""

    def applied(tables: set[str], changes: list[dict[str, Any]]) -> None:
        every = "*" in tables
        reloads: list[tuple[str, Callable[[], object]]] = [
            ("api_keys", keys.refresh),
            ("project_limits", auth.refresh),
            ("custom_prices", prices.reload),
            ("project_pii", engine.pii_settings.reload),
            ("jwt_trust", jwt.refresh),
            ("project_data_keys", engine.data_keys.refresh),
            ("instance_settings", alerts.refresh_key),  # the cluster's alerts sealing key
        ]
        if project_plugins is not None:  # after the sealing key: the secret values open with the cluster's key
            reloads += [("instance_settings", project_plugins.reload), ("project_plugins", project_plugins.reload)]
        for table, reload in reloads:
            if every or table in tables:
                reload()
        for change in changes:
            row = change.get("row") or {}
            if not read_only and change.get("table") == "audit_log" and row.get("action") == "data.repriced":
                engine.lifecycle.reprice_replicated(row)
        if every or "tombstones" in tables:  # what a session's or a user's deletion covers in this node's data
            engine.lifecycle.expand_pending()

    return applied


def _usage_closer(settings: Settings, engine: Engine, plugins: PluginHost, node: ClusterNode | None) -> UsageCloser:
    """The usage_day_closed topic's job (no job while no plugin subscribes); in cluster mode its mark is in the
    bucket and `guard` runs it under the `retention` lease, over every node's published segments."""
    marks: ClosedDays = MetaClosedDays(engine.meta)
    if node is not None:
        marks = ClusterClosedDays(node.store, node.keeper, node.identity.node_id)
    compute = query_compute(engine.query)
    return UsageCloser(settings.plugins, plugins, meta_projects(engine.meta), compute, marks)


def _monitors(
    settings: Settings, engine: Engine, alerts: AlertService, node: ClusterNode | None, read_only: ReadOnlyMode
) -> MonitorService:
    """Synthetic monitors: runs into this node's WAL, requests under the alerts' outbound address policy, secrets
    sealed with the alerts' key; a run's linked rules are evaluated at once where the alert evaluator runs (this
    node, or in cluster mode the `alerts` lease holder; elsewhere they wait for their own interval there)."""
    m, policy = settings.monitors, alerts.limits.targets

    async def evaluate(project_id: str, rule_ids: tuple[str, ...]) -> None:
        if settings.alerts.enabled and (node is None or node.holds("alerts") is not None):
            await alerts.evaluator.evaluate_now(project_id, rule_ids)

    def refusal(project_id: str) -> str | None:
        """Why a run's trace may not go into the WAL now: what ingest admission refuses (api/ingest/admission.py)."""
        reason = read_only.reason()
        if reason is not None:
            return f"the node is read-only: {reason}"
        try:
            engine.data_keys.cipher(project_id)
        except KeyUnavailable as exc:
            return f"the project's encryption key is locked: {exc}"
        pressure = engine.backpressure()
        return pressure.reason if pressure is not None else None

    runner = Runner(
        engine.meta, alerts.box, m, settings.ingest, policy, engine.append_async, engine.wait_processed, evaluate,
        refusal,
    )  # fmt: skip
    limits = MonitorLimits(
        m.min_interval_s, m.default_interval_s, m.max_timeout_s, m.default_timeout_s, m.max_pattern_length, policy
    )
    return MonitorService(m, engine.meta, runner, limits, alerts.limits)


async def start(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    on_fenced: Callable[[str], None] | None = None,
    metrics: PlatformMetrics | None = None,
) -> Services:
    """Start the components in order, registering each one's stop on `stack` right after it started: a failing
    step stops the ones before it, and a normal stop runs in reverse (the OTLP/gRPC receiver, exports, scheduler,
    pipeline and flusher, alerts, the last key-use write, the mail worker, the cluster node's leases and heartbeat,
    the engine with its final flush). `on_fenced(reason)` is called, from a thread, when another process claims this
    cluster node."""
    # plugins first: the engine's replay already emits topics; a plugin that fails to load is reported, not fatal
    plugins = await asyncio.to_thread(PluginHost.start, settings.plugins)
    stack.callback(plugins.close)  # last to stop: the engine's final flush may still emit
    # custom prices are read before the engine replays the WAL, so replayed spans are priced with them
    costs = CostEnricher(PriceBook(await asyncio.to_thread(read_prices_at, settings.data_dir)))
    engine = await asyncio.to_thread(Engine.open, settings, [costs], plugins, plugins.span_hooks)
    stack.push_async_callback(asyncio.to_thread, engine.close)  # the final flush: a clean stop leaves no replay
    read_only = _read_only_mode(settings, engine)
    cluster: ClusterNode | ClusterObserver | None = None
    if settings.cluster.enabled and settings.server.read_only:  # reads the manifests, writes nothing
        cluster = await _cluster_observer(settings, engine)
    elif settings.cluster.enabled:  # refuses a store, a data dir or a node id the cluster cannot take (ClusterError)
        cluster = await _cluster_node(settings, engine, on_fenced or (lambda reason: None))
        stack.push_async_callback(asyncio.to_thread, cluster.stop)  # leases released, heartbeat marked stopped
    prices = PriceReloader(engine.meta, lambda custom: setattr(costs, "book", PriceBook(custom)))
    await asyncio.to_thread(prices.reload)
    auth = AuthComponents.build(settings, engine.meta)
    stack.push_async_callback(asyncio.to_thread, auth.close)  # the mail worker
    await asyncio.to_thread(auth.refresh)
    keys = KeyRing(engine.meta)
    await asyncio.to_thread(keys.refresh)
    if not settings.server.read_only:
        stack.push_async_callback(asyncio.to_thread, keys.write_last_used)
    # JWKS documents are fetched under the alert deliveries' outbound address policy (no internal addresses)
    jwks_fetch = functools.partial(
        fetch_small,
        policy=TargetPolicy.from_settings(settings.alerts),
        timeout_s=settings.auth.jwt_jwks_timeout_s,
        max_bytes=settings.auth.jwt_jwks_max_bytes,
    )
    jwt = JwtVerifier(engine.meta, settings.auth, jwks_fetch)
    await asyncio.to_thread(jwt.refresh)
    default_project = await asyncio.to_thread(get_setting, engine.meta, "default_project_id")
    node = cluster if isinstance(cluster, ClusterNode) else None  # an observer (read-only) writes nothing
    # in cluster mode each rule's state is in the bucket, written under the alerts lease (docs/format/cluster.md),
    # and the channels' sealing key is the one the cluster's metadata carries (alerts/clusterkey.py)
    shared = AlertStateStore(node.store, node.keeper, node.identity.node_id) if node is not None else None
    cluster_key = None
    if cluster is not None:
        holder = node.holds if node is not None else (lambda job: None)
        cluster_key = ClusterKey(engine.data_keys.kek, lambda: holder("metadata") is not None)
    alerts = await AlertService.start(
        settings,
        engine.meta,
        engine.query,
        auth.mailer,
        settings.smtp.from_address,
        shared,
        cluster_key,
        plugins,
        channels=plugins.channel_types(),  # the notification channel types of the loaded plugins
    )
    stack.push_async_callback(alerts.close)
    # platform alerts: this node's own health read from the /metrics registry, notified through the deliverer
    platform_alerts = await PlatformAlerts.start(
        settings,
        metrics.registry.collect if metrics is not None else list,
        alerts.deliverer,
        alerts.limits.channels,
        alerts.limits.email_enabled,
        Node(engine.lifecycle.ctx.node_id, socket.gethostname(), settings.cluster.enabled),
    )
    stack.push_async_callback(platform_alerts.close)  # before the deliverer closes under its deliveries
    # plugins turned on per project: their secret values are sealed with the alerts secrets key
    project_plugins = ProjectPlugins(engine.meta, alerts.box, plugins.set_projects, settings.plugins.project_reload_s)
    await asyncio.to_thread(project_plugins.reload)
    monitors = _monitors(settings, engine, alerts, node, read_only)
    stack.push_async_callback(monitors.close)  # runs in flight are cancelled before the engine closes
    # the metadata log applied (a node, or a read-only observer): every in-memory copy of the changed tables reloads
    replicator = cluster.meta if cluster is not None else None
    if replicator is not None:
        replicator.on_applied = _meta_applied(
            engine, keys, auth, prices, jwt, alerts, settings.server.read_only, project_plugins
        )
    await stack.enter_async_context(engine.tasks())
    # compaction, retention, deletion purge, offload, disk guard and backups are the lifecycle's jobs
    components: list[Periodic] = [
        keys, auth, prices, engine.pii_settings, alerts, platform_alerts, monitors, engine.lifecycle, read_only,
        project_plugins,
    ]  # fmt: skip
    if cluster is not None:
        components.append(cluster)  # heartbeat and lease ticks
    components.append(_usage_closer(settings, engine, plugins, node))
    guard = node.guard if node is not None else None
    job_runs: dict[str, JobRuns] = {}
    scheduler = _scheduler(components, guard, read_only=settings.server.read_only, runs=job_runs)
    scheduler.start()
    stack.callback(scheduler.shutdown, wait=False)
    exports = ExportRunner(settings.api)
    stack.push_async_callback(asyncio.to_thread, exports.close)  # before the engine closes under them
    svc = Services.assemble(
        settings, engine, keys, default_project, auth, exports, prices=prices, alerts=alerts, cluster=cluster, jwt=jwt,
        read_only=read_only, plugins=plugins, job_runs=job_runs, project_plugins=project_plugins,
        monitors=monitors,
        platform_alerts=platform_alerts,
    )  # fmt: skip
    node_id = node.identity.node_id if node is not None else ""
    context = PluginContext(
        node_id=node_id,
        data_dir=settings.data_dir,
        read_trace=trace_reader(engine),
        write_scores=score_writer(engine, settings, read_only.reason),
        put_object=object_writer(engine.lifecycle.bucket, settings.data_dir),  # narrowed to plugins/<name>/
        http_post=blocking_post(TargetPolicy.from_settings(settings.alerts)),  # the alert deliveries' policy
        target_policy=TargetPolicy.from_settings(settings.alerts),
    )
    await asyncio.to_thread(plugins.started, context)
    if settings.server.otlp_grpc_port:
        receiver = OtlpGrpcServer(svc)
        await receiver.start()
        stack.push_async_callback(receiver.stop)  # first to stop: no export reaches the engine once it closes
    return svc


def begin_stop(app: Starlette) -> None:
    """The first step of SIGTERM, before the HTTP server waits for open responses: cut running exports, whose
    clients may not be reading (the rest of the stop is the lifespan's). Call on the event loop."""
    svc: Services | None = getattr(app.state, "services", None)
    if svc is not None:
        svc.exports.abort_all("the server is stopping")


def _failed_start(app: Starlette, exc: Exception) -> None:
    """Keep why the start failed for the server's exit (granian reports only that the lifespan failed)."""
    if isinstance(exc, ClusterError | DataDirBusy):  # a refusal whose message says what to do
        log.error("start refused: %s", exc)
    else:  # granian reports a failed lifespan only as "ASGI lifespan startup": the reason is said here
        log.error("start failed error=%s", exc, exc_info=exc)
    app.state.failure = str(exc) or type(exc).__name__


def _stop_fenced(app: Starlette, reason: str) -> None:
    """Another process claims this cluster node: stop taking requests and stop as on SIGTERM (the final flush
    keeps every acknowledged event in this data dir); the process then exits with an error. On the loop."""
    app.state.failure = f"this node was fenced and stopped: {reason}"
    svc: Services | None = getattr(app.state, "services", None)
    if svc is not None:
        svc.ready = False  # /readyz: 503, the load balancer stops sending here
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(settings: Settings) -> Starlette:
    metrics = PlatformMetrics(settings.metrics)  # GET /metrics: this app's own registry (api/platform_metrics.py)
    init_sentry(settings.sentry)  # only with [sentry] dsn set (api/sentry_report.py)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        app.state.failure = None

        def fenced(reason: str) -> None:  # from the thread whose heartbeat write found out
            loop.call_soon_threadsafe(_stop_fenced, app, reason)

        async with contextlib.AsyncExitStack() as stack:
            try:
                svc = await start(stack, settings, on_fenced=fenced, metrics=metrics)
            except Exception as exc:
                _failed_start(app, exc)
                raise
            app.state.services = svc
            metrics.services = svc
            stack.callback(setattr, svc, "ready", False)  # the stop's first step: /readyz answers 503
            svc.ready = True
            log.info("ready data_dir=%s", settings.data_dir)
            yield
        log.info("stopped cleanly")

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi),
        Route("/v1/version", version),
        *metrics_routes,  # GET /metrics: Prometheus' text format
        *ingest.routes,  # data in: native events, OTLP, Langfuse, score writes
        *query.routes,  # data out: traces, spans, metrics, scores, prompts, the export
        *accounts.routes,  # people: login, members, invitations, SSO, SCIM
        *admin.routes,  # a project's administration: keys, settings, audit, usage, deletion, prices, alerts
        *web_routes.routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            # outermost: every answer counted, refusals included; not there at all with [metrics] enabled = false
            *([Middleware(RequestMetrics, metrics=metrics)] if settings.metrics.enabled else []),
            Middleware(BodyGuard, settings=settings.server),  # body timeouts, per-address upload cap
            Middleware(ReadOnlyGate),  # writes refused while read-only (api/readonly.py)
            Middleware(MetaForward, settings=settings),  # cluster mode: metadata writes go to the metadata lease holder
            Middleware(MetaSeqHeader),  # cluster mode: the metadata log seq a request's writes reached
        ],
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error_handler,
            ClientDisconnect: client_disconnected,  # mid-upload hang-ups: one debug line, not a traceback
            # bucket unreachable or an encrypted project without its key: 503; offloaded range over the cache: 422
            **unavailable.EXCEPTION_HANDLERS,
            404: not_found,
            405: method_not_allowed,
            500: internal_error,
        },
    )
    app.state.metrics = metrics
    return app
