"""The components a request handler may use, built once by app.py and kept on `app.state.services`; `write` runs an
account operation in one meta.db transaction."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from lynex_box.alerts.service import AlertService
from lynex_box.api.errors import domain_error
from lynex_box.auth.components import AuthComponents
from lynex_box.auth.errors import AdminError, Conflict, Denied, NotFound
from lynex_box.auth.keys import KeyRing
from lynex_box.config import Settings
from lynex_box.engine import Engine
from lynex_box.lifecycle.export_runner import ExportRunner
from lynex_box.meta.prices import PriceReloader


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: Engine
    keys: KeyRing
    default_project_id: str | None
    auth: AuthComponents
    exports: ExportRunner  # the export pool: its own threads, per-project admission, a time budget
    ready: bool = False
    prices: PriceReloader | None = None  # custom prices: reloaded after an API write and periodically
    alerts: AlertService | None = None  # alert rules' evaluation and notification delivery


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def write(svc: Services, fn: Any) -> Any:
    """Run `fn(conn)` in one meta.db transaction in a thread; account errors become API errors."""
    try:
        return await asyncio.to_thread(svc.engine.meta.write, fn)
    except (AdminError, Denied, NotFound, Conflict) as exc:
        raise domain_error(exc) from None
