"""Crash tests of the scores' WAL path: a real process appending SCORES records (and spans) is SIGKILLed at the
steps of the apply → head → publish → checkpoint sequence and at arbitrary moments.

After each kill the data dir is reopened: every score whose record's append had returned is in meta.db exactly
once, with its value, and the last applied LSN is the WAL's (no record applied twice, none skipped).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lynex_box.auth.admin import create_org, create_project
from lynex_box.meta.db import MetaDB
from lynex_box.scores import ScoreFilter, applied_lsn, list_scores
from tests.crash.harness import reopen, run_acked
from tests.crash.scores_proc import PER_RECORD


def make_project(data_dir: Path) -> str:
    db = MetaDB(data_dir / "meta.db")
    try:
        return create_project(db, "p", create_org(db, "o"))
    finally:
        db.close()


def run_scorer(data_dir: Path, project: str, crash_at: str | None, kill_after_acks: int | None) -> list[str]:
    return run_acked("scores_proc.py", [str(data_dir), project, "30"], crash_at, kill_after_acks)


def check_recovered(data_dir: Path, project: str, acked: list[str]) -> None:
    engine = reopen(data_dir)
    try:
        found = {s.id: s.value for s in list_scores(engine.meta, project, ScoreFilter(), 100_000)}
        rows = engine.meta.read("SELECT id, count(*) FROM scores GROUP BY id HAVING count(*) > 1")
        assert rows == [], "a score is stored twice"
        for name in acked:
            k = int(name.split("b")[1])
            expected = {f"{name}-{i}": float(k + i) for i in range(PER_RECORD)}
            assert {key: found.get(key) for key in expected} == expected, f"record {name} lost after recovery"
        assert len(found) % PER_RECORD == 0, "a record was applied in part"
        assert applied_lsn(engine.meta) <= engine.wal.durable_lsn
    finally:
        engine.close()


CRASH_POINTS = [
    "wal.before_sync:7",  # a SCORES record written, not yet synced
    "pipeline.after_apply:3",  # scores committed to meta.db, the step not in the head: replayed, must be skipped
    "segments.after_publish:2",  # catalog committed, checkpoint not advanced: the scores before it are replayed
    "wal.mid_remove:1",  # mid-checkpoint
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_kill_at_a_crash_point_loses_no_acknowledged_score_and_applies_none_twice(
    tmp_path: Path, crash_at: str
) -> None:
    project = make_project(tmp_path)
    acked = run_scorer(tmp_path, project, crash_at, None)
    check_recovered(tmp_path, project, acked)


@pytest.mark.parametrize("kill_after", [3, 25])
def test_kill_at_arbitrary_moments_under_load(tmp_path: Path, kill_after: int) -> None:
    project = make_project(tmp_path)
    acked = run_scorer(tmp_path, project, None, kill_after)
    check_recovered(tmp_path, project, acked)
