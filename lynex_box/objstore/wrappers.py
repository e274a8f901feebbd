"""Stores that wrap another store: key prefix, retries with backoff, and operation metrics.

Each wrapper implements `ObjectStore` itself, so they stack (`PrefixedStore(RetryingStore(MetricsStore(s3)))`).
A wrapper must never change the meaning of an operation: it must not retry an answer (not found, precondition
failed, invalid key), swallow an error, or let a key escape its prefix.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from lynex_box.objstore.base import (
    GetResult,
    ObjectMeta,
    ObjectStore,
    PutResult,
    join_key,
    validate_key,
    validate_prefix,
)
from lynex_box.objstore.errors import ObjectNotFound, ObjectStoreError, PreconditionFailed

T = TypeVar("T")
log = logging.getLogger(__name__)


class PrefixedStore:
    """Every key lives under `prefix/` in the inner store; listings come back without the prefix."""

    def __init__(self, inner: ObjectStore, prefix: str) -> None:
        self.inner = inner
        self.prefix = validate_prefix(prefix)

    def _key(self, key: str) -> str:
        return join_key(self.prefix, validate_key(key))

    def _strip(self, meta: ObjectMeta) -> ObjectMeta:
        return dataclasses.replace(meta, key=meta.key[len(self.prefix) + 1 :] if self.prefix else meta.key)

    def put(self, key: str, data: bytes) -> PutResult:
        return self.inner.put(self._key(key), data)

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self.inner.put_if_absent(self._key(key), data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        return self.inner.put_if_match(self._key(key), data, etag)

    def get(self, key: str) -> GetResult:
        return self.inner.get(self._key(key))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.inner.get_range(self._key(key), start, length)

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        prefix = validate_prefix(prefix)
        inner_prefix = join_key(self.prefix, prefix) if prefix else self.prefix
        return [self._strip(meta) for meta in self.inner.list(inner_prefix)]

    def delete(self, key: str) -> None:
        self.inner.delete(self._key(key))

    def head(self, key: str) -> ObjectMeta:
        return self._strip(self.inner.head(self._key(key)))

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        return self._strip(self.inner.get_to_file(self._key(key), path))

    def put_file(self, key: str, path: Path) -> PutResult:
        return self.inner.put_file(self._key(key), path)


class RetryingStore:
    """Retries transient errors (`ObjectStoreError.transient`) with exponential backoff and full jitter.

    Attempt n (1-based) that fails transiently waits a random time in [0, min(max_delay, base_delay * 2**(n-1))]
    before attempt n+1. Answers such as `ObjectNotFound`, `PreconditionFailed` or `InvalidKey` are never retried.

    A conditional write that failed transiently may still have been applied; if its retry then fails with
    `PreconditionFailed`, the object is read back and, if it holds exactly the bytes we wrote, the write is
    reported as ours. Callers of conditional writes should therefore put something unique to the writer
    (node id, generation) in the content, which leases and catalog entries do anyway.
    """

    def __init__(
        self,
        inner: ObjectStore,
        attempts: int = 4,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"RetryingStore needs attempts >= 1, got {attempts}")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("RetryingStore delays must be >= 0")
        self.inner = inner
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        return self._rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def _backoff(self, op: str, key: str, attempt: int, exc: ObjectStoreError) -> None:
        delay = self.delay(attempt)
        log.warning(
            "objstore retry op=%s key=%s attempt=%d of=%d delay_s=%.3f error=%s",
            op,
            key,
            attempt,
            self.attempts,
            delay,
            exc.detail,
        )
        self._sleep(delay)

    def _call(self, op: str, key: str, operation: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return operation()
            except ObjectStoreError as exc:
                if not exc.transient or attempt == self.attempts:
                    raise
                self._backoff(op, key, attempt, exc)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _conditional(self, op: str, key: str, data: bytes, write: Callable[[], PutResult]) -> PutResult:
        uncertain = False  # True once an attempt failed in a way that may have applied the write
        for attempt in range(1, self.attempts + 1):
            try:
                return write()
            except PreconditionFailed:
                if uncertain:
                    ours = self._read_back(key, data)
                    if ours is not None:
                        log.info("objstore ambiguous write resolved op=%s key=%s outcome=ours", op, key)
                        return ours
                raise
            except ObjectStoreError as exc:
                if not exc.transient or attempt == self.attempts:
                    raise
                uncertain = True
                self._backoff(op, key, attempt, exc)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _read_back(self, key: str, data: bytes) -> PutResult | None:
        try:
            current = self._call("get", key, lambda: self.inner.get(key))
        except ObjectNotFound:
            return None
        return PutResult(current.etag) if current.data == data else None

    def put(self, key: str, data: bytes) -> PutResult:
        return self._call("put", key, lambda: self.inner.put(key, data))

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self._conditional("put_if_absent", key, data, lambda: self.inner.put_if_absent(key, data))

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        return self._conditional("put_if_match", key, data, lambda: self.inner.put_if_match(key, data, etag))

    def get(self, key: str) -> GetResult:
        return self._call("get", key, lambda: self.inner.get(key))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._call("get_range", key, lambda: self.inner.get_range(key, start, length))

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        return self._call("list", prefix, lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        self._call("delete", key, lambda: self.inner.delete(key))

    def head(self, key: str) -> ObjectMeta:
        return self._call("head", key, lambda: self.inner.head(key))

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        return self._call("get_to_file", key, lambda: self.inner.get_to_file(key, path))

    def put_file(self, key: str, path: Path) -> PutResult:
        return self._call("put_file", key, lambda: self.inner.put_file(key, path))


@dataclass
class OpCounters:
    """Totals for one operation: calls, calls that raised, bytes moved by successful calls, seconds spent."""

    calls: int = 0
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class StoreMetrics:
    """Counters per operation name, plus errors per `op:ExceptionName`; safe to update from many threads."""

    ops: dict[str, OpCounters] = field(default_factory=dict)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, op: str, *, nbytes: int, seconds: float, error: BaseException | None) -> None:
        with self._lock:
            counters = self.ops.setdefault(op, OpCounters())
            counters.calls += 1
            counters.bytes += nbytes
            counters.seconds += seconds
            if error is not None:
                counters.errors += 1
                kind = f"{op}:{type(error).__name__}"
                self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1

    def snapshot(self) -> dict[str, OpCounters]:
        """A consistent copy of the per-operation counters."""
        with self._lock:
            return {op: dataclasses.replace(counters) for op, counters in self.ops.items()}


class MetricsStore:
    """Counts every operation, the bytes it moved and the errors it raised, into `self.metrics`."""

    def __init__(self, inner: ObjectStore, metrics: StoreMetrics | None = None) -> None:
        self.inner = inner
        self.metrics = metrics if metrics is not None else StoreMetrics()

    def _measure(self, op: str, operation: Callable[[], T], size: Callable[[T], int]) -> T:
        started = time.perf_counter()
        try:
            result = operation()
        except BaseException as exc:
            self.metrics.record(op, nbytes=0, seconds=time.perf_counter() - started, error=exc)
            raise
        self.metrics.record(op, nbytes=size(result), seconds=time.perf_counter() - started, error=None)
        return result

    def put(self, key: str, data: bytes) -> PutResult:
        return self._measure("put", lambda: self.inner.put(key, data), lambda _: len(data))

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self._measure("put_if_absent", lambda: self.inner.put_if_absent(key, data), lambda _: len(data))

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        operation = lambda: self.inner.put_if_match(key, data, etag)  # noqa: E731
        return self._measure("put_if_match", operation, lambda _: len(data))

    def get(self, key: str) -> GetResult:
        return self._measure("get", lambda: self.inner.get(key), lambda result: len(result.data))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._measure("get_range", lambda: self.inner.get_range(key, start, length), len)

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        return self._measure("list", lambda: self.inner.list(prefix), lambda _: 0)

    def delete(self, key: str) -> None:
        self._measure("delete", lambda: self.inner.delete(key), lambda _: 0)

    def head(self, key: str) -> ObjectMeta:
        return self._measure("head", lambda: self.inner.head(key), lambda _: 0)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        return self._measure("get_to_file", lambda: self.inner.get_to_file(key, path), lambda meta: meta.size)

    def put_file(self, key: str, path: Path) -> PutResult:
        return self._measure("put_file", lambda: self.inner.put_file(key, path), lambda _: os.stat(path).st_size)
