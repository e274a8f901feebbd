"""The ObjectStore contract, checked for every implementation (see the `store` fixture in conftest.py)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lynex_box.objstore import (
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    PutResult,
)

FILE_SIZE = 6 * 1024 * 1024 + 123  # above one 5 MiB part, so S3 takes the multipart path


def test_put_then_get_returns_the_bytes_and_the_etag_of_the_put(store: ObjectStore) -> None:
    written = store.put("segments/node-1/0001.parquet", b"hello")

    got = store.get("segments/node-1/0001.parquet")

    assert got.data == b"hello"
    assert got.etag == written.etag
    assert store.head("segments/node-1/0001.parquet").etag == written.etag


def test_empty_object_round_trips(store: ObjectStore) -> None:
    store.put("empty", b"")

    assert store.get("empty").data == b""
    assert store.head("empty").size == 0


def test_overwrite_replaces_content_and_changes_etag(store: ObjectStore) -> None:
    first = store.put("k", b"one")
    second = store.put("k", b"two")

    assert second.etag != first.etag
    got = store.get("k")
    assert (got.data, got.etag) == (b"two", second.etag)


def test_overwrite_with_same_size_changes_etag(store: ObjectStore) -> None:
    etags = {store.put("lease", f"owner-{i}".encode()).etag for i in range(5)}

    assert len(etags) == 5


def test_put_if_absent_twice_raises_precondition_failed_and_keeps_the_first(store: ObjectStore) -> None:
    first = store.put_if_absent("cluster/lease", b"first")

    with pytest.raises(PreconditionFailed) as raised:
        store.put_if_absent("cluster/lease", b"second")

    assert "cluster/lease" in str(raised.value)
    assert store.get("cluster/lease").data == b"first"
    assert store.get("cluster/lease").etag == first.etag


def test_put_if_absent_succeeds_again_after_delete(store: ObjectStore) -> None:
    store.put_if_absent("k", b"1")
    store.delete("k")

    store.put_if_absent("k", b"2")

    assert store.get("k").data == b"2"


def test_put_if_match_with_current_etag_replaces(store: ObjectStore) -> None:
    first = store.put("lease", b"gen-1")

    second = store.put_if_match("lease", b"gen-2", first.etag)

    assert second.etag != first.etag
    assert store.get("lease").data == b"gen-2"
    assert store.get("lease").etag == second.etag


def test_put_if_match_with_stale_etag_raises_and_keeps_content(store: ObjectStore) -> None:
    first = store.put("lease", b"gen-1")
    store.put_if_match("lease", b"gen-2", first.etag)

    with pytest.raises(PreconditionFailed):
        store.put_if_match("lease", b"gen-3", first.etag)

    assert store.get("lease").data == b"gen-2"


def test_put_if_match_on_missing_object_raises_precondition_failed(store: ObjectStore) -> None:
    with pytest.raises(PreconditionFailed):
        store.put_if_match("lease", b"x", '"0123456789abcdef0123456789abcdef"')

    with pytest.raises(ObjectNotFound):
        store.get("lease")


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s, _: s.get("missing/key"), id="get"),
        pytest.param(lambda s, _: s.head("missing/key"), id="head"),
        pytest.param(lambda s, _: s.get_range("missing/key", 0, 10), id="get_range"),
        pytest.param(lambda s, _: s.get_range("missing/key", 0, 0), id="get_range_empty"),
        pytest.param(lambda s, path: s.get_to_file("missing/key", path), id="get_to_file"),
    ],
)
def test_reading_a_missing_object_raises_object_not_found(
    store: ObjectStore, tmp_path: Path, operation: Callable[[ObjectStore, Path], object]
) -> None:
    store.put("missing/other", b"x")
    destination = tmp_path / "download" / "file"
    destination.parent.mkdir()

    with pytest.raises(ObjectNotFound) as raised:
        operation(store, destination)

    assert "missing/key" in str(raised.value)
    assert list(destination.parent.iterdir()) == []


def test_get_range_reads_a_slice_clipped_at_the_end(store: ObjectStore) -> None:
    store.put("r", b"0123456789")

    assert store.get_range("r", 0, 3) == b"012"
    assert store.get_range("r", 4, 2) == b"45"
    assert store.get_range("r", 8, 5) == b"89"
    assert store.get_range("r", 10, 5) == b""
    assert store.get_range("r", 50, 5) == b""
    assert store.get_range("r", 3, 0) == b""


def test_get_range_rejects_negative_arguments(store: ObjectStore) -> None:
    store.put("r", b"0123456789")

    with pytest.raises(ValueError):
        store.get_range("r", -1, 2)
    with pytest.raises(ValueError):
        store.get_range("r", 0, -2)


def test_list_returns_objects_under_the_prefix_only(store: ObjectStore) -> None:
    for key in ["a/b/1", "a/b/2", "a/b/deeper/3", "a/bc", "ab", "a/x", "z"]:
        store.put(key, key.encode())

    def keys(prefix: str) -> list[str]:
        return [meta.key for meta in store.list(prefix)]

    assert keys("a/b") == ["a/b/1", "a/b/2", "a/b/deeper/3"]
    assert keys("a/b/") == ["a/b/1", "a/b/2", "a/b/deeper/3"]
    assert keys("a") == ["a/b/1", "a/b/2", "a/b/deeper/3", "a/bc", "a/x"]
    assert keys("") == ["a/b/1", "a/b/2", "a/b/deeper/3", "a/bc", "a/x", "ab", "z"]
    assert keys("a/bc") == []
    assert keys("nothing") == []


def test_list_reports_size_and_etag_like_head(store: ObjectStore) -> None:
    store.put("p/one", b"1")
    store.put("p/three", b"333")

    listed = store.list("p")

    assert [(m.key, m.size) for m in listed] == [("p/one", 1), ("p/three", 3)]
    for meta in listed:
        head = store.head(meta.key)
        assert (head.key, head.size, head.etag) == (meta.key, meta.size, meta.etag)
        assert meta.last_modified.tzinfo is not None


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("d/k", b"x")
    store.put("d/keep", b"y")

    store.delete("d/k")
    store.delete("d/k")
    store.delete("never/written")

    with pytest.raises(ObjectNotFound):
        store.get("d/k")
    assert [meta.key for meta in store.list("d")] == ["d/keep"]


def test_head_reports_size_etag_and_time(store: ObjectStore) -> None:
    written = store.put("h", b"12345")

    meta = store.head("h")

    assert (meta.key, meta.size, meta.etag) == ("h", 5, written.etag)
    assert meta.last_modified.utcoffset() is not None


def test_file_transfer_round_trips_several_megabytes(store: ObjectStore, tmp_path: Path) -> None:
    payload = random.Random(7).randbytes(FILE_SIZE)
    source = tmp_path / "upload.parquet"
    source.write_bytes(payload)
    destination_dir = tmp_path / "cache"
    destination_dir.mkdir()
    destination = destination_dir / "segment.parquet"
    destination.write_bytes(b"stale content that must be replaced")

    written = store.put_file("segments/n1/big.parquet", source)
    meta = store.get_to_file("segments/n1/big.parquet", destination)

    assert destination.read_bytes() == payload
    assert (meta.key, meta.size, meta.etag) == ("segments/n1/big.parquet", FILE_SIZE, written.etag)
    assert [p.name for p in destination_dir.iterdir()] == ["segment.parquet"]  # no temporary file left
    assert store.get_range("segments/n1/big.parquet", FILE_SIZE - 4, 10) == payload[-4:]
    assert store.get("segments/n1/big.parquet").data == payload


def test_put_file_of_a_missing_local_file_raises_file_not_found(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file("k", tmp_path / "does-not-exist")

    assert store.list() == []


def test_unusual_but_valid_keys_round_trip(store: ObjectStore) -> None:
    keys = ["dir with space/naïve+%20#?&=.txt", "ü/ñ/日本", "x/.hidden", "-", "a\\b", "t~!@$^*()'"]
    for key in keys:
        store.put(key, key.encode())

    assert sorted(meta.key for meta in store.list()) == sorted(keys)
    for key in keys:
        assert store.get(key).data == key.encode()


INVALID_KEYS = ["", "/a", "a//b", "a/", "..", "../a", "a/../b", "a/./b", ".", "a\x00b", "a\nb", "x" * 1025]
OPERATIONS: dict[str, Callable[[ObjectStore, str, Path], object]] = {
    "put": lambda s, k, _: s.put(k, b"x"),
    "put_if_absent": lambda s, k, _: s.put_if_absent(k, b"x"),
    "put_if_match": lambda s, k, _: s.put_if_match(k, b"x", "etag"),
    "get": lambda s, k, _: s.get(k),
    "get_range": lambda s, k, _: s.get_range(k, 0, 1),
    "head": lambda s, k, _: s.head(k),
    "delete": lambda s, k, _: s.delete(k),
    "get_to_file": lambda s, k, p: s.get_to_file(k, p / "out"),
    "put_file": lambda s, k, p: s.put_file(k, p / "in"),
}


@pytest.mark.parametrize("key", INVALID_KEYS, ids=[repr(k)[:12] for k in INVALID_KEYS])
def test_invalid_keys_are_rejected_by_every_operation(store: ObjectStore, tmp_path: Path, key: str) -> None:
    (tmp_path / "in").write_bytes(b"x")

    for name, operation in OPERATIONS.items():
        with pytest.raises(InvalidKey):
            operation(store, key, tmp_path)
        assert store.list() == [], name
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prefix", ["/", "/a", "a//b", "../x", "a\x00"])
def test_invalid_list_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidKey):
        store.list(prefix)


def _race_put_if_absent(store: ObjectStore, key: str, workers: int) -> dict[int, PutResult | None]:
    """Release `workers` threads at once on put_if_absent(key); map each worker to its result or None."""
    barrier = threading.Barrier(workers)
    outcomes: dict[int, PutResult | None] = {}

    def contend(worker: int) -> None:
        barrier.wait()
        try:
            outcomes[worker] = store.put_if_absent(key, f"worker-{worker}".encode())
        except PreconditionFailed:
            outcomes[worker] = None

    threads = [threading.Thread(target=contend, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("round_number", range(3))
def test_concurrent_put_if_absent_has_exactly_one_winner(store: ObjectStore, round_number: int) -> None:
    key = f"cluster/leases/compaction-{round_number}"

    outcomes = _race_put_if_absent(store, key, workers=8)

    winners = {worker: result for worker, result in outcomes.items() if result is not None}
    assert len(outcomes) == 8
    assert len(winners) == 1, winners
    [(worker, result)] = winners.items()
    got = store.get(key)
    assert (got.data, got.etag) == (f"worker-{worker}".encode(), result.etag)


def test_concurrent_put_if_match_loses_no_update(store: ObjectStore) -> None:
    threads_count, increments = 4, 8
    store.put("counter", json.dumps({"value": 0}).encode())
    barrier = threading.Barrier(threads_count)

    def increment() -> None:
        barrier.wait()
        for _ in range(increments):
            while True:
                current = store.get("counter")
                value = json.loads(current.data)["value"]
                try:
                    store.put_if_match("counter", json.dumps({"value": value + 1}).encode(), current.etag)
                    break
                except PreconditionFailed:
                    continue

    threads = [threading.Thread(target=increment) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert json.loads(store.get("counter").data) == {"value": threads_count * increments}
