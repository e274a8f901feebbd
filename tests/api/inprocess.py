"""The app in this process: routes answered through `httpx.ASGITransport`, no socket and no granian.

Two ways to run it, both from `lynex_box.app.create_app` (so every route, middleware and exception handler is the
server's own):
- `running_app(settings)`: the app's own lifespan on a data dir (`init_data_dir` makes one as `lynex-box init`
  does), so the real engine, key ring and auth answer. For routes that need stored data or a real API key.
- `app_with(settings, engine=..., ...)`: the lifespan is not run; `app.state.services` is a `Services` holding only
  what the test gives (the rest None), e.g. a fake engine whose `backpressure()` and query pool say what the test
  needs. For routes that read a state a real server reaches only under load (`/readyz`) or that read nothing.

`tests/e2e/` stays the contract of the real server (sockets, granian, processes, signals); tests here check what a
route answers. Only `lynex_box.app.create_app`, `lynex_box.api.services` and `lynex_box.api.errors` are imported:
names that stay put when route modules move.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from starlette.applications import Starlette

from lynex_box.api.services import Services
from lynex_box.app import create_app
from lynex_box.cli import main as cli
from lynex_box.config import Settings, load_settings
from lynex_box.query.pool import PoolStats

BASE_URL = "http://lynex.test"


def settings_for(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings of an in-process app; no free-disk floor (a test's tmp dir may sit on a small disk), no OTLP/gRPC
    receiver (routes are called without sockets)."""
    overrides: dict[str, dict[str, Any]] = {"server": {"data_dir": str(data_dir), "otlp_grpc_port": 0}, **sections}
    overrides["ingest"] = {"min_free_disk_bytes": 0, **overrides.get("ingest", {})}
    return load_settings(env={}, overrides=overrides)


def init_data_dir(data_dir: Path) -> dict[str, Any]:
    """`lynex-box init`: the default org, project, admin and API key; its JSON (project_id, api_key, ...)."""
    result = CliRunner().invoke(cli, ["init", "--data-dir", str(data_dir), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app with its lifespan run (start-up before the first request, the clean stop after the last)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_of(app) as client:
        yield app, client


@contextlib.asynccontextmanager
async def app_with(settings: Settings, **given: Any) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The app without its lifespan; `Services` fields from `given`, every other one None (`ready` defaults True).

    The Services object is yielded so a test can change a field (e.g. `ready`) between requests."""
    values: dict[str, Any] = {"settings": settings, "ready": True, **given}
    unknown = set(values) - {f.name for f in dataclasses.fields(Services)}
    assert not unknown, f"Services has no field(s) {sorted(unknown)}"
    missing: dict[str, Any] = {
        f.name: None
        for f in dataclasses.fields(Services)
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    svc = Services(**values, **missing)
    app = create_app(settings)
    app.state.services = svc
    async with client_of(app) as client:
        yield svc, client


# ---------------------------------------------------------------------------------------------- fakes for /readyz
@dataclass
class Pressure:
    """What `Engine.backpressure()` answers when ingest must wait."""

    reason: str
    retry_after_s: int


def idle(workers: int) -> PoolStats:
    return PoolStats(workers=workers, busy=0, waiting=0, saturated_s=0.0)


@dataclass
class FakePool:
    """A worker pool that reports what the test sets: `full` is what `saturated()` answers."""

    workers: int = 4
    full: PoolStats | None = None

    def saturated(self) -> PoolStats | None:
        return self.full

    def stats(self) -> PoolStats:
        return self.full or idle(self.workers)


@dataclass
class FakeQuery:
    pool: FakePool = field(default_factory=FakePool)


@dataclass
class FakeEngine:
    """Only what `/readyz` reads of the engine: its backpressure and its query pool."""

    pressure: Pressure | None = None
    query: FakeQuery = field(default_factory=FakeQuery)

    def backpressure(self) -> Pressure | None:
        return self.pressure


@dataclass
class FakeExports:
    """The export runner's pool stats, as `/readyz` lists them."""

    pool: FakePool = field(default_factory=lambda: FakePool(workers=2))

    def stats(self) -> PoolStats:
        return self.pool.stats()
