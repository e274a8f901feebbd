"""Reading the WAL: replay from a checkpoint, then tail what the writer makes durable.

A `WalCursor` remembers the file and offset it reached, so tailing costs one read of the new bytes,
not a rescan. It must never return a record beyond the durable LSN it is given: bytes past it may
still be in flight and could yet be cut by recovery.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lynex_box.wal.format import (
    FILE_HEADER_SIZE,
    FRAME_HEADER_SIZE,
    FrameError,
    WalRecord,
    decode_file_header,
    decode_record_at,
)
from lynex_box.wal.log import list_wal_files


class WalCursor:
    """Reads records with LSN >= `from_lsn`, in order, up to what `durable_lsn()` allows."""

    def __init__(
        self,
        directory: Path,
        from_lsn: int,
        durable_lsn: Callable[[], int],
        take_payload: Callable[[int], bytes | None] | None = None,
    ) -> None:
        """`take_payload` (the writer's `WalLog.take_payload`) supplies payloads the writer still holds."""
        self.directory = directory
        self.next_lsn = from_lsn
        self._durable_lsn = durable_lsn
        self._take_payload = take_payload
        self._seq: int | None = None
        self._offset = 0
        self._file_lsn = 0  # LSN of the record at _offset

    def _position(self, after_seq: int = 0) -> bool:
        """Find the file holding `next_lsn` among files numbered above `after_seq`; False if none yet."""
        chosen: tuple[int, int] | None = None
        for seq, path in list_wal_files(self.directory):
            if seq <= after_seq:
                continue
            try:
                with open(path, "rb") as fh:
                    first = decode_file_header(fh.read(FILE_HEADER_SIZE))
            except (FrameError, OSError):
                continue
            if first <= self.next_lsn:
                chosen = (seq, first)
                continue
            if chosen is None:
                # A forward LSN jump (see docs/format/wal.md): nothing lives in between, start here.
                chosen = (seq, first)
                self.next_lsn = first
            break
        if chosen is None:
            return False
        self._seq, self._file_lsn = chosen
        self._offset = FILE_HEADER_SIZE
        return True

    def read(self, max_records: int = 1000, max_bytes: int = 64 * 1024 * 1024) -> list[WalRecord]:
        """Return the next durable records (possibly none), advancing the cursor past them."""
        durable = self._durable_lsn()
        out: list[WalRecord] = []
        size = 0
        stalls = 0
        while self.next_lsn <= durable and len(out) < max_records and size < max_bytes and stalls < 3:
            if self._seq is None and not self._position():
                break
            assert self._seq is not None
            before = (self._seq, self._offset)
            records = self._read_file(durable, max_records - len(out), max_bytes - size)
            if records is None:  # this file is exhausted: move on to a later file
                self._seq = None
                if not self._position(after_seq=before[0]):
                    self._seq, self._offset = before
                    stalls += 1
                continue
            stalls = 0 if records else stalls + 1
            for rec in records:
                out.append(rec)
                size += len(rec.payload)
        return out

    def _known(self, lsn: int) -> bytes | None:
        # Only a record this cursor is about to return: one it skips (before `next_lsn`) stays for its reader.
        if self._take_payload is None or lsn < self.next_lsn:
            return None
        return self._take_payload(lsn)

    def _read_file(self, durable: int, max_records: int, max_bytes: int) -> list[WalRecord] | None:
        path = self.directory / f"{self._seq:08d}.wal"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            remaining = os.fstat(fd).st_size - self._offset
            if remaining <= 0:
                return None
            data = os.pread(fd, min(remaining, _READ_CHUNK), self._offset)
            if len(data) < remaining and not _starts_with_whole_record(data):
                data = os.pread(fd, remaining, self._offset)  # one record larger than a chunk
        finally:
            os.close(fd)
        out: list[WalRecord] = []
        pos, got = 0, 0
        while pos < len(data) and self._file_lsn <= durable and len(out) < max_records and got < max_bytes:
            try:
                rec, end = decode_record_at(data, pos, None, known=self._known)
            except FrameError:
                break  # the rest is not fully visible yet, or lies in the next chunk
            pos = end
            self._file_lsn = rec.lsn + 1
            if rec.lsn >= self.next_lsn:
                out.append(rec)
                got += len(rec.payload)
                self.next_lsn = rec.lsn + 1
        self._offset += pos
        if pos == 0:
            return None if self._file_lsn <= durable and len(data) == remaining else []
        return out


_READ_CHUNK = 4 * 1024 * 1024


def _starts_with_whole_record(data: bytes) -> bool:
    if len(data) < FRAME_HEADER_SIZE:
        return False
    length = int.from_bytes(data[4:8], "little")
    return len(data) >= FRAME_HEADER_SIZE + length
