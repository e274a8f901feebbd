"""RetryingStore: transient errors are retried with bounded, growing delays; answers never are."""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path

import pytest

from lynex_box.objstore import (
    GetResult,
    InvalidKey,
    MemoryStore,
    ObjectMeta,
    ObjectNotFound,
    PreconditionFailed,
    PutResult,
    RetryingStore,
    StoreRequestError,
    StoreUnavailable,
)


class FlakyStore(MemoryStore):
    """A MemoryStore whose operations fail with StoreUnavailable a set number of times first.

    With `apply_then_fail`, a failing write is applied before the error is raised, like a PUT whose response
    was lost on the network.
    """

    def __init__(self, failures: dict[str, int], *, apply_then_fail: bool = False) -> None:
        super().__init__()
        self.failures = Counter(failures)
        self.apply_then_fail = apply_then_fail
        self.calls: Counter[str] = Counter()

    def _fail(self, op: str) -> None:
        self.calls[op] += 1
        if self.failures[op] > 0:
            self.failures[op] -= 1
            raise StoreUnavailable(f"simulated outage #{self.calls[op]} in {op}", key="any")

    def put(self, key: str, data: bytes) -> PutResult:
        self._fail("put")
        return super().put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        if self.apply_then_fail and self.failures["put_if_absent"] > 0:
            super().put_if_absent(key, data)
        self._fail("put_if_absent")
        return super().put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        if self.apply_then_fail and self.failures["put_if_match"] > 0:
            super().put_if_match(key, data, etag)
        self._fail("put_if_match")
        return super().put_if_match(key, data, etag)

    def get(self, key: str) -> GetResult:
        self._fail("get")
        return super().get(key)

    def head(self, key: str) -> ObjectMeta:
        self._fail("head")
        return super().head(key)

    def list(self, prefix: str = "") -> list[ObjectMeta]:
        self._fail("list")
        return super().list(prefix)

    def get_to_file(self, key: str, path: Path) -> ObjectMeta:
        self._fail("get_to_file")
        return super().get_to_file(key, path)


def retrying(inner: FlakyStore, attempts: int = 4) -> tuple[RetryingStore, list[float]]:
    sleeps: list[float] = []
    store = RetryingStore(inner, attempts, base_delay=0.1, max_delay=0.3, sleep=sleeps.append, rng=random.Random(1))
    return store, sleeps


def test_transient_failures_are_retried_until_success(caplog: pytest.LogCaptureFixture) -> None:
    inner = FlakyStore({"get": 2})
    inner.put("k", b"v")
    store, sleeps = retrying(inner)

    with caplog.at_level(logging.WARNING, logger="lynex_box.objstore.wrappers"):
        assert store.get("k").data == b"v"

    assert inner.calls["get"] == 3
    assert len(sleeps) == 2
    assert [record.getMessage().split(" delay_s=")[0] for record in caplog.records] == [
        "objstore retry op=get key=k attempt=1 of=4",
        "objstore retry op=get key=k attempt=2 of=4",
    ]


def test_delays_grow_exponentially_up_to_max_delay_with_jitter() -> None:
    inner = FlakyStore({"head": 5})
    inner.put("k", b"v")
    store, sleeps = retrying(inner, attempts=6)

    store.head("k")

    caps = [0.1, 0.2, 0.3, 0.3, 0.3]
    assert len(sleeps) == len(caps)
    assert all(0.0 <= slept <= cap for slept, cap in zip(sleeps, caps, strict=True))
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed schedule


def test_gives_up_after_the_configured_attempts() -> None:
    inner = FlakyStore({"list": 10})
    store, sleeps = retrying(inner, attempts=3)

    with pytest.raises(StoreUnavailable):
        store.list()

    assert inner.calls["list"] == 3
    assert len(sleeps) == 2


def test_precondition_failed_is_never_retried() -> None:
    inner = FlakyStore({})
    store, sleeps = retrying(inner)
    store.put_if_absent("lease", b"a")

    with pytest.raises(PreconditionFailed):
        store.put_if_absent("lease", b"b")
    with pytest.raises(PreconditionFailed):
        store.put_if_match("lease", b"b", "stale-etag")

    assert inner.calls["put_if_absent"] == 2
    assert inner.calls["put_if_match"] == 1
    assert sleeps == []


def test_not_found_and_invalid_key_are_never_retried() -> None:
    inner = FlakyStore({})
    store, sleeps = retrying(inner)

    with pytest.raises(ObjectNotFound):
        store.get("missing")
    with pytest.raises(InvalidKey):
        store.get("../escape")

    assert inner.calls["get"] == 2
    assert sleeps == []


def test_permanent_store_errors_are_not_retried() -> None:
    class Rejecting(FlakyStore):
        def get(self, key: str) -> GetResult:
            self.calls["get"] += 1
            raise StoreRequestError("400 bad request", key=key)

    inner = Rejecting({})
    store, sleeps = retrying(inner)

    with pytest.raises(StoreRequestError):
        store.get("k")

    assert inner.calls["get"] == 1
    assert sleeps == []


def test_conditional_write_retried_after_a_lost_response_is_reported_as_ours() -> None:
    inner = FlakyStore({"put_if_absent": 1}, apply_then_fail=True)
    store, _ = retrying(inner)

    result = store.put_if_absent("lease", b"owner=node-1 generation=1")

    assert result.etag == inner.get("lease").etag
    assert inner.calls["put_if_absent"] == 2


def test_put_if_match_retried_after_a_lost_response_is_reported_as_ours() -> None:
    inner = FlakyStore({"put_if_match": 1}, apply_then_fail=True)
    first = inner.put("lease", b"generation=1")
    store, _ = retrying(inner)

    result = store.put_if_match("lease", b"generation=2", first.etag)

    assert inner.get("lease") == GetResult(b"generation=2", result.etag)


def test_conditional_write_lost_to_another_writer_after_an_outage_still_fails() -> None:
    inner = FlakyStore({"put_if_absent": 1})
    inner.put("lease", b"owner=node-2")
    store, _ = retrying(inner)

    with pytest.raises(PreconditionFailed):
        store.put_if_absent("lease", b"owner=node-1")

    assert inner.get("lease").data == b"owner=node-2"


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        RetryingStore(MemoryStore(), attempts=0)
    with pytest.raises(ValueError):
        RetryingStore(MemoryStore(), base_delay=-1)
