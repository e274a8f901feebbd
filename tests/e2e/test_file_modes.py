"""Nothing the real server writes can be read by another local user, whatever the umask it was started with.

The server runs with a directory bucket (segments are offloaded at once and read back through the local cache)
and scheduled local backups, so that every kind of file it keeps is made: meta.db and its -wal/-shm, the WAL,
segments and their temporary names, the cache, backups, the lock and the alerts key.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import RunningServer


def modes(*roots: Path) -> dict[str, str]:
    """Every path under `roots` (roots included) with its mode, e.g. {"data/meta.db": "600"}."""
    out = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))]:
            try:
                st = path.lstat()
            except FileNotFoundError:  # removed while walking (a flush, a rotation)
                continue
            out[str(path.relative_to(root.parent))] = oct(stat.S_IMODE(st.st_mode))[2:]
    return out


def not_private(found: dict[str, str], tmp: Path) -> dict[str, str]:
    return {p: m for p, m in found.items() if m != ("700" if (tmp / p).is_dir() else "600")}


def wait_for(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def started(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    env = {
        "LYNEX_HEAD_MAX_AGE_S": "0.2",
        "LYNEX_BUCKET_TYPE": "directory",
        "LYNEX_BUCKET_DIRECTORY": str(tmp_path / "bucket"),
        "LYNEX_OFFLOAD_HOT_WINDOW_S": "60",  # the spans below are an hour old: offloaded at the first pass
        "LYNEX_OFFLOAD_INTERVAL_S": "1",
        "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0.5",  # the offloaded local copy goes soon after
        "LYNEX_LIFECYCLE_DISK_CHECK_INTERVAL_S": "1",  # the janitor's turn
        "LYNEX_BACKUP_DIR": str(tmp_path / "backups"),
        "LYNEX_BACKUP_INTERVAL_S": "1",
    }
    server = RunningServer(tmp_path / "data", env=env)
    previous = os.umask(request.param)  # inherited by the server process
    try:
        server.start()
    finally:
        os.umask(previous)
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


def test_every_directory_is_0700_and_every_file_0600(started: RunningServer, tmp_path: Path) -> None:
    server = started
    start = time.time_ns() // 1_000_000 - 3_600_000
    events = [{"event_id": f"e{i}", "name": "chat", "start_time": start + i, "model": "gpt-4o"} for i in range(20)]
    url = f"{server.url}/v1/projects/{server.project}"
    r = httpx.post(f"{url}/events", json={"events": events}, headers=server.headers())
    assert r.status_code == 202, r.text
    bucket, backups = tmp_path / "bucket", tmp_path / "backups"
    wait_for(lambda: any(bucket.rglob("*.parquet")) and any(p.name == "meta.db" for p in backups.rglob("*")))
    # read the offloaded segment back: through the bucket cache in the data dir
    wait_for(lambda: not any((server.data_dir / "segments").rglob("*.parquet")))
    spans = httpx.get(f"{url}/spans", params={"limit": 100}, headers=server.headers())
    assert spans.status_code == 200 and len(spans.json()["items"]) == 20, spans.text
    assert any((server.data_dir / "cache").rglob("*.parquet"))
    running = modes(server.data_dir, bucket, backups)
    assert {"data/meta.db", "data/meta.db-wal", "data/LOCK", "data/alerts-secrets.key"} <= set(running)
    assert any(p.startswith("data/wal/") for p in running) and any(p.startswith("data/cache/") for p in running)
    assert not_private(running, tmp_path) == {}
    assert server.stop() == 0
    assert not_private(modes(server.data_dir, bucket, backups), tmp_path) == {}


def test_start_tightens_a_data_dir_open_to_others_and_warns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    server = RunningServer(data).start()
    try:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    finally:
        server.stop()
    assert "data dir was open to other users; mode tightened" in server.log_path.read_text()
    assert "from=0o755 to=0o700" in server.log_path.read_text()
