"""The components a request handler may use, built once by app.py and kept on `app.state.services`; `write` runs an
account operation in one meta.db transaction.

Routes use the engine only through its public entry points (`append_async`, `wait_processed`, `backpressure`,
`query`); what they keep in meta.db they reach through the repositories here (`accounts`, `projects`, `audit`,
`scores`, `prompts`), made from the engine's meta.db by `Services.assemble`, so no route module knows where or how it is
stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import apsw
from starlette.requests import Request

from lynex_box.alerts.platform.service import PlatformAlerts
from lynex_box.alerts.service import AlertService
from lynex_box.api.errors import domain_error
from lynex_box.auth.accounts import Accounts, Projects
from lynex_box.auth.components import AuthComponents
from lynex_box.auth.errors import AdminError, Conflict, Denied, NotFound
from lynex_box.auth.jwt_verifier import JwtVerifier
from lynex_box.auth.keys import KeyRing
from lynex_box.cluster.node import ClusterNode
from lynex_box.cluster.observer import ClusterObserver
from lynex_box.config import Settings
from lynex_box.engine import Engine
from lynex_box.jobs import JobRuns
from lynex_box.lifecycle.export_runner import ExportRunner
from lynex_box.lifecycle.readonly import ReadOnlyMode
from lynex_box.lifecycle.service import Lifecycle
from lynex_box.meta.audit import AuditLog
from lynex_box.meta.prices import PriceReloader
from lynex_box.meta.project_plugins import ProjectPlugins
from lynex_box.monitors.service import MonitorService
from lynex_box.plugins.events import NO_EVENTS, Events
from lynex_box.plugins.host import PluginHost
from lynex_box.prompts.registry import PromptRegistry
from lynex_box.scores import ScoreReader
from lynex_box.segments.datakeys import DataKeys

T = TypeVar("T")


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: Engine  # ingest and queries: append_async, wait_processed, backpressure, query
    keys: KeyRing
    default_project_id: str | None
    auth: AuthComponents
    exports: ExportRunner  # the export pool: its own threads, per-project admission, a time budget
    ready: bool = False
    prices: PriceReloader | None = None  # custom prices: reloaded after an API write and periodically
    alerts: AlertService | None = None  # alert rules' evaluation and notification delivery
    cluster: ClusterNode | ClusterObserver | None = None  # this node of the cluster (an observer when read-only)
    jwt: JwtVerifier | None = None  # JWTs of the issuers projects trust, accepted as ingest keys
    read_only: ReadOnlyMode | None = None  # manual or automatic read-only mode (api/readonly.py gates writes)
    plugins: PluginHost | None = None  # the loaded plugins, for GET /v1/plugins
    events: Events = NO_EVENTS  # topics routes emit (project created, member added): the plugin host
    job_runs: dict[str, JobRuns] = field(default_factory=dict)  # each scheduled job's turns (GET /metrics)
    project_plugins: ProjectPlugins | None = None  # plugins turned on and configured per project
    monitors: MonitorService | None = None  # synthetic monitors: their runs (scheduled, and "run now")
    # the repositories routes use instead of the engine's insides (`assemble` makes them from its meta.db)
    accounts: Accounts = field(kw_only=True)  # users, orgs, memberships, invitations; account transactions
    projects: Projects = field(kw_only=True)  # a project's record, settings, API keys, custom prices
    audit: AuditLog = field(kw_only=True)
    scores: ScoreReader = field(kw_only=True)
    prompts: PromptRegistry = field(kw_only=True)
    data_keys: DataKeys = field(kw_only=True)  # per-project encryption: status, enabling, the locked check
    lifecycle: Lifecycle = field(kw_only=True)  # deletion and repricing, on the lifecycle's own thread
    platform_alerts: PlatformAlerts | None = None  # this node's own health checks (GET /v1/platform-alerts)

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        engine: Engine,
        keys: KeyRing,
        default_project_id: str | None,
        auth: AuthComponents,
        exports: ExportRunner,
        *,
        prices: PriceReloader | None = None,
        alerts: AlertService | None = None,
        cluster: ClusterNode | ClusterObserver | None = None,
        jwt: JwtVerifier | None = None,
        read_only: ReadOnlyMode | None = None,
        plugins: PluginHost | None = None,
        job_runs: dict[str, JobRuns] | None = None,
        project_plugins: ProjectPlugins | None = None,
        monitors: MonitorService | None = None,
        platform_alerts: PlatformAlerts | None = None,
    ) -> Services:
        """The services of a running engine: its repositories are made from its meta.db here, once."""
        meta = engine.meta
        events: Events = plugins if plugins is not None else NO_EVENTS
        return cls(
            settings, engine, keys, default_project_id, auth, exports, prices=prices, alerts=alerts, cluster=cluster,
            jwt=jwt, read_only=read_only, plugins=plugins, events=events,
            job_runs=job_runs if job_runs is not None else {}, project_plugins=project_plugins,
            monitors=monitors,
            accounts=Accounts(meta), projects=Projects(meta, events), audit=AuditLog(meta), scores=ScoreReader(meta),
            prompts=PromptRegistry(meta), data_keys=engine.data_keys, lifecycle=engine.lifecycle,
            platform_alerts=platform_alerts,
        )  # fmt: skip


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def write(svc: Services, fn: Callable[[apsw.Connection], T]) -> T:
    """Run `fn(conn)` in one meta.db transaction in a thread; account errors become API errors."""
    try:
        return await asyncio.to_thread(svc.accounts.write, fn)
    except (AdminError, Denied, NotFound, Conflict) as exc:
        raise domain_error(exc) from None
