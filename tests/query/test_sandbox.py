"""`lynex-box query` runs its SQL in a sandbox: the project's spans and nothing else on the machine.

The CLI cases run the real command over a real data dir with two projects; the sandbox cases run statements
straight on a sandboxed connection, so they hold even if the single-SELECT check in front were bypassed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from lynex_box.cli import main
from lynex_box.engine import Engine
from lynex_box.query.sandbox import open_sandbox
from tests.lifecycle.conftest import add_segment, now_ms, settings_for


def query(data: Path, project: str, sql: str) -> Result:
    return CliRunner().invoke(main, ["query", "--project", project, "--sql", sql, "--data-dir", str(data), "--json"])


@pytest.fixture
def two_projects(tmp_path: Path) -> tuple[Path, Path]:
    """A data dir with 10 spans of project `a` and 7 of project `b`; answers it and one of b's segment files."""
    data = tmp_path / "data"
    engine = Engine.open(settings_for(data))
    add_segment(engine, "a", "a", 10, now_ms() - 60_000)
    add_segment(engine, "b", "b", 7, now_ms() - 60_000)
    engine.close()
    [other] = sorted((data / "segments" / "b").rglob("*.parquet"))
    return data, other


def test_the_project_spans_are_still_queryable(two_projects: tuple[Path, Path]) -> None:
    data, _ = two_projects
    result = query(data, "a", "SELECT count(*) AS n FROM spans")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == '[{"n": 10}]'
    result = query(data, "a", "WITH x AS (SELECT count(*) AS n FROM spans) SELECT n * 2 AS m FROM x;")
    assert result.exit_code == 0 and result.stdout.strip() == '[{"m": 20}]', result.output


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", 'Cannot access file "/etc/passwd"'),
        ("SELECT * FROM read_text('/etc/passwd')", 'Cannot access file "/etc/passwd"'),
        ("WITH f AS (SELECT * FROM glob('/*')) SELECT * FROM f", 'Cannot access file "/*"'),
        ("SELECT * FROM spans, read_blob('/etc/hostname')", "file system operations are disabled"),
        ("SELECT 1; SELECT * FROM read_csv('/etc/passwd')", "got SELECT, SELECT"),
        ("ATTACH '/tmp/lynex-sandbox-test.db' AS x", "got ATTACH"),
        ("INSTALL httpfs", "got LOAD"),
        ("LOAD httpfs", "got LOAD"),
        ("SET enable_external_access = true", "got SET"),
        ("PRAGMA database_list", "got PRAGMA"),
    ],
)
def test_files_and_statements_beyond_the_spans_are_refused(
    two_projects: tuple[Path, Path], sql: str, message: str
) -> None:
    data, _ = two_projects
    result = query(data, "a", sql)
    assert result.exit_code != 0, result.output
    assert message in result.output and "lynex-box query` reads the project's spans only" in result.output


def test_another_projects_segment_cannot_be_read(two_projects: tuple[Path, Path]) -> None:
    data, other = two_projects
    result = query(data, "a", f"SELECT count(*) FROM read_parquet('{other}')")
    assert result.exit_code != 0 and "file system operations are disabled" in result.output, result.output
    result = query(data, "a", f"SELECT count(*) FROM read_parquet('{data}/segments/*/*.parquet')")
    assert result.exit_code != 0 and "file system operations are disabled" in result.output, result.output


def test_copy_to_a_file_is_refused_and_writes_nothing(two_projects: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = two_projects
    out = tmp_path / "stolen.csv"
    result = query(data, "a", f"COPY (SELECT * FROM spans) TO '{out}'")
    assert result.exit_code != 0 and "got COPY" in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/*')",
        "COPY (SELECT 1) TO '{tmp}/x.csv'",
        "ATTACH '{tmp}/x.db' AS x",
        "EXPORT DATABASE '{tmp}/export'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET GLOBAL allowed_paths = ['/etc/passwd']",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SELECT * FROM read_parquet('{tmp}/other.parquet')",
    ],
)
def test_the_sandboxed_connection_itself_refuses(tmp_path: Path, statement: str) -> None:
    mine, other = tmp_path / "mine.parquet", tmp_path / "other.parquet"
    with duckdb.connect() as free:
        free.execute(f"COPY (SELECT 1 AS a) TO '{mine}' (FORMAT parquet)")
        free.execute(f"COPY (SELECT 2 AS a) TO '{other}' (FORMAT parquet)")
    spill = tmp_path / "spill"  # the one directory DuckDB itself may write to (its own spill files)
    spill.mkdir()
    con = open_sandbox([mine], threads=1, memory_limit_mb=64, temp_dir=spill)
    try:
        assert con.sql(f"SELECT a FROM read_parquet(['{mine}'])").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error, match=r"disabled|locked"):
            con.execute(statement.format(tmp=tmp_path))
        assert con.sql("SELECT current_setting('enable_external_access')").fetchall() == [(False,)]
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.parquet", "other.parquet", "spill"]
