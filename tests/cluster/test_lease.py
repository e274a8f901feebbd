"""Leases: take, renew, expiry takeover after the clock-skew margin, generation fencing, release; and the keeper
that holds a node's leases tick by tick, answers `holds(job)` and reports losses."""

from __future__ import annotations

import time

import pytest

from lynex_box.cluster import Lease, LeaseKeeper, LeaseLost, LeaseRecord
from lynex_box.cluster.records import lease_key
from lynex_box.objstore import MemoryStore, ObjectStore
from tests.cluster.conftest import FakeClock, Flaky, LosesAnswers

TTL = 15.0
SKEW = 2.0


def lease(store: ObjectStore, clock: FakeClock, holder: str, incarnation: str | None = None) -> Lease:
    return Lease(
        store, "alerts", holder=holder, incarnation=incarnation or f"inc-{holder}", ttl_s=TTL,
        max_clock_skew_s=SKEW, clock=clock,
    )  # fmt: skip


def stored(store: ObjectStore) -> LeaseRecord:
    return LeaseRecord.from_bytes(lease_key("alerts"), store.get(lease_key("alerts")).data)


def test_a_missing_lease_is_taken_at_generation_one_and_a_held_one_is_not(s3: ObjectStore, clock: FakeClock) -> None:
    a, b = lease(s3, clock, "node-a"), lease(s3, clock, "node-b")

    held = a.take()

    assert held is not None and held.generation == 1
    assert stored(s3) == LeaseRecord("alerts", "node-a", "inc-node-a", 1, clock.now, clock.now + 15_000_000)
    assert b.take() is None
    clock.advance(TTL + SKEW)  # expired, but not by more than the skew margin
    assert b.take() is None


def test_renewal_extends_the_lease_and_keeps_the_generation(s3: ObjectStore, clock: FakeClock) -> None:
    a = lease(s3, clock, "node-a")
    held = a.take()
    assert held is not None
    clock.advance(5)

    renewed = a.renew(held)

    assert renewed.generation == 1 and renewed.etag != held.etag
    assert stored(s3).expires_at == clock.now + 15_000_000
    clock.advance(TTL)  # past the first expiry, not the renewed one plus skew
    assert lease(s3, clock, "node-b").take() is None


def test_an_expired_lease_is_taken_over_at_the_next_generation_and_the_stale_holder_loses(
    s3: ObjectStore, clock: FakeClock
) -> None:
    a, b = lease(s3, clock, "node-a"), lease(s3, clock, "node-b")
    stale = a.take()
    assert stale is not None
    clock.advance(TTL + SKEW + 0.001)

    taken = b.take()

    assert taken is not None and taken.generation == 2
    assert (stored(s3).holder, stored(s3).acquired_at) == ("node-b", clock.now)
    with pytest.raises(LeaseLost) as info:
        a.renew(stale)
    assert "generation 1 was taken over by node-b (generation 2)" in str(info.value)
    assert not a.release(stale)  # a stale holder's release writes nothing
    assert stored(s3).holder == "node-b" and stored(s3).expires_at > clock.now


def test_generations_increase_by_one_per_takeover(clock: FakeClock) -> None:
    store = MemoryStore()
    nodes = [lease(store, clock, f"node-{i}") for i in range(3)]
    generations = []
    for turn in range(9):
        held = nodes[turn % 3].take()
        assert held is not None
        generations.append(held.generation)
        clock.advance(TTL + SKEW + 1)
    assert generations == list(range(1, 10))


def test_a_released_lease_is_taken_at_once(s3: ObjectStore, clock: FakeClock) -> None:
    a, b = lease(s3, clock, "node-a"), lease(s3, clock, "node-b")
    held = a.take()
    assert held is not None

    assert a.release(held)

    assert stored(s3).expires_at == 0
    taken = b.take()
    assert taken is not None and taken.generation == 2


def test_a_process_takes_its_own_record_again_at_once_at_the_next_generation(clock: FakeClock) -> None:
    store = MemoryStore()
    a = lease(store, clock, "node-a")
    assert a.take() is not None
    again = a.take()  # e.g. after it dropped the lease locally
    assert again is not None and again.generation == 2
    restarted = lease(store, clock, "node-a", incarnation="inc-2")  # same node, new process: waits for expiry
    assert restarted.take() is None


def test_a_renewal_applied_although_its_answer_was_lost_is_kept(clock: FakeClock) -> None:
    store = LosesAnswers()
    a = lease(store, clock, "node-a")
    held = a.take()
    assert held is not None
    store.lose = 1
    clock.advance(5)
    with pytest.raises(Exception, match="timed out"):
        a.renew(held)
    clock.advance(1)

    renewed = a.renew(held)

    assert renewed.generation == 1 and stored(store).expires_at == clock.now + 15_000_000


def keeper(
    store: ObjectStore, clock: FakeClock, holder: str, events: list[tuple[str, ...]], **kw: object
) -> LeaseKeeper:
    return LeaseKeeper(
        store, holder=holder, incarnation=f"inc-{holder}", ttl_s=TTL, max_clock_skew_s=SKEW, clock=clock,
        jobs=("alerts", "compaction"),
        on_acquired=lambda job, gen: events.append((holder, "acquired", job, str(gen))),
        on_lost=lambda job, gen, reason: events.append((holder, "lost", job, str(gen), reason)),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_keeper_takes_free_leases_renews_them_and_answers_holds(clock: FakeClock) -> None:
    store = MemoryStore()
    events: list[tuple[str, ...]] = []
    a = keeper(store, clock, "node-a", events)
    b = keeper(store, clock, "node-b", events)

    a.tick()
    b.tick()

    assert (a.holds("alerts"), a.holds("compaction"), b.holds("alerts")) == (1, 1, None)
    assert a.held_jobs() == ["alerts", "compaction"]
    assert events == [("node-a", "acquired", "alerts", "1"), ("node-a", "acquired", "compaction", "1")]
    first_expiry = stored(store).expires_at
    clock.advance(TTL / 3 - 0.5)
    a.tick()
    assert stored(store).expires_at == first_expiry  # not due yet
    clock.advance(1)
    a.tick()
    assert stored(store).expires_at == clock.now + 15_000_000
    for _ in range(10):  # held for 10 ttls while renewing every third of one
        clock.advance(TTL / 3 + 0.1)
        a.tick()
        b.tick()
    assert a.holds("alerts") == 1 and b.holds("alerts") is None


def test_the_keeper_reports_a_takeover_and_stops_answering_holds(clock: FakeClock) -> None:
    store = MemoryStore()
    events: list[tuple[str, ...]] = []
    a = keeper(store, clock, "node-a", events)
    a.tick()
    clock.advance(TTL + SKEW + 1)  # node-a paused (GC, VM freeze) past its lease
    assert a.holds("alerts") is None  # by its own clock it knows the lease ran out
    b = keeper(store, clock, "node-b", events)
    b.tick()
    assert b.holds("alerts") == 2

    a.tick()

    lost = [e for e in events if e[0] == "node-a" and e[1] == "lost"]
    assert [e[2:4] for e in lost] == [("alerts", "1"), ("compaction", "1")]
    assert a.holds("alerts") is None and b.holds("alerts") == 2


def test_a_keeper_cut_off_from_the_store_stops_its_jobs_when_its_lease_runs_out(clock: FakeClock) -> None:
    store = Flaky()
    events: list[tuple[str, ...]] = []
    a = keeper(store, clock, "node-a", events)
    a.tick()
    store.down = True
    for _ in range(2):
        clock.advance(TTL / 3 + 0.1)
        a.tick()  # renewals fail: the leases are kept until they expire
    assert a.holds("alerts") == 1
    clock.advance(TTL / 3)
    assert a.holds("alerts") is None  # expired by its own clock, before anyone may take it over
    a.tick()
    assert [e[1:4] for e in events if e[1] == "lost"] == [("lost", "alerts", "1"), ("lost", "compaction", "1")]
    assert "expired before a renewal succeeded" in events[-1][4]
    store.down = False
    a.tick()  # its own records: taken again at once, at the next generation
    assert a.holds("alerts") == 2


def test_a_fenced_keeper_drops_its_leases_and_writes_nothing_more(clock: FakeClock) -> None:
    store = MemoryStore()
    events: list[tuple[str, ...]] = []
    a = keeper(store, clock, "node-a", events)
    a.tick()
    before = store.get(lease_key("alerts")).etag

    a.fence("another process wrote the heartbeat")
    clock.advance(TTL / 2)
    a.tick()
    a.stop()

    assert a.holds("alerts") is None and a.held_jobs() == []
    assert [e[1:4] for e in events if e[1] == "lost"] == [("lost", "alerts", "1"), ("lost", "compaction", "1")]
    assert store.get(lease_key("alerts")).etag == before  # neither renewed nor released


def test_a_keeper_whose_clock_is_off_takes_no_lease(clock: FakeClock) -> None:
    store = MemoryStore()
    a = keeper(store, clock, "node-a", [], may_take=lambda: False)
    a.tick()
    assert a.holds("alerts") is None and store.list("cluster") == []


def test_the_keeper_thread_takes_and_releases_on_stop(s3: ObjectStore) -> None:
    events: list[tuple[str, ...]] = []
    a = LeaseKeeper(
        s3, holder="node-a", incarnation="inc-a", ttl_s=3.0, max_clock_skew_s=0.5, jobs=("alerts",),
        on_acquired=lambda job, gen: events.append(("acquired", job)),
    )  # fmt: skip
    a.start(interval_s=0.05)
    deadline = time.monotonic() + 20
    while a.holds("alerts") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert a.holds("alerts") == 1
    first = LeaseRecord.from_bytes(lease_key("alerts"), s3.get(lease_key("alerts")).data)
    renewed = first
    while renewed.expires_at == first.expires_at and time.monotonic() < deadline:
        time.sleep(0.1)  # the thread renews once a third of the ttl has passed
        renewed = LeaseRecord.from_bytes(lease_key("alerts"), s3.get(lease_key("alerts")).data)
    assert renewed.expires_at > first.expires_at and renewed.generation == 1
    assert a.holds("alerts") == 1

    a.stop()

    assert a.holds("alerts") is None
    record = LeaseRecord.from_bytes(lease_key("alerts"), s3.get(lease_key("alerts")).data)
    assert record.expires_at == 0 and record.holder == "node-a"
    assert events == [("acquired", "alerts")]


def test_a_lease_record_of_a_newer_format_is_left_alone_and_a_held_one_counts_as_lost(clock: FakeClock) -> None:
    store = MemoryStore()
    events: list[tuple[str, ...]] = []
    a = keeper(store, clock, "node-a", events)
    a.tick()
    newer = b'{"format": 2, "job": "alerts", "holder": "node-z", "generation": 9}'
    store.put(lease_key("alerts"), newer)  # a newer node took it and wrote its own format
    clock.advance(TTL / 3 + 0.1)

    a.tick()

    assert a.holds("alerts") is None and a.holds("compaction") == 1
    assert [e[1:4] for e in events if e[1] == "lost"] == [("lost", "alerts", "1")]
    clock.advance(TTL + SKEW + 1)
    a.tick()  # never overwritten, even once expired by any reading
    assert store.get(lease_key("alerts")).data == newer and a.holds("alerts") is None
