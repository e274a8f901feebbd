"""`lynex-box upgrade --check`, and a data dir written by an earlier release opened, queried, compacted and served
by the current code.

`tests/fixtures/upgrade/datadir-<version>.tar.gz` is a data dir made by that release (`scripts/make_upgrade_fixture.py`:
segments of two projects, a pending deletion, a custom price, scores, and records left in the WAL by a SIGKILL), with
the answers that release gave in the JSON beside it. Each test untars a fresh copy; nothing here rewrites the
fixture. A change that makes an old data dir unreadable, or reads it differently, fails here. The same copies, with
one version bumped as a newer release would write it, must be refused by `upgrade --check` and by `run`, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import httpx
import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lynex_box.auth.users import verify_login
from lynex_box.cli import main
from lynex_box.engine import Engine
from lynex_box.meta.migrations import META_SCHEMA_VERSION, MIGRATIONS
from lynex_box.meta.prices import read_prices_at
from lynex_box.pipeline.enrich import CostEnricher
from lynex_box.pricing import PriceBook
from lynex_box.query.engine import SpanScope
from lynex_box.scores.store import scores_for_trace
from lynex_box.versions import BUCKET_FORMAT, CLUSTER_FORMAT, SPAN_SCHEMA_VERSION, WAL_FORMAT
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
        tar.extractall(into, filter="tar")  # "tar" keeps the data dir's 0700 ("data" would not)
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


# ------------------------------------------------------------------------------------------ upgrade --check
def check(data_dir: Path, *extra: str) -> tuple[int, Any]:
    result = CliRunner().invoke(main, ["upgrade", "--check", "--data-dir", str(data_dir), "--json", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def digest(data_dir: Path) -> dict[str, str]:
    """Every file of the data dir by its SHA-256, but SQLite's shared-memory index and an empty meta.db-wal: a reader
    may create or touch those, which changes no data."""
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and not p.name.endswith("-shm") and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {part["name"].split(" (")[0]: part["status"] for part in report["parts"]}


def test_upgrade_check_reads_the_fixture_and_changes_nothing(fixture: Fixture) -> None:
    conn = apsw.Connection(str(fixture.data_dir / "meta.db"), flags=apsw.SQLITE_OPEN_READONLY)
    made_at = conn.pragma("user_version")  # the fixture's release: the migrations after it are pending
    conn.close()
    before = digest(fixture.data_dir)
    code, report = check(fixture.data_dir)
    assert code == 0 and report["ok"] is True
    assert report["migrations"] == [
        {"number": n, "name": MIGRATIONS[n - 1].name} for n in range(made_at + 1, META_SCHEMA_VERSION + 1)
    ]
    meta_status = "ok" if made_at == META_SCHEMA_VERSION else "migrate"
    assert statuses(report) == {"meta.db": meta_status, "wal": "ok", "segments": "ok", "segment footers": "ok",
                                "bucket": "absent"}  # fmt: skip
    parts = {part["name"].split(" (")[0]: part for part in report["parts"]}
    found = parts["segments"]["found"]  # a fixture's files are of its release's version, read by this one
    assert sum(found.values()) == fixture.record["state"]["published_segments"]
    assert all(1 <= int(version) <= SPAN_SCHEMA_VERSION for version in found)
    assert parts["wal"]["found"] == {str(WAL_FORMAT): 1}
    assert f"after LSN {fixture.record['state']['consumed_lsn']}" in parts["wal"]["detail"]
    assert digest(fixture.data_dir) == before
    text = CliRunner().invoke(main, ["upgrade", "--check", "--data-dir", str(fixture.data_dir)])
    assert text.exit_code == 0 and "meta.db" in text.stdout
    plain = CliRunner().invoke(main, ["upgrade"])
    assert plain.exit_code == 0 and "Upgrades happen on start" in plain.stdout


def test_upgrade_check_lists_the_migrations_an_older_meta_db_gets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = apsw.Connection(str(data / "meta.db"))
    for number, migration in enumerate(MIGRATIONS[:10], 1):  # as a release with ten migrations left it
        with conn:
            conn.execute(migration.sql)
            conn.pragma("user_version", number)
    conn.close()
    code, report = check(data)
    assert code == 0 and report["ok"] is True
    assert statuses(report)["meta.db"] == "migrate"
    assert report["migrations"] == [
        {"number": n, "name": MIGRATIONS[n - 1].name} for n in range(11, META_SCHEMA_VERSION + 1)
    ]


def bump_wal(data_dir: Path) -> str:
    [path] = (data_dir / "wal").glob("*.wal")
    with open(path, "r+b") as fh:
        fh.write(b"LNXWAL%02d" % (WAL_FORMAT + 1))
    return f"WAL file {path} has format version {WAL_FORMAT + 1}"


def bump_meta(data_dir: Path) -> str:
    conn = apsw.Connection(str(data_dir / "meta.db"))
    conn.pragma("user_version", META_SCHEMA_VERSION + 1)
    conn.close()
    return f"meta.db {data_dir / 'meta.db'} has format version {META_SCHEMA_VERSION + 1}"


def bump_catalog(data_dir: Path) -> str:
    conn = apsw.Connection(str(data_dir / "meta.db"))
    [(path,)] = conn.execute("SELECT max(path) FROM segments")
    conn.execute("UPDATE segments SET schema_version = ? WHERE path = ?", (SPAN_SCHEMA_VERSION + 1, path))
    conn.close()
    return f"segment {path} has format version {SPAN_SCHEMA_VERSION + 1}"


BUMPS = {"wal": bump_wal, "meta.db": bump_meta, "segments": bump_catalog}


@pytest.mark.parametrize("part", list(BUMPS))
def test_a_part_written_by_a_newer_release_is_refused_by_check_and_run(
    fixture: Fixture, tmp_path: Path, part: str
) -> None:
    message = BUMPS[part](fixture.data_dir)
    before = digest(fixture.data_dir)
    code, report = check(fixture.data_dir)
    assert code == 1 and report["ok"] is False and statuses(report)[part] == "too-new"
    [refusal] = [p["refusal"] for p in report["parts"] if p["status"] == "too-new"]
    assert message in refusal and "hint: run the Lynex Box release that wrote it" in refusal
    started = subprocess.run(
        [sys.executable, "-m", "lynex_box", "run", "--data-dir", str(fixture.data_dir), "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 1 and message in started.stderr, started.stderr
    assert "Traceback" not in started.stderr
    assert digest(fixture.data_dir) == before  # nothing opened, migrated, replayed, cut or swept


def test_upgrade_check_reads_segment_footers(fixture: Fixture) -> None:
    conn = apsw.Connection(str(fixture.data_dir / "meta.db"), flags=apsw.SQLITE_OPEN_READONLY)
    [(rel,)] = conn.execute("SELECT path FROM segments ORDER BY created_at DESC LIMIT 1")
    conn.close()
    path = fixture.data_dir / rel
    table = pq.read_table(path)  # the file as a newer release would write it, the catalog row unchanged
    schema = table.schema.with_metadata({b"lynex.span_schema_version": str(SPAN_SCHEMA_VERSION + 1).encode()})
    pq.write_table(table.cast(schema), path)
    code, report = check(fixture.data_dir)
    assert code == 1 and statuses(report)["segment footers"] == "too-new"
    assert statuses(report)["segments"] == "ok"  # the catalog still says 1: the footer is what told


def bucket_config(tmp_path: Path) -> Path:
    config = tmp_path / "lynex.toml"
    config.write_text(f'[bucket]\ntype = "directory"\ndirectory = "{tmp_path / "bucket"}"\n')
    return config


def test_upgrade_check_reads_the_bucket_s_backups_and_cluster_objects(fixture: Fixture, tmp_path: Path) -> None:
    config = bucket_config(tmp_path)
    done = CliRunner().invoke(main, ["backup", "--config", str(config), "--data-dir", str(fixture.data_dir)])
    assert done.exit_code == 0, done.output
    code, report = check(fixture.data_dir, "--config", str(config))
    assert code == 0 and statuses(report)["bucket backups"] == "ok"
    assert statuses(report)["cluster objects"] == "absent"
    parts = {part["name"]: part for part in report["parts"]}
    assert parts["bucket backups"]["found"] == {str(BUCKET_FORMAT): 1}

    bucket = tmp_path / "bucket" / "objects"
    [manifest] = bucket.glob("backups/*/*/manifest.json")
    manifest.write_bytes(orjson.dumps({**orjson.loads(manifest.read_bytes()), "format": BUCKET_FORMAT + 1}))
    (bucket / "cluster").mkdir()
    (bucket / "cluster" / "cluster.json").write_bytes(orjson.dumps({"format": CLUSTER_FORMAT + 1, "cluster_id": "c"}))
    code, report = check(fixture.data_dir, "--config", str(config))
    assert code == 1
    assert statuses(report)["bucket backups"] == "too-new" and statuses(report)["cluster objects"] == "too-new"
    code, report = check(fixture.data_dir, "--config", str(config), "--no-bucket")
    assert code == 0 and "bucket backups" not in statuses(report)
