"""Retention: expired spans hidden from queries at once, then removed from local files and the bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lynex_box.config import RetentionSettings
from lynex_box.query.engine import SpanScope
from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, now_ms, parquet_values, rows


def set_retention(engine: Any, project: str, days: int | None) -> None:
    """The project's own retention, as the admin API and `lynex-box projects set-retention` store it."""

    def tx(conn: Any) -> None:
        conn.execute("INSERT OR IGNORE INTO orgs (id, name, created_at) VALUES ('o', 'o', 0)")
        conn.execute(
            "INSERT OR IGNORE INTO projects (id, org_id, name, created_at) VALUES (?, 'o', ?, 0)", (project, project)
        )
        conn.execute("UPDATE projects SET retention_days = ? WHERE id = ?", (days, project))

    engine.meta.write(tx)


def test_retention_hides_then_removes_expired_rows_locally_and_in_the_bucket(open_engine: Any, tmp_path: Path) -> None:
    bucket_dir = tmp_path / "bucket"
    offload, retention = {"hot_window_s": 20 * 86_400}, {"days": 0}  # forever, until the project says 10 days
    engine = open_engine(bucket=directory_bucket(bucket_dir), offload=offload, retention=retention)
    add_segment(engine, "p1", "ancient", 10, now_ms() - 40 * DAY_MS)  # offloaded, then wholly expired
    add_segment(engine, "p1", "straddle", 10, now_ms() - 12 * DAY_MS, step_ms=DAY_MS // 2)  # 12 .. 7.5 days ago
    add_segment(engine, "p1", "fresh", 10, now_ms() - DAY_MS)
    assert engine.lifecycle.offload() == 1
    assert len(rows(engine)) == 30

    set_retention(engine, "p1", 10)
    visible = rows(engine)
    cutoff_ms = now_ms() - 10 * DAY_MS
    assert len(visible) == 10 + 5 and all(r["start_time"].timestamp() * 1000 >= cutoff_ms - 60_000 for r in visible)
    # a query that asks for an older range gets nothing from before the cutoff either
    old = engine.query.run(SpanScope("p1", 0, (now_ms() - 30 * DAY_MS) * 1000), "SELECT count(*) AS n FROM spans")
    assert old.to_pylist() == [{"n": 0}]

    assert engine.lifecycle.apply_retention() == {"dropped": 1, "rewritten": 1}
    engine.lifecycle.clean(grace_s=0)
    assert rows(engine) == visible
    assert list(bucket_dir.rglob("*.parquet")) == []  # the expired bucket segment is gone too
    local = sorted((engine.data_dir / "segments").rglob("*.parquet"))
    starts = parquet_values(local, "start_time")
    assert len(starts) == 15 and min(starts).timestamp() * 1000 >= cutoff_ms - 60_000


def test_default_retention_is_bounded_and_zero_keeps_everything(open_engine: Any) -> None:
    assert RetentionSettings().days == 30  # bounded by default (lynex.toml documents it)
    engine = open_engine(retention={"days": 0})
    add_segment(engine, "p1", "old", 5, now_ms() - 400 * DAY_MS)
    add_segment(engine, "p1", "month", 5, now_ms() - 29 * DAY_MS)
    assert engine.lifecycle.apply_retention() == {"dropped": 0, "rewritten": 0}
    assert len(rows(engine)) == 10
    engine.close()
    engine = open_engine()  # the default
    assert len(rows(engine)) == 5
    assert engine.lifecycle.apply_retention() == {"dropped": 1, "rewritten": 0}


def test_a_project_can_keep_its_data_forever_under_a_bounded_default(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "old", 5, now_ms() - 400 * DAY_MS)
    assert rows(engine) == []
    set_retention(engine, "p1", 0)  # 0 = forever, as the settings API and the CLI accept it
    assert len(rows(engine)) == 5
    assert engine.lifecycle.apply_retention() == {"dropped": 0, "rewritten": 0}


def test_a_project_setting_overrides_the_default(open_engine: Any) -> None:
    engine = open_engine(retention={"days": 2})
    add_segment(engine, "p9", "x", 5, now_ms() - 5 * DAY_MS)
    assert rows(engine, "p9") == []
    set_retention(engine, "p9", 7)
    assert len(rows(engine, "p9")) == 5
    set_retention(engine, "p9", None)  # back to the default
    assert rows(engine, "p9") == []
