"""The crash matrix: the real server is SIGKILLed at a named crash point (lynex_box/crashpoints.py) during each
crash-sensitive phase, under mixed native + OTLP load, then started again on the same data dir.

Phases: ingest, flush, compaction, offload (to a real moto S3 bucket), retention, deletion, backup (to that
bucket) and export. Each cell (phase x crash point) arms one point through `LYNEX_CRASH_AT`, runs the phase's
load until the server kills itself there, restarts it unarmed, and checks through the query API (matrix.check)
that every acknowledged span is listed exactly once and every deleted or expired one is absent; again once the
restarted server's own passes have run; then, after a clean stop, that no temporary or unnamed segment file is
left. Backup cells also restore the newest backup into a new data dir and check it the same way; export cells
export everything after the restart and find every acknowledged span in it once.

By default one representative point per phase runs (about two minutes in all); `LYNEX_CRASH_MATRIX=full` runs
every cell (docs/testing.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

from lynex_box.lifecycle.backup import list_backups
from lynex_box.objstore import S3Store
from tests.crash.matrix import Ledger, Load, check, span_key, wait_for
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer

FULL = os.environ.get("LYNEX_CRASH_MATRIX", "") == "full"
CRASH_TIMEOUT_S = 90.0  # the armed point must be reached under load within this (a loaded 2-core box is slow)
START_TIMEOUT_S = 120.0

# Every life: the head flushes five times a second; replaced files wait half a second; the janitor runs each second.
BASE_ENV = {
    "LYNEX_HEAD_MAX_AGE_S": "0.2",
    "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0.5",
    "LYNEX_LIFECYCLE_DISK_CHECK_INTERVAL_S": "1",
}


@dataclass(frozen=True)
class Phase:
    name: str
    points: list[str]  # the first is the representative one, run by default
    env: dict[str, str] = field(default_factory=dict)
    bucket: bool = False
    load: dict[str, Any] = field(default_factory=dict)  # Load options


PHASES = [
    Phase("ingest", ["wal.torn_write:25", "wal.before_sync:25"]),  # half a group commit written / written, unsynced
    Phase(
        "flush",
        [
            "segments.after_rename:3",  # segment renamed, catalog not committed: an orphan, the WAL replays
            "segments.before_rename:3",  # segment synced under its temporary name
            "segments.after_publish:3",  # catalog committed, head not swapped, checkpoint not advanced
            "wal.mid_remove:1",  # deleting WAL files behind the checkpoint
        ],
        {"LYNEX_WAL_SEGMENT_BYTES": "65536"},
    ),
    Phase(
        "compaction",
        [
            "lifecycle.compaction.after_swap",  # merged file published, inputs `deleting`, still on disk
            "lifecycle.compaction.before_swap",  # merged file renamed, catalog not swapped
            "lifecycle.rewrite.before_rename",  # merged file synced under its temporary name
            "lifecycle.janitor.before_forget",  # replaced inputs removed, their rows not yet
        ],
        {"LYNEX_COMPACTION_INTERVAL_S": "1", "LYNEX_COMPACTION_MIN_SEGMENTS": "2"},
    ),
    Phase(
        "offload",
        [
            "lifecycle.offload.after_swap",  # switched to the bucket copy, the local file waits for the janitor
            "lifecycle.offload.before_swap",  # uploaded and verified, catalog not switched
            "lifecycle.janitor.before_forget",  # the offloaded segment's local file removed, its row not yet
        ],
        {"LYNEX_OFFLOAD_HOT_WINDOW_S": "0", "LYNEX_OFFLOAD_INTERVAL_S": "1"},
        bucket=True,
    ),
    Phase(
        "retention",
        [
            "lifecycle.rewrite.after_swap",  # a segment straddling the cutoff rewritten and swapped
            "lifecycle.rewrite.before_rename",  # its rewrite synced under a temporary name
            "lifecycle.retention.after_drop",  # wholly expired segments dropped, straddling ones not yet rewritten
        ],
        {"LYNEX_RETENTION_DAYS": "7", "LYNEX_RETENTION_INTERVAL_S": "1"},
        load={"old_share": 0.5, "old_prelude": 3},  # half of each batch 10 days old; first 3 batches wholly
    ),
    Phase(
        "deletion",
        [
            "lifecycle.deletion.before_drop",  # every file purged, the tombstones not yet dropped
            "lifecycle.rewrite.before_rename",  # a purged file synced under its temporary name
            "lifecycle.rewrite.after_swap",  # one file purged and swapped, others not yet
        ],
        {"LYNEX_DELETION_MAX_DELAY_S": "4"},  # the purge runs every second
        load={"deleter": True},
    ),
    Phase(
        "backup",
        [
            "lifecycle.backup.before_manifest",  # meta.db and segments stored, no manifest: not a backup
            "lifecycle.backup.after_segment:2",  # a segment uploaded and recorded, the rest not
            "lifecycle.backup.mid_rotate",  # the old backup's manifest removed, its meta.db and protection not
        ],
        {"LYNEX_BACKUP_INTERVAL_S": "1", "LYNEX_BACKUP_KEEP": "1"},
        bucket=True,
    ),
    Phase(
        "export",
        ["lifecycle.export.after_step"],  # part of a download written, over offloaded segments
        {"LYNEX_OFFLOAD_HOT_WINDOW_S": "0", "LYNEX_OFFLOAD_INTERVAL_S": "1"},
        bucket=True,
        load={"exporter": True},
    ),
]
CELLS = [
    pytest.param(phase, point, id=f"{phase.name}-{point}")
    for phase in PHASES
    for point in (phase.points if FULL else phase.points[:1])
]


def bucket_env(moto: MotoServer, name: str) -> dict[str, str]:
    return {
        "LYNEX_BUCKET_TYPE": "s3",
        "LYNEX_BUCKET_BUCKET": name,
        "LYNEX_BUCKET_ENDPOINT": moto.endpoint,
        "LYNEX_BUCKET_ACCESS_KEY_ID": "testing",
        "LYNEX_BUCKET_SECRET_ACCESS_KEY": "testing",
        "LYNEX_BUCKET_ALLOW_HTTP": "true",
    }


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    """Servers a test started; any still running at the end is killed."""
    started: list[RunningServer] = []
    yield started
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()


def crash(server: RunningServer, phase: Phase, point: str, ledger: Ledger) -> None:
    """Run the phase's load until the armed server kills itself at `point`."""
    load = Load(server, ledger, "c", **phase.load).start()
    assert server.proc is not None
    try:
        rc = server.proc.wait(timeout=CRASH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        rc = None
    load.stop()
    server.kill()
    assert rc == -signal.SIGKILL, f"{point} not reached in {CRASH_TIMEOUT_S} s (rc={rc}); log: {server.log_path}"
    with ledger.lock:
        assert not ledger.failures, ledger.failures[:5]
        assert len(ledger.acked) > 0, "nothing was acknowledged before the crash"


def check_files(data_dir: Path) -> None:
    """After a clean stop: no temporary file anywhere, and every segment file named by a catalog row."""
    assert sorted(data_dir.rglob("*.tmp")) == []
    conn = apsw.Connection(str(data_dir / "meta.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        named = {data_dir / path for (path,) in conn.execute("SELECT path FROM segments WHERE location = 'local'")}
    finally:
        conn.close()
    on_disk = set((data_dir / "segments").rglob("*.parquet"))
    assert on_disk <= named, f"segment files no catalog row names: {sorted(on_disk - named)[:3]}"


def check_export(server: RunningServer, ledger: Ledger) -> None:
    """An export after the restart holds every acknowledged span once and no deleted one."""
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/export", params={"format": "jsonl"},
                  headers=server.headers(), timeout=120)  # fmt: skip
    assert r.status_code == 200, r.text
    counts = Counter(span_key(row["trace_id"], row["span_id"]) for row in map(json.loads, r.text.splitlines()))
    missing = ledger.expected() - set(counts)
    assert not missing, f"{len(missing)} acknowledged spans missing from the export, e.g. {sorted(missing)[:3]}"
    assert max(counts.values()) == 1


def check_restore(server: RunningServer, ledger: Ledger, env: dict[str, str], moto: MotoServer, bucket: str,
                  servers: list[RunningServer]) -> None:  # fmt: skip
    """Wait for a complete backup made after the restart, restore it into a new data dir and check that."""
    store = S3Store(moto.settings(bucket))
    since = time.time() + 1.0  # the replayed head has been flushed by then (it flushes at 0.2 s)
    wait_for(lambda: any(m.created_at / 1e6 > since for m in list_backups(store)), 60, "a backup after the restart")
    server.stop()
    restored = server.data_dir.parent / "restored"
    subprocess.run([sys.executable, "-m", "lynex_box", "restore", "--from-bucket", "--data-dir", str(restored),
                    "--json"], env={**os.environ, **env}, check=True, capture_output=True, timeout=120)  # fmt: skip
    copy = RunningServer(restored, env=env)
    copy.creds = server.creds
    servers.append(copy)
    copy.start(timeout=START_TIMEOUT_S)
    check(copy, ledger, "restored from the backup")
    copy.stop()


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("phase", "point"), CELLS)
def test_a_sigkill_at_a_crash_point_loses_no_acknowledged_span_and_resurrects_no_deleted_one(
    request: pytest.FixtureRequest, tmp_path: Path, servers: list[RunningServer], phase: Phase, point: str
) -> None:
    env = {**BASE_ENV, **phase.env}
    moto: MotoServer | None = None
    bucket = ""
    if phase.bucket:
        moto, bucket = request.getfixturevalue("moto_server"), request.getfixturevalue("bucket")
        env |= bucket_env(moto, bucket)
    server = RunningServer(tmp_path / "data", env={**env, "LYNEX_CRASH_AT": point})
    servers.append(server)
    server.start(timeout=START_TIMEOUT_S)
    ledger = Ledger()
    crash(server, phase, point, ledger)

    server.env = env  # unarmed from here on
    server.start(timeout=START_TIMEOUT_S)
    check(server, ledger, f"after the kill at {point}")
    time.sleep(3.0)  # the restarted server's own passes finish or redo the interrupted work
    check(server, ledger, "after the passes that followed")
    if phase.name == "export":
        check_export(server, ledger)
    if phase.name == "backup":
        assert moto is not None
        check_restore(server, ledger, env, moto, bucket, servers)
    else:
        assert server.stop() == 0
    check_files(server.data_dir)
