"""A data dir written by an earlier release opens, answers, compacts and serves with the current code.

`tests/fixtures/upgrade/datadir-<version>.tar.gz` is a data dir made by that release (`scripts/make_upgrade_fixture.py`:
segments of two projects, a pending deletion, a custom price, scores, and records left in the WAL by a SIGKILL), with
the answers that release gave in the JSON beside it. Each test untars a fresh copy; nothing here rewrites the
fixture. A change that makes an old data dir unreadable, or reads it differently, fails here.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lynex_box.auth.users import verify_login
from lynex_box.engine import Engine
from lynex_box.meta.prices import read_prices_at
from lynex_box.pipeline.enrich import CostEnricher
from lynex_box.pricing import PriceBook
from lynex_box.query.engine import SpanScope
from lynex_box.scores.store import scores_for_trace
from tests.e2e.server import RunningServer
from tests.lifecycle.conftest import settings_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upgrade"
RECORDS = sorted(FIXTURES.glob("datadir-*.json"))


@dataclass(frozen=True)
class Fixture:
    data_dir: Path
    record: dict[str, Any]

    @property
    def expected(self) -> dict[str, Any]:
        return dict(self.record["expected"])


def untar(record_path: Path, into: Path) -> Fixture:
    record = json.loads(record_path.read_text())
    with tarfile.open(record_path.with_name(record["tarball"])) as tar:
        tar.extractall(into, filter="data")
    return Fixture(into / record["data_dir"], record)


@pytest.fixture(params=RECORDS, ids=[p.stem for p in RECORDS])
def fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Fixture:
    return untar(request.param, tmp_path)


def test_a_fixture_of_this_release_is_kept_and_small() -> None:
    from lynex_box import __version__

    assert [p.stem for p in RECORDS if p.stem == f"datadir-{__version__}"], (
        f"no upgrade fixture of {__version__}; hint: PYTHONPATH=$PWD python scripts/make_upgrade_fixture.py"
    )
    for path in RECORDS:
        size = path.with_name(json.loads(path.read_text())["tarball"]).stat().st_size
        assert size < 512 * 1024, f"{path.stem} is {size} bytes; keep a fixture to a few hundred KB"


@pytest.fixture
def open_fixture(fixture: Fixture) -> Iterator[Any]:
    """`open_fixture()` opens the fixture's engine as the server does (custom prices priced into the WAL replay)."""
    opened: list[Engine] = []

    def make() -> Engine:
        settings = settings_for(fixture.data_dir, compaction={"min_segments": 2})
        costs = CostEnricher(PriceBook(read_prices_at(fixture.data_dir)))
        engine = Engine.open(settings, [costs])
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


def answers(engine: Engine, expected: dict[str, Any]) -> dict[str, Any]:
    """The fixture's questions, asked of `engine`, in the shape of the recorded answers."""
    projects = {}
    for project in expected["projects"]:
        sql = "SELECT count(*) AS spans, sum(total_cost) AS total_cost FROM spans"
        [row] = engine.query.run(SpanScope(project), sql, dedupe=True).to_pylist()
        projects[project] = row
    traces = {
        project: {trace: trace_spans(engine, project, trace) for trace in wanted}
        for project, wanted in expected["traces"].items()
    }
    scores = {
        project: {trace: len(scores_for_trace(engine.meta, project, trace)) for trace in wanted}
        for project, wanted in expected["scores"].items()
    }
    deleted = expected["deleted_trace"]
    return {
        "projects": projects,
        "traces": traces,
        "scores": scores,
        "deleted_spans": trace_spans(engine, deleted["project_id"], deleted["trace_id"]),
    }


def trace_spans(engine: Engine, project: str, trace_id: str) -> int:
    sql = "SELECT count(*) AS n FROM spans WHERE trace_id = $trace"
    return int(engine.query.run(SpanScope(project), sql, {"trace": trace_id}, dedupe=True).to_pylist()[0]["n"])


def assert_answers(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for project, want in expected["projects"].items():
        assert got["projects"][project]["spans"] == want["spans"], project
        assert got["projects"][project]["total_cost"] == pytest.approx(want["total_cost"], rel=1e-9), project
    assert got["traces"] == expected["traces"]
    assert got["scores"] == expected["scores"]
    assert got["deleted_spans"] == 0


def test_the_fixture_opens_replays_its_wal_answers_and_compacts(fixture: Fixture, open_fixture: Any) -> None:
    state = fixture.record["state"]
    engine = open_fixture()
    # the records the release left in the WAL were replayed: the head holds them before any flush
    assert engine.store.next_lsn == state["last_lsn"] + 1
    assert_answers(answers(engine, fixture.expected), fixture.expected)

    engine.flush()
    assert engine.catalog.consumed_lsn() == state["last_lsn"]
    before = len(engine.catalog.segments())
    assert engine.lifecycle.compact() >= 1  # each project's segments of one day merge
    engine.lifecycle.purge_deletions()
    assert len(engine.catalog.segments()) < before
    assert engine.meta.read("SELECT count(*) FROM tombstones") == [(0,)]  # the pending deletion was carried out
    assert_answers(answers(engine, fixture.expected), fixture.expected)

    engine.close()
    reopened = open_fixture()
    assert_answers(answers(reopened, fixture.expected), fixture.expected)


def test_the_fixture_s_admin_logs_in(fixture: Fixture, open_fixture: Any) -> None:
    engine = open_fixture()
    admin = fixture.record["admin"]
    user = verify_login(engine.meta, admin["email"], admin["password"])
    assert user is not None and user.email == admin["email"]
    assert verify_login(engine.meta, admin["email"], admin["password"] + "x") is None


def test_a_server_started_on_the_fixture_serves_it(fixture: Fixture) -> None:
    server = RunningServer(fixture.data_dir, env={"LYNEX_RETENTION_DAYS": "30"})  # the projects' own 0 applies
    server.creds = {"admin_email": fixture.record["admin"]["email"]}  # not a first start: it prints no credentials
    server.start()
    try:
        admin = fixture.record["admin"]
        with httpx.Client(base_url=server.url, timeout=30) as client:
            login = client.post("/api/auth/login", json={"email": admin["email"], "password": admin["password"]})
            assert login.status_code == 200, login.text
            assert client.get("/api/auth/me").json()["user"]["email"] == admin["email"]
        for project, want in fixture.expected["projects"].items():
            key = fixture.record["projects"][project]["api_key"]
            r = httpx.get(f"{server.url}/v1/projects/{project}/metrics", headers=server.headers(key), timeout=30)
            assert r.status_code == 200, r.text
            [point] = r.json()["series"][0]["points"]
            assert point["count"] == want["spans"]
            assert point["total_cost"] == pytest.approx(want["total_cost"], rel=1e-9)
    finally:
        assert server.stop() == 0
