"""The WAL writer and reader through their public interface: durability, group commit, rotation, deletion."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lynex_box.config import WalSettings
from lynex_box.versions import FormatTooNew
from lynex_box.wal import WalLog
from lynex_box.wal.log import file_versions, list_wal_files
from lynex_box.wal.reader import WalCursor


def read_all(log: WalLog, from_lsn: int = 1) -> list[tuple[int, bytes]]:
    cursor = WalCursor(log.directory, from_lsn, lambda: log.durable_lsn)
    out = []
    while batch := cursor.read(100):
        out.extend((r.lsn, r.payload) for r in batch)
    return out


def test_appends_return_consecutive_lsns_and_survive_reopen(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path)
    lsns = [log.append(1, f"record {i}".encode()) for i in range(10)]
    assert lsns == list(range(1, 11))
    log.close()
    log = WalLog.open(tmp_path)
    assert read_all(log) == [(i + 1, f"record {i}".encode()) for i in range(10)]
    assert log.append(1, b"next") == 11
    log.close()


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path, WalSettings(group_commit_interval_ms=5))
    with ThreadPoolExecutor(16) as pool:
        lsns = list(pool.map(lambda i: log.append(2, b"x" * 1000 + str(i).encode()), range(400)))
    assert sorted(lsns) == list(range(1, 401))
    assert log.commits < 400 / 2, f"{log.commits} commits for 400 appends: no grouping"
    log.close()


def test_files_rotate_at_the_size_limit_and_are_read_across(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path, WalSettings(segment_bytes=64 * 1024, compression_level=1))
    payloads = [bytes([i % 251]) * 7000 + i.to_bytes(4, "little") for i in range(60)]
    import os

    noise = [os.urandom(7000) for _ in payloads]  # incompressible, so files really fill up
    for p, n in zip(payloads, noise, strict=True):
        log.append(1, p + n)
    assert len(list_wal_files(tmp_path)) > 3
    assert [p for _, p in read_all(log)] == [p + n for p, n in zip(payloads, noise, strict=True)]
    assert [lsn for lsn, _ in read_all(log, from_lsn=37)] == list(range(37, 61))
    log.close()


def test_remove_before_deletes_only_files_wholly_behind_the_checkpoint(tmp_path: Path) -> None:
    import os

    log = WalLog.open(tmp_path, WalSettings(segment_bytes=64 * 1024))
    for _ in range(40):
        log.append(1, os.urandom(10_000))
    files = log.files()
    middle = files[2]
    removed = log.remove_before(middle.first_lsn)  # middle's first record consumed, not the rest of it
    assert removed == 2
    assert next(f.seq for f in log.files()) == middle.seq
    assert read_all(log, middle.first_lsn)[0][0] == middle.first_lsn
    assert log.remove_before(10**9) == len(files) - 3  # never the newest file
    assert len(log.files()) == 1
    log.close()


def test_reopen_never_reuses_lsns_behind_the_checkpoint(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path)
    log.append(1, b"a")
    log.close()
    log = WalLog.open(tmp_path, min_next_lsn=100)  # the catalog consumed up to 99: the tail was lost
    assert log.append(1, b"b") == 100
    log.close()
    log = WalLog.open(tmp_path)
    assert read_all(log) == [(1, b"a"), (100, b"b")]
    log.close()


def test_os_durability_appends_are_readable(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path, WalSettings(durability="os"))
    assert log.append(1, b"fast") == 1
    assert read_all(log) == [(1, b"fast")]
    log.close()


def test_a_tailing_reader_sees_appends_as_they_become_durable(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path)
    cursor = WalCursor(tmp_path, 1, lambda: log.durable_lsn)
    assert cursor.read() == []
    seen: list[int] = []
    done = threading.Event()

    def tail() -> None:
        while len(seen) < 50:
            log.wait_durable(cursor.next_lsn - 1, 1.0)
            seen.extend(r.lsn for r in cursor.read())
        done.set()

    thread = threading.Thread(target=tail)
    thread.start()
    for i in range(50):
        log.append(1, str(i).encode())
    assert done.wait(10)
    thread.join()
    assert seen == list(range(1, 51))
    log.close()


def test_a_damaged_file_header_of_the_newest_file_is_dropped(tmp_path: Path) -> None:
    import os

    log = WalLog.open(tmp_path, WalSettings(segment_bytes=64 * 1024))
    for _ in range(10):
        log.append(1, os.urandom(10_000))
    log.close()
    newest = list_wal_files(tmp_path)[-1][1]
    first_before = [f for f in list_wal_files(tmp_path)]
    newest.write_bytes(b"LNX")  # torn at creation
    log = WalLog.open(tmp_path)
    lsns = [lsn for lsn, _ in read_all(log)]
    assert lsns == list(range(1, len(lsns) + 1)) and len(lsns) < 10
    assert log.append(1, b"after") == len(lsns) + 1
    assert len(first_before) >= 2
    log.close()


def test_a_failed_write_fails_only_its_appends_and_leaves_no_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import lynex_box.wal.log as wal_log

    log = WalLog.open(tmp_path)
    assert log.append(1, b"before") == 1
    real_sync = wal_log.os.fdatasync
    calls = {"n": 0}

    def failing_sync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_sync(fd)

    monkeypatch.setattr(wal_log.os, "fdatasync", failing_sync)
    with pytest.raises(OSError, match="No space"):
        log.append(1, b"lost")
    assert log.append(1, b"after") == 2  # the failed record's LSN is given back: no gap
    log.close()
    log = WalLog.open(tmp_path)
    assert read_all(log) == [(1, b"before"), (2, b"after")]
    log.close()


@pytest.mark.parametrize("first, second", [("lz4", "zstd"), ("zstd", "none"), ("none", "lz4")])
def test_the_codec_can_change_between_runs(tmp_path: Path, first: str, second: str) -> None:
    """Every reader reads every codec: a restart with another `wal.compression` keeps the older records."""
    records = [b"span %d " % i * 50 for i in range(20)]
    log = WalLog.open(tmp_path, WalSettings(compression=first))  # type: ignore[arg-type]
    for payload in records[:10]:
        log.append(2, payload)
    log.close()
    log = WalLog.open(tmp_path, WalSettings(compression=second))  # type: ignore[arg-type]
    for payload in records[10:]:
        log.append(2, payload)
    assert [p for _, p in read_all(log)] == records
    log.close()
    log = WalLog.open(tmp_path)
    assert [p for _, p in read_all(log)] == records
    log.close()


def test_lz4_shrinks_what_it_writes(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path, WalSettings(compression="lz4"))
    payload = b'{"name": "chat gpt-4o", "input": "hello"} ' * 2000
    log.append(2, payload)
    log.close()
    (path,) = [p for _, p in list_wal_files(tmp_path)]
    assert path.stat().st_size < len(payload) / 10
    assert read_all(WalLog.open(tmp_path)) == [(1, payload)]


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_a_tailing_reader_takes_payloads_the_writer_still_holds(tmp_path: Path, codec: str) -> None:
    """The hand-off: the payload comes from memory (each once), equal to what a read-back decompresses."""
    log = WalLog.open(tmp_path, WalSettings(compression=codec))  # type: ignore[arg-type]
    payloads = [f"record {i} ".encode() * 300 for i in range(6)]
    for payload in payloads:
        log.append(2, payload)
    taken: list[int] = []

    def take(lsn: int) -> bytes | None:
        found = log.take_payload(lsn)
        if found is not None:
            taken.append(lsn)
        return found

    cursor = WalCursor(log.directory, 3, lambda: log.durable_lsn, take)
    assert [(r.lsn, r.payload) for r in cursor.read(100)] == [(i + 1, payloads[i]) for i in range(2, 6)]
    assert taken == [3, 4, 5, 6]
    assert log.take_payload(4) is None  # handed out once
    assert log.take_payload(1) == payloads[0]  # a record the cursor skipped stays for its reader
    # A second reader of the same records reads them back from the file: the same bytes.
    assert read_all(log) == [(i + 1, p) for i, p in enumerate(payloads)]
    log.close()


def test_the_hand_off_keeps_only_the_newest_payloads_within_its_bytes(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path, WalSettings(compression="zstd", handoff_bytes=25_000))
    payloads = [bytes([65 + i]) * 10_000 for i in range(5)]
    for payload in payloads:
        log.append(2, payload)
    assert [log.take_payload(lsn) for lsn in range(1, 6)] == [None, None, None, payloads[3], payloads[4]]
    log.close()
    off = WalLog.open(tmp_path / "off", WalSettings(compression="lz4", handoff_bytes=0))
    off.append(2, payloads[0])
    assert off.take_payload(1) is None
    cursor = WalCursor(off.directory, 1, lambda: off.durable_lsn, off.take_payload)
    assert [r.payload for r in cursor.read(10)] == [payloads[0]]
    off.close()


def test_a_file_of_a_newer_format_stops_the_open_and_nothing_is_cut(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path, WalSettings(segment_bytes=64 * 1024))
    for _ in range(40):
        log.append(1, os.urandom(4000))  # several files
    log.close()
    files = [path for _, path in list_wal_files(tmp_path)]
    assert len(files) >= 3
    # a newer release wrote the middle file, and the first one ends in a torn record: recovery would cut the first
    # and delete every later file, so the version must be checked before any of that
    with open(files[1], "r+b") as fh:
        fh.write(b"LNXWAL02")
    with open(files[0], "ab") as fh:
        fh.write(b"\x01\x02\x03")
    before = {path: path.read_bytes() for path in files}
    with pytest.raises(FormatTooNew) as info:
        WalLog.open(tmp_path)
    assert (info.value.what, info.value.where, info.value.found) == ("WAL file", str(files[1]), 2)
    assert {path: path.read_bytes() for _, path in list_wal_files(tmp_path)} == before
    assert [(p, v) for p, v in file_versions(tmp_path)] == [(p, 2 if p == files[1] else 1) for p in files]


def test_backlog_age_is_the_age_of_the_oldest_unconsumed_commit(tmp_path: Path) -> None:
    log = WalLog.open(tmp_path)
    assert log.backlog_age_s(0) == 0.0  # nothing written
    first = log.append(1, b"old")
    time.sleep(0.3)
    second = log.append(1, b"new")
    assert log.backlog_age_s(0) >= 0.3  # the first record waits
    assert 0 <= log.backlog_age_s(first) < 0.3  # consumed up to the first: the second is the oldest waiting
    assert log.backlog_age_s(second) == 0.0  # all consumed
    log.close()
    reopened = WalLog.open(tmp_path)
    time.sleep(0.05)
    assert reopened.backlog_age_s(0) >= 0.05  # records from before the open: at least as old as the open
    reopened.close()
