"""The WAL writer: recovery on open, group-committed appends, file rotation and deletion.

One `WalLog` owns `<data>/wal/`. A single writer thread does every write and fsync, so concurrent
appends share one `fdatasync` (group commit) and the file is never written by two threads. An
append returns only when its record is durable. This module must never acknowledge a record before
its bytes are written (and, with durability "fsync", synced), and never keep a damaged tail.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lynex_box import fsutil
from lynex_box.config import WalSettings
from lynex_box.crashpoints import crash_hit, crash_now, crash_point
from lynex_box.versions import WAL_FORMAT, FormatTooNew
from lynex_box.wal.format import (
    FILE_HEADER,
    FILE_HEADER_SIZE,
    FrameError,
    compress_payload,
    decode_file_header,
    decode_record_at,
    encode_file_header,
    encode_record,
    file_version,
)

log = logging.getLogger("lynex.wal")


@dataclass(frozen=True, slots=True)
class WalFile:
    seq: int
    first_lsn: int
    path: Path


class WalClosed(Exception):
    """The log was closed; nothing more can be appended."""


def file_name(seq: int) -> str:
    return f"{seq:08d}.wal"


def list_wal_files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for p in directory.iterdir():
        if p.suffix == ".wal" and p.stem.isdigit() and len(p.stem) == 8:
            found.append((int(p.stem), p))
    return sorted(found)


def file_versions(directory: Path) -> list[tuple[Path, int | None]]:
    """Each WAL file with the format version its header names (None: a header too short or damaged to say).

    Reads 16 bytes a file and changes nothing: `lynex-box upgrade --check` runs it beside a server."""
    found: list[tuple[Path, int | None]] = []
    if not directory.is_dir():
        return found
    for _, path in list_wal_files(directory):
        try:
            with open(path, "rb") as fh:
                header = fh.read(FILE_HEADER_SIZE)
        except FileNotFoundError:  # a running server removed it behind its checkpoint
            continue
        found.append(
            (path, file_version(FILE_HEADER.unpack_from(header)[0]) if len(header) == FILE_HEADER_SIZE else None)
        )
    return found


def check_versions(directory: Path) -> None:
    """Refuse (FormatTooNew) a WAL of which any file has a newer format than this release reads.

    Done before recovery, which cuts a damaged tail and deletes every file after it: a newer file must stop the
    open before anything is cut, whichever file it is."""
    for path, version in file_versions(directory):
        if version is not None and version > WAL_FORMAT:
            raise FormatTooNew("WAL file", str(path), version, WAL_FORMAT)


@dataclass(slots=True)
class _Pending:
    rtype: int
    body: bytes
    flags: int
    future: concurrent.futures.Future[int]
    payload: bytes | None = None  # the uncompressed payload, for the reader's hand-off
    lsn: int = 0


class WalLog:
    """An open WAL. Use `WalLog.open(dir, settings)`; call `close()` to stop the writer thread."""

    def __init__(self, directory: Path, settings: WalSettings, files: list[WalFile], next_lsn: int) -> None:
        self.directory = directory
        self.settings = settings
        self._files = files
        self._next_lsn = next_lsn
        self._durable_lsn = next_lsn - 1
        self._synced_lsn = next_lsn - 1  # written (and synced, per durability) by the writer thread
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._durable_cond = threading.Condition(threading.Lock())
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._closed = False
        self.commits = 0  # group commits done: one write + one sync each (observability, tests)
        # Byte accounting for backpressure: (last lsn of a commit, bytes written since open after it, when: monotonic).
        self._written = 0
        self._marks: collections.deque[tuple[int, int, float]] = collections.deque(
            [(next_lsn - 1, 0, time.monotonic())]
        )
        self._bytes_at_open = sum(f.path.stat().st_size for f in files)
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # Payloads of records written since open that the reader has not taken yet, oldest first, by LSN.
        self._handoff: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._handoff_bytes = 0
        last = files[-1]
        self._fd = os.open(last.path, os.O_WRONLY | os.O_APPEND)
        self._file_size = os.fstat(self._fd).st_size
        self._file_records = next_lsn - last.first_lsn
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- opening and recovery
    @classmethod
    def open(cls, directory: Path, settings: WalSettings | None = None, min_next_lsn: int = 1) -> WalLog:
        """Open (creating if needed) and recover the log: cut a torn or damaged tail, keep the rest.

        `min_next_lsn` is the catalog's consumed LSN + 1: if the log ends before it (its tail was
        lost), new records start there, so no new record can hide behind the checkpoint.
        """
        settings = settings or WalSettings()
        fsutil.make_dir(directory)
        check_versions(directory)
        files: list[WalFile] = []
        expected: int | None = None
        entries = list_wal_files(directory)
        for index, (seq, path) in enumerate(entries):
            first_lsn, last_lsn, cut = _recover_file(path, expected)
            if first_lsn is None:  # header damaged or out of sequence: this file and all after it go
                _delete_from(entries[index:])
                break
            files.append(WalFile(seq, first_lsn, path))
            expected = last_lsn + 1
            if cut:  # damage inside this file: later files cannot continue it
                _delete_from(entries[index + 1 :])
                break
        next_lsn = expected if expected is not None else 1
        if not files or next_lsn < min_next_lsn:
            next_seq = max((seq for seq, _ in list_wal_files(directory)), default=0) + 1
            next_lsn = max(next_lsn, min_next_lsn)
            files.append(_create_file(directory, next_seq, next_lsn))
        return cls(directory, settings, files, next_lsn)

    # ------------------------------------------------------------------------- appending
    def append(self, rtype: int, payload: bytes, codec: str | None = None) -> int:
        """Append one record and block until it is durable; returns its LSN."""
        return self.submit(rtype, payload, codec).result()

    async def append_async(self, rtype: int, payload: bytes | Callable[[], bytes], codec: str | None = None) -> int:
        """Compress in a worker thread, then await durability without blocking the loop.

        `payload` may be a function that builds it: it then runs in that thread too (a copy of a large request
        body is CPU work the event loop should not do)."""
        future = await asyncio.to_thread(self.submit, rtype, payload, codec)
        return await asyncio.wrap_future(future)

    def submit(
        self, rtype: int, payload: bytes | Callable[[], bytes], codec: str | None = None
    ) -> concurrent.futures.Future[int]:
        """Compress and queue one record (in the caller's thread); the future resolves to its LSN once durable.

        `codec` (one of `format.CODECS`) is the caller's choice for this payload, else `compression`'s; "auto"
        without a choice is lz4."""
        if callable(payload):
            payload = payload()
        settings = self.settings
        chosen = codec or settings.compression
        body, flags = compress_payload(payload, settings.compression_level, "lz4" if chosen == "auto" else chosen)
        return self.submit_encoded(rtype, body, flags, payload if settings.handoff_bytes else None)

    def submit_encoded(
        self, rtype: int, body: bytes, flags: int, payload: bytes | None = None
    ) -> concurrent.futures.Future[int]:
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise WalClosed("the WAL is closed")
            self._pending.append(_Pending(rtype, body, flags, future, payload))
            self._pending_bytes += len(body)
            self._wake.notify()
        return future

    # ---------------------------------------------------------------------- the writer
    def _run(self) -> None:
        interval = self.settings.group_commit_interval_ms / 1000.0
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending and self._closed:
                    return
                # Group commit: give concurrent appenders a moment to join this fsync.
                deadline = time.monotonic() + interval
                while self._pending_bytes < self.settings.group_commit_max_bytes and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                batch, self._pending, self._pending_bytes = self._pending, [], 0
            try:
                self._write_batch(batch)
            except BaseException as exc:  # the disk refused: fail what is not durable, keep the log usable
                log.error("wal write failed error=%s durable_lsn=%d", exc, self._synced_lsn)
                self._rewind()
                for item in batch:
                    if item.lsn and item.lsn <= self._synced_lsn:
                        item.future.set_result(item.lsn)
                    elif not item.future.done():
                        item.future.set_exception(exc)
                self._publish_durable(self._synced_lsn)
                continue
            self._keep_for_handoff(batch)
            self._publish_durable(self._synced_lsn)
            for item in batch:
                item.future.set_result(item.lsn)

    def _rewind(self) -> None:
        """After a failed write, give the LSNs of unwritten records back, so the log never has a gap."""
        self._next_lsn = self._synced_lsn + 1
        self._file_records = self._next_lsn - self._files[-1].first_lsn

    def _write_batch(self, batch: list[_Pending]) -> None:
        """Frame, write and sync a batch; `_synced_lsn` says how far it got if this raises."""
        chunks: list[bytes] = []
        size = 0
        for item in batch:
            frame_len = 18 + len(item.body)
            if self._file_records and self._file_size + size + frame_len > self.settings.segment_bytes:
                self._flush_chunks(chunks)
                chunks, size = [], 0
                self._rotate()
            frame = encode_record(self._next_lsn, item.rtype, item.body, item.flags)
            item.lsn = self._next_lsn
            self._next_lsn += 1
            self._file_records += 1
            chunks.append(frame)
            size += len(frame)
        self._flush_chunks(chunks)

    def _flush_chunks(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        data = b"".join(chunks)
        view = memoryview(data)
        start_size = self._file_size
        try:
            if crash_hit("wal.torn_write"):
                os.write(self._fd, view[: len(view) // 2])
                crash_now()
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            crash_point("wal.before_sync")
            if self.settings.durability == "fsync":
                os.fdatasync(self._fd)
        except OSError:
            # A partial write (ENOSPC) must not stay in front of the next record: cut it back.
            os.ftruncate(self._fd, start_size)
            raise
        self._file_size = start_size + len(data)
        self.commits += 1
        self._written += len(data)
        self._marks.append((self._next_lsn - 1, self._written, time.monotonic()))
        self._synced_lsn = self._next_lsn - 1

    def _rotate(self) -> None:
        # The old file is synced before the new one exists, so a torn write can only ever be
        # in the newest file: that is what lets recovery treat damage as "the tail". The new
        # file is created before the old one is let go, so a failure here leaves a usable log.
        os.fsync(self._fd)
        new = _create_file(self.directory, self._files[-1].seq + 1, self._next_lsn)
        fd = os.open(new.path, os.O_WRONLY | os.O_APPEND)
        os.close(self._fd)
        with self._lock:
            self._files.append(new)
        self._fd = fd
        self._file_size = FILE_HEADER_SIZE
        self._file_records = 0

    def _keep_for_handoff(self, batch: list[_Pending]) -> None:
        """Keep the payloads of a written batch for `take_payload`, dropping the oldest beyond `handoff_bytes`.

        Before the batch is published as durable, so the reader that its publication wakes finds them."""
        limit = self.settings.handoff_bytes
        with self._lock:
            for item in batch:
                if item.payload is not None:
                    self._handoff[item.lsn] = item.payload
                    self._handoff_bytes += len(item.payload)
                    item.payload = None
            while self._handoff_bytes > limit:
                _, dropped = self._handoff.popitem(last=False)
                self._handoff_bytes -= len(dropped)

    def take_payload(self, lsn: int) -> bytes | None:
        """The payload of record `lsn` if this process wrote it recently and nobody took it yet, else None.

        The pipeline's reader takes a record's payload from here instead of decompressing (or copying) what it
        reads back (it still reads and checks the frame): the same bytes, without the decompression's CPU. A payload is
        handed out once, and only `handoff_bytes` of them are kept, so a reader that falls behind reads back."""
        with self._lock:
            payload = self._handoff.pop(lsn, None)
            if payload is not None:
                self._handoff_bytes -= len(payload)
            return payload

    def _publish_durable(self, lsn: int) -> None:
        with self._durable_cond:
            self._durable_lsn = lsn
            self._durable_cond.notify_all()
        for loop, event in list(self._listeners):
            loop.call_soon_threadsafe(event.set)

    # ------------------------------------------------------------------------- reading
    @property
    def durable_lsn(self) -> int:
        """Highest LSN that is durable (and so safe to read and to acknowledge)."""
        return self._durable_lsn

    def wait_durable(self, after: int, timeout: float) -> int:
        """Block until `durable_lsn > after` or the timeout; return the durable LSN."""
        with self._durable_cond:
            self._durable_cond.wait_for(lambda: self._durable_lsn > after or self._closed, timeout)
            return self._durable_lsn

    def add_listener(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        """Set `event` (on its loop) whenever new records become durable: the pipeline's wake-up."""
        self._listeners.append((loop, event))

    def files(self) -> list[WalFile]:
        with self._lock:
            return list(self._files)

    def backlog_bytes(self, consumed_lsn: int) -> int:
        """Bytes of records after `consumed_lsn`: what the pipeline has yet to publish, and a crash would replay."""
        marks = self._marks
        if consumed_lsn < marks[0][0]:  # records from before this open are not yet consumed either
            return self._bytes_at_open + self._written
        while len(marks) > 1 and marks[1][0] <= consumed_lsn:
            marks.popleft()  # only the writer thread appends; dropping old marks here is safe
        return self._written - marks[0][1]

    def backlog_age_s(self, consumed_lsn: int) -> float:
        """Seconds since the oldest commit after `consumed_lsn` was written (0 without a backlog); records left from
        before this open count as old as the open."""
        marks = self._marks
        if consumed_lsn < marks[0][0]:
            return time.monotonic() - marks[0][2]
        while len(marks) > 1 and marks[1][0] <= consumed_lsn:
            marks.popleft()  # as in backlog_bytes
        return time.monotonic() - marks[1][2] if len(marks) > 1 else 0.0

    # ------------------------------------------------------------------ checkpoint deletion
    def remove_before(self, consumed_lsn: int) -> int:
        """Delete files whose records are all `<= consumed_lsn`; never the newest. Returns how many."""
        with self._lock:
            doomed = [
                f for index, f in enumerate(self._files[:-1]) if self._files[index + 1].first_lsn <= consumed_lsn + 1
            ]
            self._files = [f for f in self._files if f not in doomed]
        for f in doomed:
            f.path.unlink(missing_ok=True)
            crash_point("wal.mid_remove")
        if doomed:
            fsutil.fsync_dir(self.directory)
        return len(doomed)

    def close(self) -> None:
        """Write what is pending, sync and stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        self._thread.join()
        with self._durable_cond:
            self._durable_cond.notify_all()
        os.fsync(self._fd)
        os.close(self._fd)


def _create_file(directory: Path, seq: int, first_lsn: int) -> WalFile:
    path = directory / file_name(seq)
    fd = fsutil.open_file(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, encode_file_header(first_lsn))
        os.fsync(fd)
    finally:
        os.close(fd)
    # The directory entry must be durable before records in the file are acknowledged.
    fsutil.fsync_dir(directory)
    return WalFile(seq, first_lsn, path)


def _recover_file(path: Path, expected: int | None) -> tuple[int | None, int, bool]:
    """Validate one file, cutting it at the first bad record.

    Returns (first_lsn, last_lsn, cut): first_lsn is None when the header is damaged or the file
    goes back in sequence; `cut` says the file was truncated, so no later file may follow it.
    A file may start after `expected` (a forward jump over LSNs a lost tail had used), never before.
    """
    data = path.read_bytes()
    try:
        first_lsn = decode_file_header(data, str(path))
    except FrameError as exc:
        log.warning("wal file header damaged file=%s reason=%s", path.name, exc.reason)
        return None, 0, True
    if expected is not None and first_lsn < expected:
        log.error("wal file out of sequence file=%s first_lsn=%d expected=%d", path.name, first_lsn, expected)
        return None, 0, True
    offset, lsn = FILE_HEADER_SIZE, first_lsn
    while offset < len(data):
        try:
            _, offset = decode_record_at(data, offset, lsn, decompress=False)
        except FrameError as exc:
            log.warning("wal tail cut file=%s offset=%d lsn=%d reason=%s", path.name, offset, lsn, exc.reason)
            with open(path, "r+b") as fh:
                fh.truncate(offset)
                os.fsync(fh.fileno())
            return first_lsn, lsn - 1, True
        lsn += 1
    return first_lsn, lsn - 1, False


def _delete_from(entries: list[tuple[int, Path]]) -> None:
    for _, path in entries:
        log.warning("wal file removed after damage file=%s", path.name)
        path.unlink(missing_ok=True)
    if entries:
        fsutil.fsync_dir(entries[0][1].parent)
