"""Whether the bucket takes writes: `WriteHealth` remembers since when every write has failed, `WatchedStore`
feeds it from the writes that go through it.

A write counts as answered (the store is writable) when the store answers it, even with "not found" or "precondition
failed"; it counts as failed when the store cannot be reached or refuses with an error of its own (`StoreUnavailable`,
`AccessDenied`, a 5xx...). Reads are not counted: a node that only reads can say nothing about writes. The clock is
monotonic, so a change of the wall clock never starts or ends an outage. This module must never retry or swallow an
error: it only watches.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lynex_box.objstore.base import GetResult, ObjectMeta, ObjectStore, PutResult
from lynex_box.objstore.errors import InvalidKey, ObjectNotFound, ObjectStoreError, PreconditionFailed

T = TypeVar("T")
ANSWERS = (ObjectNotFound, PreconditionFailed, InvalidKey)  # the store answered: it is reachable and writable


class WriteHealth:
    """Thread-safe; `failing_for_s()` is 0 while the last write succeeded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failing_since: float | None = None  # the first failure after the last success
        self.last_error: str | None = None
        self.failures = 0  # consecutive failed writes

    def succeeded(self) -> None:
        with self._lock:
            self._failing_since, self.last_error, self.failures = None, None, 0

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._failing_since is None:
                self._failing_since = self._clock()
            self.failures += 1
            self.last_error = getattr(exc, "detail", None) or str(exc)

    @property
    def failing(self) -> bool:
        return self._failing_since is not None

    def failing_for_s(self) -> float:
        """Seconds since every write began to fail (0 when the last one succeeded)."""
        with self._lock:
            return 0.0 if self._failing_since is None else self._clock() - self._failing_since


class WatchedStore:
    """An `ObjectStore` that tells `health` how each write through it ended; reads pass straight through."""

    def __init__(self, inner: ObjectStore, health: WriteHealth) -> None:
        self.inner = inner
        self.health = health

    def _write(self, operation: Callable[[], T]) -> T:
        try:
            result = operation()
        except ANSWERS:
            self.health.succeeded()
            raise
        except ObjectStoreError as exc:  # a local file that cannot be read (OSError) says nothing of the store
            self.health.failed(exc)
            raise
        self.health.succeeded()
        return result

    def put(self, key: str, data: bytes) -> PutResult:
        return self._write(lambda: self.inner.put(key, data))

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self._write(lambda: self.inner.put_if_absent(key, data))

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        return self._write(lambda: self.inner.put_if_match(key, data, etag))

    def put_file(self, key: str, path: Path) -> PutResult:
        return self._write(lambda: self.inner.put_file(key, path))

    def delete(self, key: str) -> None:
        self._write(lambda: self.inner.delete(key))

    def get(self, key: str) -> GetResult:
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.inner.get_range(key, start, length)

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        return self.inner.list(prefix)

    def head(self, key: str) -> ObjectMeta:
        return self.inner.head(key)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        return self.inner.get_to_file(key, path)
