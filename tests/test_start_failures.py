"""A start that fails half-way releases what it took: no thread, no file descriptor, not the data dir's lock.

Each step of `Engine.open` and of the app's lifespan is made to raise in turn (in-process: the Starlette lifespan
runs through `app.router.lifespan_context`), then the test checks that the threads and descriptors of the process
are those of before and that another engine can open the same data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from lynex_box.api.ingest.otlp_grpc import GrpcListenError
from lynex_box.app import create_app
from lynex_box.cluster import cluster_status
from lynex_box.config import Settings, load_settings
from lynex_box.engine import Engine
from lynex_box.objstore import S3Store
from tests.e2e.server import free_port
from tests.objstore.conftest import MotoServer, bucket, moto_server  # noqa: F401 - fixtures used here


class Boom(RuntimeError):
    """The failure a step is made to raise."""


def settings_for(data_dir: Path, grpc_port: int | None = None) -> Settings:
    """The default settings on `data_dir`, with the OTLP/gRPC receiver on a free port (or `grpc_port`): the start
    takes it like every other step, and 4317 may be another process's."""
    server = {"data_dir": str(data_dir), "otlp_grpc_port": free_port() if grpc_port is None else grpc_port}
    return load_settings(env={}, overrides={"server": server})


def fds() -> set[tuple[str, str]]:
    """The open descriptors and what they point to (the listing's own descriptor is closed by then: left out)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue
    return found


def threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def assert_nothing_leaked(
    data_dir: Path, before_threads: set[threading.Thread], before_fds: set[tuple[str, str]]
) -> None:
    deadline = time.monotonic() + 10  # generous: a thread that was told to stop may take a moment to end
    while time.monotonic() < deadline and (threads() - before_threads or fds() - before_fds):
        time.sleep(0.05)
    leaked_threads = sorted(t.name for t in threads() - before_threads)
    leaked_fds = sorted(fds() - before_fds)
    assert leaked_threads == [] and leaked_fds == [], f"threads {leaked_threads}, descriptors {leaked_fds}"
    Engine.open(settings_for(data_dir)).close()  # the data dir's lock is free


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise Boom("this step fails on purpose")


def _patch(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """Make `module:attr.path` raise when called."""
    module_name, path = target.split(":")
    owner: Any = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    monkeypatch.setattr(owner, name, _raise)


@pytest.fixture(scope="module")
def warmed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One full start and stop first: libraries open what they keep for the whole process (DuckDB, the UI's files)."""
    asyncio.run(_lifespan(create_app(settings_for(tmp_path_factory.mktemp("warm") / "data"))))


@pytest.fixture
def baseline(tmp_path: Path, warmed: None) -> Callable[[], None]:
    """The process's threads and descriptors now; calling the result asserts that nothing was left beyond them."""
    before_threads, before_fds = threads(), fds()
    return lambda: assert_nothing_leaked(tmp_path / "data", before_threads, before_fds)


async def _lifespan(app: Any) -> None:
    async with app.router.lifespan_context(app):
        pass


# The steps of Engine.open, in order: each one fails after the ones before it took their resources.
ENGINE_STEPS = [
    "lynex_box.engine:MetaDB",
    "lynex_box.meta.db:migrate",  # inside MetaDB, after its writer connection opened
    "lynex_box.engine:Catalog",
    "lynex_box.engine:DataKeys.open",
    "lynex_box.engine:SpanStore",
    "lynex_box.engine:WalLog.open",
    "lynex_box.engine:forget_applied_after",
    "lynex_box.engine:seed_recent_ids",
    "lynex_box.engine:Pipeline",
    "lynex_box.engine:QueryHooks.open",
    "lynex_box.engine:QueryEngine",
    "lynex_box.lifecycle.service:QueryEngine",  # the lifecycle's scanner, after its own DuckDB connection
    "lynex_box.engine:Lifecycle",
    "lynex_box.pipeline.runner:Pipeline.process_available",  # the WAL replay
    "lynex_box.engine:refuse_locked_head",
]

# The steps of Engine.open_read_only (a CLI command beside a running server).
READ_ONLY_STEPS = [
    "lynex_box.engine:Catalog",
    "lynex_box.engine:SpanStore",
    "lynex_box.engine:QueryEngine",
    "lynex_box.engine:Lifecycle",
]

# The steps of the app's start, in order (app.start); in cluster mode the cluster node starts after the engine (the
# last test).
APP_STEPS = [
    "lynex_box.app:Engine.open",
    "lynex_box.meta.prices:PriceReloader.reload",
    "lynex_box.auth.components:AuthComponents.build",
    "lynex_box.auth.components:AuthComponents.refresh",
    "lynex_box.auth.keys:KeyRing.refresh",
    "lynex_box.auth.jwt_verifier:JwtVerifier.refresh",
    "lynex_box.app:get_setting",
    "lynex_box.alerts.service:AlertService.start",
    "lynex_box.alerts.platform.service:PlatformAlerts.start",
    "lynex_box.engine:Engine.tasks",  # the pipeline and flusher tasks
    "apscheduler.schedulers.asyncio:AsyncIOScheduler.start",
    "lynex_box.lifecycle.export_runner:ExportRunner.__init__",
    "lynex_box.app:Services.assemble",  # every component has started
    "lynex_box.api.ingest.otlp_grpc:OtlpGrpcServer.start",  # the OTLP/gRPC receiver (a taken port: below)
]


def test_a_clean_start_and_stop_leaves_nothing(tmp_path: Path, baseline: Callable[[], None]) -> None:
    asyncio.run(_lifespan(create_app(settings_for(tmp_path / "data"))))
    baseline()


@pytest.mark.parametrize("step", ENGINE_STEPS)
def test_a_failing_engine_open_step_releases_the_steps_before_it(
    step: str, tmp_path: Path, baseline: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        _patch(patched, step)
        with pytest.raises(Boom):
            Engine.open(settings_for(tmp_path / "data"))
    baseline()


@pytest.mark.parametrize("step", APP_STEPS)
def test_a_failing_app_start_step_stops_what_started_before_it(
    step: str, tmp_path: Path, baseline: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        _patch(patched, step)
        with pytest.raises(Boom):
            asyncio.run(_lifespan(create_app(settings_for(tmp_path / "data"))))
    baseline()


@contextlib.asynccontextmanager
async def _occupied(occupant: str) -> AsyncIterator[int]:
    """A port taken by a listening socket, or by a gRPC server with gRPC's default options (SO_REUSEPORT on, as
    another lynex-box or a collector built on gRPC's core would hold it)."""
    if occupant == "socket":
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            yield taken.getsockname()[1]
        return
    other = grpc.aio.server()
    port = other.add_insecure_port("127.0.0.1:0")
    await other.start()
    try:
        yield port
    finally:
        await other.stop(None)


@pytest.mark.parametrize("occupant", ["socket", "grpc"])
def test_a_taken_otlp_grpc_port_fails_the_start_naming_the_setting_and_leaves_nothing(
    tmp_path: Path, warmed: None, occupant: str
) -> None:
    async def attempt(data_dir: Path) -> None:
        async with _occupied(occupant) as port:
            with pytest.raises(GrpcListenError, match=r"\[server\] otlp_grpc_port .* or 0 to turn it off"):
                await _lifespan(create_app(settings_for(data_dir, grpc_port=port)))

    # gRPC's core keeps a poller (an epoll and an eventfd) for the rest of the process after its first failed
    # bind; later ones take nothing more (measured). So one failure first, then the one that is counted.
    for name in ("warm", "counted"):
        before_threads, before_fds = threads(), fds()
        asyncio.run(attempt(tmp_path / name))
    assert_nothing_leaked(tmp_path / name, before_threads, before_fds)


@pytest.mark.parametrize("step", READ_ONLY_STEPS)
def test_a_failing_read_only_open_step_releases_the_steps_before_it(
    step: str, tmp_path: Path, baseline: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    Engine.open(settings_for(tmp_path / "data")).close()  # a data dir to read
    scratch = set(Path(tempfile.gettempdir()).glob("lynex-cli-*"))
    with monkeypatch.context() as patched:
        _patch(patched, step)
        with pytest.raises(Boom):
            Engine.open_read_only(settings_for(tmp_path / "data"))
    baseline()
    assert set(Path(tempfile.gettempdir()).glob("lynex-cli-*")) <= scratch  # its scratch directory is gone


def test_a_start_that_fails_after_the_cluster_node_started_gives_its_leases_and_node_id_back(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moto_server: MotoServer,  # noqa: F811
    bucket: str,  # noqa: F811
) -> None:
    """In cluster mode the node's stop runs too: its leases are released and its heartbeat marked stopped, so
    another node takes the leases at once and this node id starts again without waiting (the threads and
    descriptors of the object store's client are its own, so only the bucket and the data dir's lock are checked)."""
    s3 = moto_server.settings(bucket, prefix="deploy")
    settings = load_settings(
        env={},
        overrides={
            "server": {"data_dir": str(tmp_path / "data")},
            "bucket": {"type": "s3", "bucket": bucket, "endpoint": s3.endpoint, "prefix": "deploy",
                       "access_key_id": "testing", "secret_access_key": "testing", "allow_http": True},
            "cluster": {"enabled": True, "lease_ttl_s": 3.0, "heartbeat_s": 0.5, "max_clock_skew_s": 0.5},
        },
    )  # fmt: skip
    with monkeypatch.context() as patched:
        _patch(patched, "lynex_box.meta.prices:PriceReloader.reload")  # the step after the cluster node's start
        with pytest.raises(Boom):
            asyncio.run(_lifespan(create_app(settings)))
    state = cluster_status(S3Store(s3), lease_ttl_s=3.0)
    assert state.founding is not None and [row.heartbeat.heartbeat_at for row in state.nodes] == [0]
    assert state.leases and all(lease.expires_at == 0 for lease in state.leases)  # released, not left to expire
    assert [t.name for t in threads() if t.name == "cluster-publish"] == []  # the publisher's thread ended
    Engine.open(settings).close()  # the data dir's lock is free
