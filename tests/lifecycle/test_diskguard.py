"""The disk guard: under pressure, lifecycle work that frees disk runs at once; a full disk never corrupts data."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, now_ms, rows


def test_pressure_offloads_oldest_first_ignoring_the_hot_window_until_relieved(
    open_engine: Any, tmp_path: Path
) -> None:
    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), lifecycle={"disk_pressure_free_bytes": 100})
    for k in range(3):
        add_segment(engine, "p1", f"s{k}", 10, now_ms() - (3 - k) * 3_600_000)  # all inside the 7-day hot window
    expected = rows(engine)
    assert engine.lifecycle.offload() == 0
    # free disk grows by 40 bytes per offloaded segment; pressure ends at 100: after the second one
    remote = lambda: sum(e.location == "remote" for e in engine.store.segment_entries())  # noqa: E731
    engine.lifecycle.guard._free = lambda _: 25 + 40 * remote()
    assert engine.lifecycle.relieve_disk() is True
    entries = sorted(engine.store.segment_entries(), key=lambda e: e.min_time)
    assert [e.location for e in entries] == ["remote", "remote", "local"]  # oldest first, then stopped
    assert rows(engine) == expected
    assert engine.lifecycle.relieve_disk() is False


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs (root only: skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path, leave: int) -> None:
    """Write a filler file until only about `leave` bytes are free."""
    with open(path, "wb", buffering=0) as fh, contextlib.suppress(OSError):  # unbuffered: close cannot fail
        while os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize > leave:
            fh.write(b"\0" * 65536)


def test_a_rewrite_on_a_full_disk_fails_cleanly_and_succeeds_once_space_returns(
    open_engine: Any, small_disk: Path
) -> None:
    engine = open_engine(small_disk / "data", compaction={"min_segments": 2})
    for k in range(3):
        add_segment(engine, "p1", f"f{k}", 200, now_ms() - DAY_MS + k * 1000)
    expected = rows(engine)
    before = sorted(p.name for p in (small_disk / "data" / "segments" / "p1").iterdir())
    fill(small_disk / "filler", leave=0)
    with pytest.raises(OSError) as info:
        engine.lifecycle.compact()
    assert info.value.errno == errno.ENOSPC or "No space" in str(info.value)
    assert sorted(p.name for p in (small_disk / "data" / "segments" / "p1").iterdir()) == before  # no partial file
    assert rows(engine) == expected and len(engine.store.segment_entries()) == 3
    (small_disk / "filler").unlink()
    assert engine.lifecycle.compact() == 1
    assert rows(engine) == expected
