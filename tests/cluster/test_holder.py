"""Who holds the `metadata` lease and where to reach it (`cluster/holder.py`), read from the real moto server: the
holder counts only while its lease is live and its heartbeat alive and of the same process; answers are cached
until `forget()`."""

from __future__ import annotations

from lynex_box.cluster import HeartbeatWriter, Lease
from lynex_box.cluster.holder import Holder, HolderLookup
from lynex_box.objstore import ObjectStore
from tests.cluster.conftest import FakeClock

TTL = 15.0


def beat(store: ObjectStore, clock: FakeClock, node_id: str, incarnation: str) -> HeartbeatWriter:
    writer = HeartbeatWriter(
        store, node_id=node_id, version="0.9.0", address=f"http://{node_id}:4318", lease_ttl_s=TTL,
        incarnation=incarnation, clock=clock,
    )  # fmt: skip
    writer.claim()
    return writer


def take(store: ObjectStore, clock: FakeClock, node_id: str, incarnation: str) -> None:
    lease = Lease(
        store, "metadata", holder=node_id, incarnation=incarnation, ttl_s=TTL, max_clock_skew_s=2, clock=clock
    )
    assert lease.take() is not None


def lookup(store: ObjectStore, clock: FakeClock, cache_s: float = 0.0) -> HolderLookup:
    return HolderLookup(store, "metadata", lease_ttl_s=TTL, cache_s=cache_s, clock=clock)


def test_the_holder_is_the_live_lease_holder_at_its_heartbeats_address(s3: ObjectStore, clock: FakeClock) -> None:
    assert lookup(s3, clock).find() is None  # never taken
    beat(s3, clock, "node-a", "inc-a")
    take(s3, clock, "node-a", "inc-a")
    assert lookup(s3, clock).find() == Holder("node-a", "http://node-a:4318")
    clock.advance(TTL + 0.1)  # the lease expired (and the heartbeat is as old)
    assert lookup(s3, clock).find() is None


def test_a_holder_whose_heartbeat_is_of_another_process_or_missing_does_not_count(
    s3: ObjectStore, clock: FakeClock
) -> None:
    take(s3, clock, "node-a", "inc-a")
    assert lookup(s3, clock).find() is None  # no heartbeat at all
    beat(s3, clock, "node-a", "inc-other")  # a restarted process, not the one that holds the lease
    assert lookup(s3, clock).find() is None


def test_the_answer_is_cached_until_forgotten(s3: ObjectStore, clock: FakeClock) -> None:
    cached = lookup(s3, clock, cache_s=3600)
    assert cached.find() is None
    beat(s3, clock, "node-a", "inc-a")
    take(s3, clock, "node-a", "inc-a")
    assert cached.find() is None  # still the cached answer
    cached.forget()
    assert cached.find() == Holder("node-a", "http://node-a:4318")
