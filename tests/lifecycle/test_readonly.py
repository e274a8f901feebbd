"""Automatic read-only mode from the bucket's write health (lifecycle/readonly.py, objstore/health.py), against
real stores: an S3 store on a port where nothing listens (every write fails as in an outage: connection refused)
and a directory store (every write succeeds). A clock the test moves stands for the seconds of an outage.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lynex_box.lifecycle.readonly import ReadOnlyMode, probe_key
from lynex_box.objstore import (
    LocalStore,
    PreconditionFailed,
    S3Settings,
    S3Store,
    StoreUnavailable,
    WatchedStore,
    WriteHealth,
)
from tests.objstore.conftest import closed_port  # noqa: F401 - fixture used here


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unreachable(port: int) -> S3Store:
    return S3Store(S3Settings(
        bucket="b", endpoint=f"http://127.0.0.1:{port}", region="us-east-1", access_key_id="k",
        secret_access_key="s", allow_http=True, timeout_s=2.0, retries=0,
    ))  # fmt: skip


def test_failed_writes_start_the_clock_an_answered_one_stops_it_and_reads_do_not_count(
    closed_port: int,  # noqa: F811
    tmp_path: Path,
) -> None:
    clock = Clock()
    health = WriteHealth(clock)
    down = WatchedStore(unreachable(closed_port), health)
    with pytest.raises(StoreUnavailable):
        down.put("a", b"1")
    clock.now += 30
    with pytest.raises(StoreUnavailable):
        down.put("a", b"1")
    assert health.failing and health.failing_for_s() == 30 and health.failures == 2 and health.last_error
    with pytest.raises(StoreUnavailable):
        down.get("a")  # a read says nothing about writes: still failing since the first write
    assert health.failing_for_s() == 30
    LocalStore(tmp_path).put("a", b"1")  # not through the watch
    up = WatchedStore(LocalStore(tmp_path), health)
    with pytest.raises(PreconditionFailed):
        up.put_if_absent("a", b"2")  # refused, but answered: the store is reachable and takes writes
    assert not health.failing and health.failing_for_s() == 0 and health.last_error is None
    with pytest.raises(StoreUnavailable):
        down.put("a", b"1")
    up.put_if_absent("b", b"1")
    assert not health.failing


def test_read_only_after_readonly_after_s_of_failed_writes_and_writable_at_the_first_success(
    closed_port: int,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    health = WriteHealth(clock)
    mode = ReadOnlyMode(
        manual=False, readonly_after_s=60, node_id="n1", health=health,
        bucket=WatchedStore(unreachable(closed_port), health),
    )  # fmt: skip
    assert mode.reason() is None and [job.id for job in mode.jobs()] == ["bucket_probe"]
    mode.probe()  # nothing failing: no request at all (an unreachable store would have failed it)
    assert not health.failing
    health.failed(StoreUnavailable("connection refused"))
    clock.now += 59
    assert mode.reason() is None  # within the bound: ingest goes on into the WAL
    clock.now += 1
    mode.probe()  # fails again
    assert mode.reason() is not None and "readonly_after_s = 60" in str(mode.reason())
    state = mode.state()
    assert state["read_only"] and state["mode"] == "automatic" and state["bucket"]["writable"] is False
    assert mode.retry_after_s() == 10
    assert "read-only mode entered cause=bucket_unwritable" in caplog.text
    back = ReadOnlyMode(
        manual=False,
        readonly_after_s=60,
        node_id="n1",
        health=health,
        bucket=WatchedStore(LocalStore(tmp_path), health),
    )
    assert back.reason() is not None  # the same node (the same health), whose store is now reachable
    back.probe()
    assert back.reason() is None and LocalStore(tmp_path).get(probe_key("n1")).data.startswith(b'{"node_id": "n1"')
    assert "read-only mode left" in caplog.text


def test_manual_mode_refuses_writes_without_a_bucket_and_schedules_no_probe() -> None:
    mode = ReadOnlyMode(manual=True, readonly_after_s=60, node_id="n1")
    assert mode.reason() is not None and mode.retry_after_s() == 60 and mode.jobs() == []
    assert mode.state() == {"read_only": True, "mode": "manual", "reason": mode.reason(), "bucket": None}


def test_zero_turns_the_automatic_mode_off(closed_port: int) -> None:  # noqa: F811
    clock = Clock()
    health = WriteHealth(clock)
    mode = ReadOnlyMode(manual=False, readonly_after_s=0, node_id="n1", health=health, bucket=unreachable(closed_port))
    health.failed(StoreUnavailable("down"))
    clock.now += 86_400
    assert mode.reason() is None and mode.jobs() == []
