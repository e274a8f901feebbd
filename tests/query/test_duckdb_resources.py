"""The DuckDB databases of a server process share one memory budget and spill under the data dir.

`[query] memory_limit_mb` is divided by its shares between the query engine, the lifecycle's rewrites and its
deletion scans; a query that needs more than its part spills to `<data_dir>/tmp/duckdb`, never to `.tmp` in the
working directory (which would put span data outside the one directory the appliance keeps).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope
from tests.lifecycle.conftest import settings_for

SETTING = "SELECT current_setting('memory_limit') AS m"


def duckdb_rendering(mb: int) -> str:
    """How DuckDB shows a memory limit of `mb` MB (it prints MiB)."""
    with duckdb.connect(":memory:", config={"memory_limit": f"{mb}MB"}) as con:
        return str(con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])


@pytest.fixture
def engine_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Path]]:
    """An engine on tmp_path/data with a 64 MB budget (the query engine gets 32), run from an empty directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    engine = Engine.open(settings_for(tmp_path / "data", query={"memory_limit_mb": 64, "threads": 1}))
    yield engine, cwd
    engine.close()


def test_each_duckdb_database_gets_its_share_of_the_budget(tmp_path: Path) -> None:
    query = {"memory_limit_mb": 1000, "memory_share_queries": 0.6, "memory_share_rewrites": 0.3}
    engine = Engine.open(settings_for(tmp_path / "data", query={**query, "memory_share_scans": 0.1}))
    try:
        scope = SpanScope("p1")
        assert engine.query.run(scope, SETTING).to_pylist() == [{"m": duckdb_rendering(600)}]
        assert engine.lifecycle.ctx.duck.sql(SETTING).fetchall() == [(duckdb_rendering(300),)]
        assert engine.lifecycle.scanner.run(scope, SETTING).to_pylist() == [{"m": duckdb_rendering(100)}]
    finally:
        engine.close()


def test_a_query_over_its_memory_spills_under_the_data_dir_not_the_working_directory(
    engine_in: tuple[Engine, Path],
) -> None:
    engine, cwd = engine_in
    spill = engine.data_dir / "tmp" / "duckdb"
    assert oct(os.stat(spill).st_mode & 0o777) == "0o700"
    # about 100 MB of distinct strings: more than the query engine's 32 MB, so DuckDB must spill to finish
    sql = "SELECT count(DISTINCT md5(i::varchar)) AS n FROM range(1500000) t(i)"
    assert engine.query.run(SpanScope("p1"), sql).to_pylist() == [{"n": 1_500_000}]
    assert any(spill.iterdir())  # DuckDB's files of this process (its owner file stays while the database is open)
    assert list(cwd.iterdir()) == []


def test_spill_files_a_crash_left_behind_are_removed_on_start(tmp_path: Path) -> None:
    leftover = tmp_path / "data" / "tmp" / "duckdb" / "duckdb_temp_1_0_storage_DEFAULT-0.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 1024)
    engine = Engine.open(settings_for(tmp_path / "data"))
    try:
        assert not leftover.exists()
    finally:
        engine.close()
