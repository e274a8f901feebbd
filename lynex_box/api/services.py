"""The components a request handler may use, built once by app.py and kept on `app.state.services`; `write` runs an
account operation in one meta.db transaction.

Routes use the engine only through its public entry points (`append_async`, `wait_processed`, `backpressure`,
`query`); what they keep in meta.db they reach through the repositories here (`accounts`, `projects`, `audit`,
`scores`, `prompts`), made from the engine's meta.db with the rest, so no route module knows where or how it is
stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import apsw
from starlette.requests import Request

from lynex_box.alerts.service import AlertService
from lynex_box.api.errors import domain_error
from lynex_box.auth.accounts import Accounts, Projects
from lynex_box.auth.components import AuthComponents
from lynex_box.auth.errors import AdminError, Conflict, Denied, NotFound
from lynex_box.auth.keys import KeyRing
from lynex_box.config import Settings
from lynex_box.engine import Engine
from lynex_box.lifecycle.export_runner import ExportRunner
from lynex_box.lifecycle.service import Lifecycle
from lynex_box.meta.audit import AuditLog
from lynex_box.meta.prices import PriceReloader
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
    # made from the engine's parts (`__post_init__`)
    accounts: Accounts = field(init=False)  # users, orgs, memberships, invitations; account transactions
    projects: Projects = field(init=False)  # a project's record, settings, API keys, custom prices
    audit: AuditLog = field(init=False)
    scores: ScoreReader = field(init=False)
    prompts: PromptRegistry = field(init=False)
    data_keys: DataKeys = field(init=False)  # per-project encryption: status, enabling, the locked check
    lifecycle: Lifecycle = field(init=False)  # deletion and repricing, on the lifecycle's own thread

    def __post_init__(self) -> None:
        meta = self.engine.meta
        self.accounts = Accounts(meta)
        self.projects = Projects(meta)
        self.audit = AuditLog(meta)
        self.scores = ScoreReader(meta)
        self.prompts = PromptRegistry(meta)
        self.data_keys = self.engine.data_keys
        self.lifecycle = self.engine.lifecycle


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def write(svc: Services, fn: Callable[[apsw.Connection], T]) -> T:
    """Run `fn(conn)` in one meta.db transaction in a thread; account errors become API errors."""
    try:
        return await asyncio.to_thread(svc.accounts.write, fn)
    except (AdminError, Denied, NotFound, Conflict) as exc:
        raise domain_error(exc) from None
