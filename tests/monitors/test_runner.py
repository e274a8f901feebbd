"""The runner on a real meta.db, a real sealing key and a real local app, with the WAL append and the rules'
evaluation given as recorders: what reaches the WAL, what is refused, what a run records."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lynex_box.alerts.sealing import SecretBox
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.auth.admin import CLI_ACTOR
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.config import IngestSettings, MonitorsSettings
from lynex_box.meta.db import MetaDB
from lynex_box.monitors import store
from lynex_box.monitors.runner import Runner
from lynex_box.monitors.spec import MonitorLimits, parse_monitor
from lynex_box.wal.records import RecordHeader, RecordType
from tests.e2e.monitored_app import LocalServer

OPEN = TargetPolicy(allowed=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[MetaDB, str, LocalServer]]:
    db = MetaDB(tmp_path / "meta.db")
    boot = bootstrap_if_empty(db)
    assert boot is not None
    app = LocalServer().start()
    try:
        yield db, boot.project_id, app
    finally:
        app.stop()
        db.close()


def _runner(db: MetaDB, refusal: Any, appended: list[tuple[RecordHeader, bytes]], evaluated: list[Any]) -> Runner:
    async def append(rtype: RecordType, header: RecordHeader, body: bytes) -> int:
        appended.append((header, body))
        return len(appended)

    async def wait_processed(lsn: int, timeout_s: float) -> bool:
        return True

    async def evaluate(project_id: str, rule_ids: tuple[str, ...]) -> None:
        evaluated.append((project_id, rule_ids))

    box = SecretBox(secrets.token_bytes(32))
    return Runner(db, box, MonitorsSettings(), IngestSettings(), OPEN, append, wait_processed, evaluate, refusal)


def _monitor(db: MetaDB, runner: Runner, project: str, app: LocalServer) -> store.StoredMonitor:
    doc = {"name": "r", "target": {"type": "http", "url": f"{app.url}/r", "headers": {"X-Token": "t0ken-value"}}}
    spec = parse_monitor(doc, MonitorLimits(targets=OPEN))
    monitor = db.write(lambda c: store.create(c, runner.box, project, spec, CLI_ACTOR, 10))
    return db.write(lambda c: store.set_rules(c, monitor, ["alr_1"]))


def test_a_run_goes_to_the_wal_and_its_rules_are_evaluated(world: tuple[MetaDB, str, LocalServer]) -> None:
    db, project, app = world
    appended: list[tuple[RecordHeader, bytes]] = []
    evaluated: list[Any] = []
    runner = _runner(db, lambda pid: None, appended, evaluated)
    monitor = _monitor(db, runner, project, app)
    run = asyncio.run(runner.run(monitor))
    assert run["ok"] and run["trace_stored"] and evaluated == [(project, ("alr_1",))]
    [(header, body)] = appended
    assert header.project_id == project and header.source == "sdk"
    [root] = orjson.loads(body)["events"]
    assert root["trace_id"] == run["trace_id"] and root["name"] == "synthetic r"
    assert b"t0ken-value" not in body  # header values never reach the trace
    assert app.requests_to("/r")[-1].headers["x-token"] == "t0ken-value"
    [stored] = store.list_runs(db.reader(), project, monitor.id, 10)
    assert stored["id"] == run["id"] and stored["ok"] is True


def test_a_refused_trace_is_not_appended_but_the_run_is_recorded(world: tuple[MetaDB, str, LocalServer]) -> None:
    db, project, app = world
    appended: list[tuple[RecordHeader, bytes]] = []
    evaluated: list[Any] = []
    runner = _runner(db, lambda pid: "the node is read-only: by hand", appended, evaluated)
    monitor = _monitor(db, runner, project, app)
    run = asyncio.run(runner.run(monitor))
    assert appended == [] and evaluated == []  # nothing new to evaluate either
    assert run["trace_stored"] is False and run["error"] == "trace not stored: the node is read-only: by hand"
    assert store.list_runs(db.reader(), project, monitor.id, 10)[0]["error"] == run["error"]


def test_only_the_newest_runs_are_kept(world: tuple[MetaDB, str, LocalServer]) -> None:
    db, project, app = world
    runner = _runner(db, lambda pid: None, [], [])
    runner.settings = MonitorsSettings(runs_kept=2)
    monitor = _monitor(db, runner, project, app)
    ids = [asyncio.run(runner.run(monitor))["id"] for _ in range(3)]
    assert [r["id"] for r in store.list_runs(db.reader(), project, monitor.id, 10)] == ids[:0:-1]
