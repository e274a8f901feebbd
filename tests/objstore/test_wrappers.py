"""PrefixedStore keeps keys inside its prefix; MetricsStore counts calls, bytes and errors per operation."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lynex_box.objstore import (
    InvalidKey,
    MemoryStore,
    MetricsStore,
    ObjectNotFound,
    OpCounters,
    PreconditionFailed,
    PrefixedStore,
)


def test_prefixed_store_writes_under_its_prefix_and_lists_without_it() -> None:
    inner = MemoryStore()
    inner.put("node-1x/other", b"sibling")
    store = PrefixedStore(inner, "node-1")

    store.put("segments/a", b"1")

    assert [meta.key for meta in inner.list()] == ["node-1/segments/a", "node-1x/other"]
    assert [meta.key for meta in store.list()] == ["segments/a"]
    assert store.head("segments/a").key == "segments/a"
    assert store.get("segments/a").data == b"1"


def test_prefixed_store_cannot_reach_outside_its_prefix() -> None:
    inner = MemoryStore()
    inner.put("secret", b"x")
    store = PrefixedStore(inner, "tenant")

    with pytest.raises(InvalidKey):
        store.get("../secret")
    with pytest.raises(ObjectNotFound):
        store.get("secret")


@pytest.mark.parametrize("prefix", ["/", "/abs", "a//b", "..", "a/../b"])
def test_prefixed_store_rejects_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        PrefixedStore(MemoryStore(), prefix)


def test_prefixed_store_with_trailing_slash_is_the_same_prefix() -> None:
    inner = MemoryStore()

    PrefixedStore(inner, "p/").put("k", b"x")

    assert [meta.key for meta in inner.list()] == ["p/k"]


def test_metrics_count_calls_bytes_and_errors_per_operation(tmp_path: Path) -> None:
    store = MetricsStore(MemoryStore())
    (tmp_path / "in").write_bytes(b"0123456789")

    store.put("a", b"12345")
    store.get("a")
    store.get_range("a", 1, 2)
    store.put_file("b", tmp_path / "in")
    store.get_to_file("b", tmp_path / "out")
    store.put_if_absent("c", b"xyz")
    with pytest.raises(PreconditionFailed):
        store.put_if_absent("c", b"xyz")
    with pytest.raises(ObjectNotFound):
        store.get("missing")
    store.list()
    store.delete("a")

    ops = store.metrics.snapshot()
    assert (ops["put"].calls, ops["put"].bytes, ops["put"].errors) == (1, 5, 0)
    assert (ops["get"].calls, ops["get"].bytes, ops["get"].errors) == (2, 5, 1)
    assert ops["get_range"].bytes == 2
    assert ops["put_file"].bytes == 10
    assert ops["get_to_file"].bytes == 10
    assert (ops["put_if_absent"].calls, ops["put_if_absent"].bytes, ops["put_if_absent"].errors) == (2, 3, 1)
    assert (ops["list"].calls, ops["delete"].calls) == (1, 1)
    assert store.metrics.errors_by_kind == {"put_if_absent:PreconditionFailed": 1, "get:ObjectNotFound": 1}
    assert all(counters.seconds >= 0 for counters in ops.values())


def test_metrics_snapshot_is_a_copy() -> None:
    store = MetricsStore(MemoryStore())
    store.put("a", b"1")

    snapshot = store.metrics.snapshot()
    store.put("a", b"2")

    assert snapshot["put"].calls == 1
    assert store.metrics.snapshot()["put"].calls == 2


def test_metrics_are_exact_under_concurrent_use() -> None:
    store = MetricsStore(MemoryStore())
    workers, calls = 8, 250
    barrier = threading.Barrier(workers)

    def hammer(worker: int) -> None:
        barrier.wait()
        for i in range(calls):
            store.put(f"w{worker}/{i}", b"ab")

    threads = [threading.Thread(target=hammer, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    put = store.metrics.snapshot()["put"]
    assert (put.calls, put.bytes, put.errors) == (workers * calls, 2 * workers * calls, 0)
    assert isinstance(put, OpCounters)
