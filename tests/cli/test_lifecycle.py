"""The lifecycle commands of `lynex-box`: set-retention, set-hot-window, delete, rehydrate, backup, restore, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from click.testing import CliRunner

from lynex_box.cli import main
from tests.lifecycle.conftest import DAY_MS, add_segment, now_ms, rows, settings_for


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_commands_round_trip_a_data_dir(tmp_path: Path, open_engine: Any) -> None:
    data = tmp_path / "data"
    created = json.loads(run("init", "--data-dir", str(data), "--json").stdout)
    project = created["project_id"]
    config = tmp_path / "lynex.toml"
    config.write_text(f'[bucket]\ntype = "directory"\ndirectory = "{tmp_path / "bucket"}"\n'
                      "[lifecycle]\ngrace_period_s = 0.0\n[offload]\nhot_window_s = 86400\n")  # fmt: skip
    bucket = {"type": "directory", "directory": str(tmp_path / "bucket")}
    engine = open_engine(data, bucket=bucket, offload={"hot_window_s": 86_400})
    add_segment(engine, project, "old", 10, now_ms() - 3 * DAY_MS)
    add_segment(engine, project, "new", 10, now_ms() - DAY_MS // 2)
    assert engine.lifecycle.offload() == 1
    expected = rows(engine, project)
    engine.close()

    out = json.loads(run("projects", "set-retention", project, "2", "--data-dir", str(data), "--json").stdout)
    assert out["retention_days"] == 2
    query = ["query", "--project", project, "--sql", "SELECT count(*) AS n FROM spans", "--config", str(config)]
    assert json.loads(run(*query, "--data-dir", str(data), "--json").stdout) == [{"n": 10}]
    run("projects", "set-retention", project, "default", "--data-dir", str(data))
    assert json.loads(run(*query, "--data-dir", str(data), "--json").stdout) == [{"n": 20}]

    out = json.loads(run("delete", "--project", project, "--user", "user-0", "--data-dir", str(data), "--json").stdout)
    assert out["kind"] == "user" and out["purge_by"]
    assert json.loads(run(*query, "--data-dir", str(data), "--json").stdout) == [{"n": 12}]

    pinned = ["rehydrate", "--project", project, "--from", "2000-01-01", "--to", "2100-01-01", "--config", str(config)]
    out = json.loads(run(*pinned, "--data-dir", str(data), "--json").stdout)
    assert out["fetched"] == 1

    run("backup", "--to", str(tmp_path / "backups"), "--data-dir", str(data))
    listed = json.loads(
        run("backup", "--list", "--to", str(tmp_path / "backups"), "--data-dir", str(data), "--json").stdout
    )
    assert len(listed["backups"]) == 1
    run("restore", "--from", str(tmp_path / "backups"), "--data-dir", str(tmp_path / "copy"))
    run("export", "--project", project, "--format", "parquet", "-o", str(tmp_path / "out.parquet"),
        "--data-dir", str(tmp_path / "copy"))  # fmt: skip
    exported = pq.read_table(tmp_path / "out.parquet").column("event_id").to_pylist()
    assert sorted(exported) == sorted(r["event_id"] for r in expected if r["user_id"] != "user-0")
    assert Path(settings_for(tmp_path / "copy").data_dir / "meta.db").exists()


def test_set_hot_window_stores_the_project_setting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project = json.loads(run("init", "--data-dir", str(data), "--json").stdout)["project_id"]
    out = json.loads(run("projects", "set-hot-window", project, "12h", "--data-dir", str(data), "--json").stdout)
    assert out == {"project_id": project, "hot_window_s": 43_200, "changed": True}
    listed = json.loads(run("projects", "list", "--data-dir", str(data), "--json").stdout)
    assert [p["hot_window_s"] for p in listed if p["project_id"] == project] == [43_200]
    out = json.loads(run("projects", "set-hot-window", project, "default", "--data-dir", str(data), "--json").stdout)
    assert out["hot_window_s"] is None
    bad = CliRunner().invoke(main, ["projects", "set-hot-window", project, "soon", "--data-dir", str(data)])
    assert bad.exit_code != 0 and "hot_window_s must be" in bad.output
