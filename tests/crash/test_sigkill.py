"""Crash tests: a real writer process is SIGKILLed at every step of the crash-sensitive sequences.

After each kill the data dir is reopened and every batch whose append had returned must be found by
a query exactly once, with no temporary file left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope

WRITER = Path(__file__).with_name("writer_proc.py")


def run_writer(data_dir: Path, crash_at: str | None, kill_after_acks: int | None, batches: int = 40) -> list[str]:
    env = dict(os.environ)
    env.pop("LYNEX_CRASH_AT", None)
    if crash_at:
        env["LYNEX_CRASH_AT"] = crash_at
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), str(batches)], stdout=subprocess.PIPE, env=env, text=True
    )
    acked: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACK "):
            acked.append(line.split()[1])
            if kill_after_acks is not None and len(acked) >= kill_after_acks:
                proc.send_signal(signal.SIGKILL)
                break
    proc.stdout.close()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"writer was not killed (rc={proc.returncode}): crash point never hit"
    return acked


def check_recovered(data_dir: Path, acked: list[str]) -> None:
    # writer_proc.py's spans have fixed start times, older than the default retention: keep them all
    overrides = {"server": {"data_dir": str(data_dir)}, "retention": {"days": 0}}
    engine = Engine.open(load_settings(env={}, overrides=overrides))
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
