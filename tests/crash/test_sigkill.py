"""Crash tests: a real writer process is SIGKILLed at every step of the crash-sensitive sequences.

After each kill the data dir is reopened and every batch whose append had returned must be found by
a query exactly once, with no temporary file left behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lynex_box.query.engine import SpanScope
from tests.crash.harness import reopen, run_acked


def run_writer(data_dir: Path, crash_at: str | None, kill_after_acks: int | None, batches: int = 40) -> list[str]:
    return run_acked("writer_proc.py", [str(data_dir), str(batches)], crash_at, kill_after_acks)


def check_recovered(data_dir: Path, acked: list[str]) -> None:
    # writer_proc.py's spans have fixed start times, older than the default retention: keep them all
    engine = reopen(data_dir, retention={"days": 0})
    try:
        temporary = [p for p in data_dir.rglob("*.tmp")]
        assert temporary == []
        rows = engine.query.run(
            SpanScope("p1"), "SELECT trace_id, count(*) AS n, count(DISTINCT event_id) AS d FROM spans GROUP BY 1"
        ).to_pylist()
        counts = {r["trace_id"]: (r["n"], r["d"]) for r in rows}
        for batch in acked:
            assert counts.get(batch) == (20, 20), f"batch {batch} found {counts.get(batch)} after recovery"
        assert all(n == d == 20 for n, d in counts.values()), "a span shows twice or a batch is partial"
        engine.flush()  # the recovered engine keeps working: the replayed head publishes cleanly
        again = engine.query.run(SpanScope("p1"), "SELECT count(*) AS n FROM spans").to_pylist()[0]["n"]
        assert again == 20 * len(counts)
    finally:
        engine.close()


CRASH_POINTS = [
    "wal.torn_write:6",  # mid-append: half a group commit written
    "wal.before_sync:9",  # written, not yet synced
    "segments.before_rename:2",  # segment file synced, not renamed
    "segments.after_rename:2",  # renamed, catalog not committed
    "segments.after_publish:2",  # catalog committed, head not swapped, checkpoint not advanced
    "wal.mid_remove:1",  # mid-checkpoint: deleting WAL files
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_kill_at_a_crash_point_loses_no_acknowledged_event_and_duplicates_none(tmp_path: Path, crash_at: str) -> None:
    acked = run_writer(tmp_path, crash_at, None)
    check_recovered(tmp_path, acked)


@pytest.mark.parametrize("kill_after", [1, 17, 45, 90])
def test_kill_at_arbitrary_moments_under_load(tmp_path: Path, kill_after: int) -> None:
    acked = run_writer(tmp_path, None, kill_after)
    check_recovered(tmp_path, acked)


def test_repeated_kills_of_the_same_data_dir(tmp_path: Path) -> None:
    acked: list[str] = []
    for point in ["wal.torn_write:3", "segments.after_rename:1", "wal.mid_remove:1"]:
        # each life writes batches with the same names, so later lives re-send them: deduped by event_id
        acked += run_writer(tmp_path, point, None, batches=15)
    check_recovered(tmp_path, sorted(set(acked)))
