"""The disk buffer (`buffer_dir=`): every recorded item is written to a local log before `log_event` returns.

Each process appends to segment files of its own and holds an exclusive `flock` on each for as long as it runs,
so two processes sharing a directory never send the same file. A file whose lock can be taken belongs to a
process that ended (crash, SIGKILL, exit with the server away): the next process adopts it and sends what it
holds past its acknowledged offset. Delivery is at least once from here; the server stores each `event_id` once.

File layout (little-endian), all of it written by one process:

    header  magic "LXBUF\\0\\0\\1" (8 bytes) | acknowledged offset (u64): frames before it were delivered
    frame   payload length (u32) | CRC-32 of kind byte + payload (u32) | kind (u8: 1 event, 2 score) | payload

A frame that is short or fails its CRC is a torn tail (the writer died mid-write): it and what follows are
ignored. The acknowledged offset is rewritten in place after each delivered batch; it is never fsynced: if it is
lost, the batch is sent again and the server drops the duplicates.

Durability: a frame is handed to the kernel (`write`) before `log_event` returns, which survives the end of the
process however it ends (SIGKILL included) but not a power loss or kernel crash before the kernel writes it back
(seconds). `fsync=True` adds an `fdatasync` per item for that case, at about a millisecond or more each.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import cast

from lynex._source import EVENT, SCORE, Batch

logger = logging.getLogger("lynex")

MAGIC = b"LXBUF\x00\x00\x01"
HEADER = 16
FRAME = struct.Struct("<IIB")
SUFFIX = ".lxb"
_OFFSET = struct.Struct("<Q")
_KIND_CRC = {kind: zlib.crc32(bytes([kind])) for kind in (EVENT, SCORE)}
_READ_CHUNK = 1 << 20
_STALE_TMP_S = 60.0


@dataclass(eq=False)
class _Segment:
    path: str
    fd: int
    end: int  # bytes of whole frames (own: written so far; adopted: the file's size, cut at a torn tail)
    acked: int
    read: int
    own: bool


class DiskBuffer:
    durable = True

    def __init__(
        self, directory: str, max_bytes: int, segment_bytes: int = 8 << 20, fsync: bool = False, rescan_s: float = 10
    ) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._rescan_s = rescan_s
        self._lock = threading.Lock()  # the active segment's writes and the list of segments
        self._segments: list[_Segment] = []  # adopted first (oldest first), then own, in delivery order
        self._active: _Segment | None = None  # made on the first put: an idle client leaves no file
        self._bytes = 0  # sum of `end` over the live segments
        self._unread = 0  # own items written and not yet taken
        self._unread_bytes = 0
        self._next_scan = 0.0
        self.accepted = 0

    # --- the application's side

    def put(self, kind: int, data: bytes) -> bool:
        frame = FRAME.pack(len(data), zlib.crc32(data, _KIND_CRC[kind]), kind) + data
        with self._lock:
            if self._bytes + len(frame) > self._max_bytes:
                active = self._active
                if active is None or active.acked < active.end or active.end == HEADER:
                    return False
                self._rotate()  # the active file holds only delivered frames: start a new one, delete it
                if self._bytes + len(frame) > self._max_bytes:
                    return False
            seg = self._active
            if seg is None or (seg.end + len(frame) > self._segment_bytes and seg.end > HEADER):
                seg = self._rotate()
            try:
                _write_all(seg.fd, frame)
                if self._fsync:
                    os.fdatasync(seg.fd)
            except OSError as exc:
                self._undo_write(seg, exc)
                return False
            seg.end += len(frame)
            self._bytes += len(frame)
            self._unread += 1
            self._unread_bytes += len(data)
            self.accepted += 1
        return True

    def _rotate(self) -> _Segment:
        """A new own segment. It is locked before it gets its final name, so no other process can ever take a
        live file for an orphan: created as `.tmp`, locked, given its header, then renamed."""
        old = self._active
        name = f"{time.time_ns() // 1_000_000:013d}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        path = os.path.join(self.directory, name)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_all(fd, MAGIC + _OFFSET.pack(HEADER))
            os.rename(tmp, path)
            if self._fsync:
                _fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            _unlink(tmp)
            raise
        seg = _Segment(path, fd, HEADER, HEADER, HEADER, own=True)
        self._segments.append(seg)
        self._active = seg
        self._bytes += HEADER
        if old is not None and old.acked >= old.end:
            self._delete(old)
        return seg

    def _undo_write(self, seg: _Segment, exc: OSError) -> None:
        """Cut a partial frame (disk full) so the frames after it stay readable; else retire the segment."""
        logger.warning("lynex: disk buffer write failed path=%s error=%s", seg.path, exc)
        try:
            os.ftruncate(seg.fd, seg.end)
            os.lseek(seg.fd, seg.end, os.SEEK_SET)
        except OSError:
            self._active = None  # the next put starts a new segment; this one ends at its last whole frame

    # --- the sender's side

    def take(self, max_items: int, max_bytes: int) -> Batch | None:
        with self._lock:
            seg = next((s for s in self._segments if s.read < s.end), None)
            if seg is None:
                return None
            start, end = seg.read, seg.end
        items, kind, pos, torn = _read_frames(seg.fd, start, end, max_items, max_bytes)
        nbytes = sum(map(len, items))
        with self._lock:
            if torn:  # the writer died mid-frame: the segment ends here
                logger.warning("lynex: torn tail in disk buffer file, cut path=%s offset=%d", seg.path, pos)
                self._bytes -= seg.end - pos
                seg.end = pos
            seg.read = pos
            if seg.own:
                self._unread -= len(items)
                self._unread_bytes -= nbytes
            if not items:
                if seg.acked >= seg.end and seg is not self._active:
                    self._delete(seg)
                return None
        return Batch(kind, items, nbytes, seg.own, (seg, pos))

    def ack(self, batch: Batch) -> None:
        seg, pos = cast("tuple[_Segment, int]", batch.token)
        with self._lock:
            if seg not in self._segments:
                return
            os.pwrite(seg.fd, _OFFSET.pack(pos), len(MAGIC))
            seg.acked = pos
            if seg.acked >= seg.end and seg.read >= seg.end and seg is not self._active:
                self._delete(seg)

    def pending(self) -> tuple[int, int]:
        return self._unread, self._unread_bytes

    def maintain(self) -> None:
        """Adopt the segment files of ended processes (every `rescan_s`), and sweep their stale `.tmp` files."""
        now = time.monotonic()
        if now < self._next_scan:
            return
        self._next_scan = now + self._rescan_s
        with self._lock:
            known = {s.path for s in self._segments}
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            logger.warning("lynex: cannot list the disk buffer dir=%s error=%s", self.directory, exc)
            return
        adopted: list[_Segment] = []
        for name in names:
            path = os.path.join(self.directory, name)
            if name.endswith(SUFFIX) and path not in known:
                seg = _adopt(path)
                if seg is not None:
                    adopted.append(seg)
            elif name.endswith(SUFFIX + ".tmp"):
                _sweep_tmp(path)
        if adopted:
            with self._lock:
                first_own = next((i for i, s in enumerate(self._segments) if s.own), len(self._segments))
                self._segments[first_own:first_own] = adopted
                self._bytes += sum(s.end for s in adopted)
            logger.info("lynex: adopted %d disk buffer files left by ended processes", len(adopted))

    def close(self) -> None:
        """Delete what is delivered; close (unlock) the rest, which the next process with this directory sends."""
        with self._lock:
            for seg in list(self._segments):
                if seg.acked >= seg.end:
                    self._delete(seg)
                else:
                    os.close(seg.fd)
            self._segments.clear()
            self._active = None

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's segments (and their locks) stay the parent's; start with none."""
        self._lock = threading.Lock()
        for seg in self._segments:
            with contextlib.suppress(OSError):
                os.close(seg.fd)  # the lock belongs to the open file, which the parent still holds
        self._segments = []
        self._active = None
        self._bytes = 0
        self._unread = 0
        self._unread_bytes = 0
        self._next_scan = 0.0

    def _delete(self, seg: _Segment) -> None:
        """Unlink while still holding the lock, then close: a process that opened the file just before sees,
        once it gets the lock, that the path no longer names its file (`_adopt` checks)."""
        _unlink(seg.path)
        os.close(seg.fd)
        self._segments.remove(seg)
        self._bytes -= seg.end
        if seg is self._active:
            self._active = None


def _read_frames(fd: int, pos: int, end: int, max_items: int, max_bytes: int) -> tuple[list[bytes], int, int, bool]:
    """Whole frames of one kind from `pos`: (payloads, their kind, the position after them, torn).

    torn is True when a short or corrupt frame was met there: the segment's readable part ends at that position."""
    items: list[bytes] = []
    kind = 0
    size = 0
    buf = b""
    base = pos
    while pos < end and len(items) < max_items:
        if pos + FRAME.size > base + len(buf):
            buf, base = os.pread(fd, min(_READ_CHUNK, end - pos), pos), pos
        if pos + FRAME.size > base + len(buf):
            return items, kind, pos, True
        length, crc, frame_kind = FRAME.unpack_from(buf, pos - base)
        stop = pos + FRAME.size + length
        if stop > end or frame_kind not in _KIND_CRC:
            return items, kind, pos, True
        if items and (frame_kind != kind or size + length > max_bytes):
            break
        if stop > base + len(buf):
            buf, base = os.pread(fd, max(min(_READ_CHUNK, end - pos), stop - pos), pos), pos
            if stop > base + len(buf):
                return items, kind, pos, True
        data = buf[pos - base + FRAME.size : stop - base]
        if zlib.crc32(data, _KIND_CRC[frame_kind]) != crc:
            return items, kind, pos, True
        items.append(data)
        kind = frame_kind
        size += length
        pos = stop
    return items, kind, pos, False


def _adopt(path: str) -> _Segment | None:
    """Lock and open a file left by another process, or None if it is alive (locked), gone or not ours."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # its owner may have delivered and deleted it between our open and our lock
        st, now = os.fstat(fd), os.stat(path)
        if (st.st_ino, st.st_dev) != (now.st_ino, now.st_dev):
            raise FileNotFoundError(path)
        header = os.pread(fd, HEADER, 0)
        if len(header) < HEADER or header[: len(MAGIC)] != MAGIC:
            logger.warning("lynex: not a disk buffer file, left alone path=%s", path)
            raise ValueError(path)
        (acked,) = _OFFSET.unpack_from(header, len(MAGIC))
        acked = min(max(acked, HEADER), st.st_size)
        return _Segment(path, fd, st.st_size, acked, acked, own=False)
    except (OSError, ValueError):  # BlockingIOError: a live process holds it
        os.close(fd)
        return None


def _sweep_tmp(path: str) -> None:
    """A `.tmp` older than a minute that nobody locks: its creator died before renaming it (it holds no data)."""
    try:
        if time.time() - os.stat(path).st_mtime < _STALE_TMP_S:
            return
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
