"""Fixtures of the cluster tests: the real moto S3 server of tests/objstore, a bucket prefix on it wrapped as
`open_bucket` wraps one, a fake clock, and a store that ignores the conditions of conditional writes (a
misbehaving gateway)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lynex_box.objstore import (
    GetResult,
    MemoryStore,
    MetricsStore,
    ObjectMeta,
    ObjectStore,
    PutResult,
    RetryingStore,
    S3Settings,
    S3Store,
    StoreUnavailable,
)
from tests.objstore.conftest import MotoServer, bucket, moto_server  # noqa: F401 - fixtures reused here

T0 = 1_000_000_000_000_000  # 2001-09-09 in epoch microseconds: far from any real clock, as a fake clock should be


@dataclass
class FakeClock:
    """Epoch microseconds that move only when a test says so."""

    now: int = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def s3_settings(server: MotoServer, name: str, prefix: str = "deploy") -> S3Settings:
    return server.settings(name, prefix=prefix)


def wrapped(inner: ObjectStore) -> ObjectStore:
    """As `lifecycle.bucket.open_bucket` wraps the configured store."""
    return RetryingStore(MetricsStore(inner), attempts=2, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def s3(moto_server: MotoServer, bucket: str) -> ObjectStore:  # noqa: F811 - the fixtures imported above
    """A fresh bucket on the real moto server, under a prefix, wrapped as a node wraps it."""
    return wrapped(S3Store(s3_settings(moto_server, bucket)))


class IgnoringStore:
    """A memory store behind a gateway that drops `If-None-Match` and/or `If-Match`: conditional writes it
    should refuse go through as plain writes."""

    def __init__(self, *, create_only: bool = False, if_match: bool = False) -> None:
        self.inner = MemoryStore()
        self.ignore_create_only = create_only
        self.ignore_if_match = if_match

    def put(self, key: str, data: bytes) -> PutResult:
        return self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self.inner.put(key, data) if self.ignore_create_only else self.inner.put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        return self.inner.put(key, data) if self.ignore_if_match else self.inner.put_if_match(key, data, etag)

    def get(self, key: str) -> GetResult:
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.inner.get_range(key, start, length)

    def list(self, prefix: str = "") -> builtins.list[ObjectMeta]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def head(self, key: str) -> ObjectMeta:
        return self.inner.head(key)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        return self.inner.get_to_file(key, path)

    def put_file(self, key: str, path: Path) -> PutResult:
        return self.inner.put_file(key, path)


class LosesAnswers(IgnoringStore):
    """A memory store whose next `lose` conditional writes are applied but answered with a timeout, as when a
    connection drops after the server stored the object."""

    def __init__(self) -> None:
        super().__init__()
        self.lose = 0

    def _maybe_lose(self, result: PutResult) -> PutResult:
        if self.lose > 0:
            self.lose -= 1
            raise StoreUnavailable("timed out reading the answer")
        return result

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        return self._maybe_lose(super().put_if_absent(key, data))

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        return self._maybe_lose(super().put_if_match(key, data, etag))


class Flaky(IgnoringStore):
    """A memory store that can be cut off: while `down`, every request fails as a network error would."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name in _STORE_OPS and super().__getattribute__("down"):
            raise StoreUnavailable("connection refused")
        return attribute


_STORE_OPS = frozenset(
    {"put", "put_if_absent", "put_if_match", "get", "get_range", "list", "delete", "head", "get_to_file", "put_file"}
)
