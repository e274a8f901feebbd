"""A bounded local cache of whole segment files fetched from the bucket, for queries over offloaded ranges.

DuckDB scans local files only: a query pins the remote segments it needs (`acquire`), each is downloaded once
into `<data>/cache/segments/` (written to a temporary name, fsynced, renamed), checked against the catalog's size
and checksum, and stays until evicted. Eviction is least recently used by bytes and never touches a pinned file,
so a file vanishes neither under a running query nor during its download. The cache is emptied on start (it is
only a copy). It must never hold more than `max_bytes` of unpinned files, and never serve a file that failed its
check.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lynex_box import fsutil
from lynex_box.lifecycle.bucket import file_sha256
from lynex_box.meta.catalog import SegmentEntry
from lynex_box.objstore import ObjectStore

log = logging.getLogger("lynex.lifecycle.cache")


class CacheTooSmall(RuntimeError):
    """One query needs more bucket bytes at once than the cache may hold."""


class CorruptDownload(RuntimeError):
    """A fetched object does not match the catalog's size or checksum."""


@dataclass(slots=True)
class _Item:
    path: Path
    size: int
    refs: int


class SegmentCache:
    """Thread-safe; `acquire(entries)` is the query engine's `RemoteFiles` hook."""

    def __init__(self, directory: Path, max_bytes: int, bucket: ObjectStore) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.bucket = bucket
        shutil.rmtree(directory, ignore_errors=True)  # a copy only: never trust what a crash left
        fsutil.make_dir(directory)
        self._lock = threading.Lock()
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self._inflight: dict[str, threading.Event] = {}
        self.total_bytes = 0
        self.hits = 0
        self.misses = 0

    @contextlib.contextmanager
    def acquire(self, entries: list[SegmentEntry]) -> Iterator[list[Path]]:
        """Local copies of `entries` (remote segments), kept until the context exits."""
        need = sum(e.bytes for e in entries)
        if need > self.max_bytes:
            raise CacheTooSmall(
                f"this query needs {need} bytes of offloaded segments at once, over [offload] cache_max_bytes = "
                f"{self.max_bytes}; hint: query a shorter time range, raise the limit, or `lynex-box rehydrate` it"
            )
        pinned: list[str] = []
        try:
            paths = []
            for entry in entries:
                key = entry.remote_key or entry.path
                paths.append(self._pin(entry, key))
                pinned.append(key)
            yield paths
        finally:
            with self._lock:
                for key in pinned:
                    self._items[key].refs -= 1
                self._evict(self.max_bytes)

    def _pin(self, entry: SegmentEntry, key: str) -> Path:
        while True:
            with self._lock:
                item = self._items.get(key)
                if item is not None:
                    item.refs += 1
                    self._items.move_to_end(key)
                    self.hits += 1
                    return item.path
                event = self._inflight.get(key)
                mine = event is None
                if mine:
                    event = self._inflight[key] = threading.Event()
            assert event is not None
            if not mine:
                event.wait()
                continue  # the other download succeeded (pinned next loop) or failed (we try ourselves)
            try:
                return self._fetch(entry, key)
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                event.set()

    def _fetch(self, entry: SegmentEntry, key: str) -> Path:
        path = self.directory / f"{entry.id}.parquet"
        self.bucket.get_to_file(key, path)
        size = path.stat().st_size
        if size != entry.bytes or (entry.checksum is not None and file_sha256(path) != entry.checksum):
            path.unlink(missing_ok=True)
            raise CorruptDownload(
                f"object {key} does not match its catalog row (size {size}, expected {entry.bytes}); "
                "hint: the bucket copy was changed or damaged; restore it from a backup or the segment is lost"
            )
        with self._lock:
            self._items[key] = _Item(path, size, refs=1)
            self.total_bytes += size
            self.misses += 1
            self._evict(self.max_bytes)
        return path

    def _evict(self, limit: int) -> None:
        """Drop unpinned files, least recently used first, until at most `limit` bytes remain (lock held)."""
        if self.total_bytes <= limit:
            return
        for key in [k for k, item in self._items.items() if item.refs == 0]:
            if self.total_bytes <= limit:
                break
            item = self._items.pop(key)
            item.path.unlink(missing_ok=True)
            self.total_bytes -= item.size

    def trim(self, limit: int = 0) -> None:
        """Evict unpinned files down to `limit` bytes (the disk guard empties the cache under pressure)."""
        with self._lock:
            self._evict(limit)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"bytes": self.total_bytes, "files": len(self._items), "hits": self.hits, "misses": self.misses}
