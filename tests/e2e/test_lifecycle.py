"""End to end: deletion and export through the API and the CLI of a real server, and the background purge."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.server import RunningServer

FAST = {
    "LYNEX_DELETION_MAX_DELAY_S": "4",  # the purge runs every second
    "LYNEX_HEAD_MAX_AGE_S": "0.2",
    "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0.5",  # replaced files go soon after
    "LYNEX_LIFECYCLE_DISK_CHECK_INTERVAL_S": "1",  # the janitor's turn
}


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path / "data", env=FAST).start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def spans(n: int) -> list[dict[str, Any]]:
    start = time.time_ns() // 1_000_000 - 3_600_000
    return [
        {"event_id": f"e{i}", "trace_id": f"t{i // 3}", "span_id": f"s{i}", "type": "llm", "model": "gpt-4o",
         "start_time": start + i * 1000, "user_id": f"u{i % 2}", "session_id": f"sess{i % 3}",
         "usage": {"input_tokens": 5, "output_tokens": 1}}
        for i in range(n)
    ]  # fmt: skip


def traces(n: int) -> list[dict[str, Any]]:
    """n traces of 3 spans, as SDKs send them: the root names the user and the session, the children neither."""
    start = time.time_ns() // 1_000_000 - 3_600_000
    out = []
    for k in range(n):
        for j in range(3):
            owner = {"user_id": f"u{k % 2}", "session_id": f"sess{k % 3}"} if j == 0 else {}
            out.append({"event_id": f"e{k}-{j}", "trace_id": f"t{k}", "span_id": f"s{k}-{j}", "type": "llm",
                        "model": "gpt-4o", "start_time": start + k * 1000 + j, **owner,
                        "input": f"prompt {j} of t{k}", "usage": {"input_tokens": 5, "output_tokens": 1}})  # fmt: skip
    return out


def spans_api(server: RunningServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/spans", params={"limit": 1000}, headers=server.headers())
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_delete_through_the_api_hides_at_once_and_purges_every_file(fast_server: RunningServer) -> None:
    server = fast_server
    url = f"{server.url}/v1/projects/{server.project}"
    r = httpx.post(f"{url}/events", json={"events": traces(10)}, headers=server.headers())
    assert r.status_code == 202
    wait_for(lambda: len(spans_api(server)) == 30)

    reader = server.cli("keys", "create", "--project", server.project, "--scope", "read")["api_key"]
    wait_for(lambda: httpx.get(f"{url}/traces", headers=server.headers(reader)).status_code == 200)  # key loaded
    assert httpx.delete(f"{url}/users/u1", headers=server.headers(reader)).status_code == 403
    r = httpx.delete(f"{url}/users/u1", headers=server.headers())
    assert r.status_code == 202 and r.json()["deleted"] == {"kind": "user", "id": "u1"} and r.json()["scope_complete"]
    assert {s["trace_id"] for s in spans_api(server)} == {"t0", "t2", "t4", "t6", "t8"}  # at once, children too
    assert httpx.delete(f"{url}/traces/t0", headers=server.headers()).status_code == 202
    assert "t0" not in {s["trace_id"] for s in spans_api(server)}
    out = server.cli("delete", "--project", server.project, "--session", "sess2")  # the CLI beside the server
    assert out["kind"] == "session" and out["scope_complete"]
    remaining = spans_api(server)
    assert sorted(s["event_id"] for s in remaining) == [f"e{k}-{j}" for k in (4, 6) for j in range(3)]

    def purged() -> bool:
        files = list((server.data_dir / "segments").rglob("*.parquet"))
        try:
            values = [v for f in files for v in pq.read_table(f, columns=["event_id"]).column(0).to_pylist()]
        except FileNotFoundError:  # the janitor removed a replaced file between the listing and the read
            return False
        return bool(files) and sorted(values) == sorted(s["event_id"] for s in remaining)

    wait_for(purged)
    assert spans_api(server) == remaining
    audit = httpx.get(f"{url}/audit", headers=server.headers())
    if audit.status_code == 200:  # the admin API's audit listing
        assert {"data.deleted"} <= {e["action"] for e in audit.json()["items"]}


def test_export_download_streams_every_format(server: RunningServer) -> None:
    url = f"{server.url}/v1/projects/{server.project}"
    sent = spans(12)
    assert httpx.post(f"{url}/events", json={"events": sent}, headers=server.headers()).status_code == 202
    wait_for(lambda: len(spans_api(server)) == 12)
    r = httpx.get(f"{url}/export", params={"format": "parquet"}, headers=server.headers())
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    assert "attachment" in r.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(r.content))
    assert sorted(table.column("event_id").to_pylist()) == sorted(f"e{i}" for i in range(12))
    r = httpx.get(f"{url}/export", params={"format": "jsonl", "from": sent[6]["start_time"]}, headers=server.headers())
    assert [json.loads(line)["event_id"] for line in r.text.splitlines()] == [f"e{i}" for i in range(6, 12)]
    r = httpx.get(f"{url}/export", params={"format": "csv"}, headers=server.headers())
    assert r.text.splitlines()[0].startswith('"project_id","trace_id"') and len(r.text.splitlines()) == 13
    assert httpx.get(f"{url}/export", params={"format": "xls"}, headers=server.headers()).status_code == 400
    assert httpx.get(f"{url}/export").status_code == 401

    server.stop()  # the CLI export, with the server stopped, sees the same rows
    target = server.data_dir.parent / "out.jsonl"
    subprocess.run(
        [sys.executable, "-m", "lynex_box", "export", "--project", server.project, "--format", "jsonl",
         "-o", str(target), "--data-dir", str(server.data_dir)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert len(target.read_text().splitlines()) == 12


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs (root only: skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_filled_small_disk_answers_503_and_recovers_without_losing_data(small_disk: Path) -> None:
    env = {
        "LYNEX_INGEST_MIN_FREE_DISK_BYTES": str(8 << 20),
        "LYNEX_WAL_SEGMENT_BYTES": str(1 << 20),
        "LYNEX_HEAD_MAX_AGE_S": "0.2",
    }
    server = RunningServer(small_disk / "data", env=env).start()
    url = f"{server.url}/v1/projects/{server.project}"
    try:
        acked = 0
        for k in range(3):
            batch = [dict(e, event_id=f"b{k}-{e['event_id']}") for e in spans(50)]
            assert httpx.post(f"{url}/events", json={"events": batch}, headers=server.headers()).status_code == 202
            acked += 50
        filler = small_disk / "filler"
        with open(filler, "wb", buffering=0) as fh:  # something else fills the disk up to 4 MiB free
            while shutil.disk_usage(small_disk).free > 4 << 20:
                fh.write(b"\0" * (1 << 20))
        r = httpx.post(f"{url}/events", json={"events": spans(5)}, headers=server.headers())
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0 and "disk" in r.json()["error"]["message"]
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        assert len(spans_api(server)) == acked  # reads keep working
        filler.unlink()  # space comes back
        batch = [dict(e, event_id=f"after-{e['event_id']}") for e in spans(10)]
        assert httpx.post(f"{url}/events", json={"events": batch}, headers=server.headers()).status_code == 202
        acked += 10
        wait_for(lambda: len(spans_api(server)) == acked)
    finally:
        server.stop()
    server.start()  # nothing lost, nothing damaged
    try:
        wait_for(lambda: len(spans_api(server)) == acked)
    finally:
        server.stop()


def test_the_server_offloads_on_schedule_and_a_missing_bucket_answers_503(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    env = {
        "LYNEX_BUCKET_TYPE": "directory",
        "LYNEX_BUCKET_DIRECTORY": str(bucket),
        "LYNEX_OFFLOAD_HOT_WINDOW_S": "0",
        "LYNEX_OFFLOAD_INTERVAL_S": "1",
        "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0",
        "LYNEX_HEAD_MAX_AGE_S": "0.2",
    }
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        url = f"{server.url}/v1/projects/{server.project}"
        assert httpx.post(f"{url}/events", json={"events": spans(20)}, headers=server.headers()).status_code == 202
        wait_for(
            lambda: list(bucket.rglob("*.parquet")) and not list((server.data_dir / "segments").rglob("*.parquet"))
        )
        bucket.rename(tmp_path / "away")  # the bucket cannot be reached
        r = httpx.get(f"{url}/spans", headers=server.headers())
        assert r.status_code == 503 and r.json()["error"]["code"] == "bucket_unavailable" and r.headers["retry-after"]
        (tmp_path / "away").rename(bucket)
        assert len(spans_api(server)) == 20  # read back through the cache
    finally:
        server.stop()


def test_a_project_hot_window_and_retention_set_through_the_api(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    env = {
        "LYNEX_BUCKET_TYPE": "directory",
        "LYNEX_BUCKET_DIRECTORY": str(bucket),
        "LYNEX_OFFLOAD_INTERVAL_S": "1",
        "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0",
        "LYNEX_HEAD_MAX_AGE_S": "0.2",
    }  # the default hot window (7 days) keeps these spans local
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        settings = f"{server.url}/api/projects/{server.project}/settings"
        url = f"{server.url}/v1/projects/{server.project}"
        assert httpx.post(f"{url}/events", json={"events": spans(20)}, headers=server.headers()).status_code == 202
        wait_for(lambda: len(spans_api(server)) == 20)
        time.sleep(2)  # offload passes run: nothing is past the default hot window
        assert not list(bucket.rglob("*.parquet"))
        assert httpx.get(settings, headers=server.headers()).json()["hot_window_s"] is None
        for bad in (-1, "1h", 1.5, True):
            r = httpx.patch(settings, json={"hot_window_s": bad}, headers=server.headers())
            assert r.status_code == 400 and "hot_window_s" in r.json()["error"]["message"]
        r = httpx.patch(settings, json={"hot_window_s": 60, "retention_days": 0}, headers=server.headers())
        assert r.status_code == 200 and (r.json()["hot_window_s"], r.json()["retention_days"]) == (60, 0)
        wait_for(
            lambda: list(bucket.rglob("*.parquet")) and not list((server.data_dir / "segments").rglob("*.parquet"))
        )
        assert len(spans_api(server)) == 20  # read back from the bucket
    finally:
        server.stop()
