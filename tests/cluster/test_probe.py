"""The start-up probe: a store honouring both conditional writes passes and keeps nothing; one that lets a wrong
write through is refused with its endpoint and the write named."""

from __future__ import annotations

import pytest

from lynex_box.cluster import ConditionalWritesUnsupported, probe_conditional_writes
from lynex_box.objstore import MemoryStore, ObjectStore, PreconditionFailed, PutResult
from tests.cluster.conftest import IgnoringStore


def test_the_real_s3_server_passes_and_the_probe_is_removed(s3: ObjectStore) -> None:
    probe_conditional_writes(s3, "node-a", endpoint="http://127.0.0.1 bucket b")

    assert s3.list("") == []


def test_the_memory_store_passes() -> None:
    store = MemoryStore()
    probe_conditional_writes(store, "node-a", endpoint="memory")
    assert store.list("") == []


@pytest.mark.parametrize(
    ("store", "named"),
    [
        (IgnoringStore(create_only=True), "let a second create-only write (If-None-Match: *) replace"),
        (IgnoringStore(if_match=True), "let a compare-and-swap write (If-Match: "),
    ],
    ids=["ignores-if-none-match", "ignores-if-match"],
)
def test_a_store_that_lets_a_wrong_write_through_is_refused(store: IgnoringStore, named: str) -> None:
    with pytest.raises(ConditionalWritesUnsupported) as info:
        probe_conditional_writes(store, "node-a", endpoint="http://gw.example:9000 bucket lynex")

    message = str(info.value)
    assert "the object store at http://gw.example:9000 bucket lynex" in message
    assert named in message
    assert "hint:" in message and "cluster.enabled = false" in message
    assert store.list("") == []  # the probe is removed even when it fails


class RefusesIfMatch(IgnoringStore):
    """A store that answers 412 to every If-Match, even with the right etag."""

    def put_if_match(self, key: str, data: bytes, etag: str) -> PutResult:
        raise PreconditionFailed("etag differs", key=key)


def test_a_store_that_refuses_a_right_compare_and_swap_is_refused() -> None:
    store = RefusesIfMatch()
    with pytest.raises(ConditionalWritesUnsupported, match="refused a compare-and-swap write with the object's own"):
        probe_conditional_writes(store, "node-a", endpoint="http://gw.example:9000")
    assert store.list("") == []
