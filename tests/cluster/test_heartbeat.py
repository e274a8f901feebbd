"""Heartbeats: written create-only then by compare-and-swap on the node's own etag; a second process claiming the
node id is refused at start and fences the first if it writes later; liveness from the heartbeat's age."""

from __future__ import annotations

import pytest

from lynex_box.cluster import DuplicateNode, Heartbeat, HeartbeatWriter, LeaseKeeper, list_nodes
from lynex_box.cluster.records import node_key
from lynex_box.objstore import MemoryStore, ObjectStore
from tests.cluster.conftest import FakeClock, LosesAnswers

TTL = 15.0


def writer(store: ObjectStore, clock: FakeClock | None = None, **kw: object) -> HeartbeatWriter:
    options: dict[str, object] = {
        "node_id": "node-a", "version": "0.9.0", "address": "http://10.0.0.5:4318", "lease_ttl_s": TTL, **kw,
    }  # fmt: skip
    if clock is not None:
        options["clock"] = clock
    return HeartbeatWriter(store, **options)  # type: ignore[arg-type]


def stored(store: ObjectStore, node: str = "node-a") -> Heartbeat:
    return Heartbeat.from_bytes(node_key(node), store.get(node_key(node)).data)


def test_a_claimed_node_beats_and_is_listed_alive_with_its_leases(s3: ObjectStore) -> None:
    held = ["alerts"]
    node = writer(s3, leases=lambda: held)
    node.claim()
    first = stored(s3)
    held.append("compaction")
    assert node.beat()

    row = list_nodes(s3, lease_ttl_s=TTL)[0]
    assert row.alive and row.age_s < TTL
    hb = row.heartbeat
    assert (hb.node_id, hb.version, hb.address, hb.incarnation) == (
        "node-a",
        "0.9.0",
        "http://10.0.0.5:4318",
        node.incarnation,
    )
    assert hb.leases == ("alerts", "compaction") and first.leases == ("alerts",)
    assert hb.started_at == first.started_at and hb.heartbeat_at >= first.heartbeat_at
    assert node.clock_ok() and node.clock_skew_s is not None and node.clock_skew_s <= 2.0


def test_a_second_process_with_a_fresh_heartbeat_of_the_node_is_refused_naming_its_address(
    s3: ObjectStore,
) -> None:
    writer(s3).claim()
    second = writer(s3, address="http://10.0.0.9:4318")

    with pytest.raises(DuplicateNode) as info:
        second.claim()

    message = str(info.value)
    assert "another process runs as node 'node-a'" in message
    assert "http://10.0.0.5:4318" in message and "hint: stop the other process at http://10.0.0.5:4318" in message
    assert stored(s3).address == "http://10.0.0.5:4318"  # the refused process wrote nothing


def test_a_heartbeat_older_than_the_ttl_is_taken_over(clock: FakeClock) -> None:
    store = MemoryStore()
    old = writer(store, clock)
    old.claim()
    clock.advance(TTL)

    new = writer(store, clock)
    new.claim()

    assert stored(store).incarnation == new.incarnation


def test_after_a_clean_stop_the_node_is_down_at_once_and_restarts_without_waiting(clock: FakeClock) -> None:
    store = MemoryStore()
    old = writer(store, clock)
    old.claim()
    old.stop()
    assert stored(store).heartbeat_at == 0
    assert not list_nodes(store, lease_ttl_s=TTL, clock=clock)[0].alive

    new = writer(store, clock)
    new.claim()
    assert list_nodes(store, lease_ttl_s=TTL, clock=clock)[0].alive


def test_liveness_follows_the_heartbeat_age(clock: FakeClock) -> None:
    store = MemoryStore()
    writer(store, clock).claim()
    clock.advance(TTL - 0.001)
    assert list_nodes(store, lease_ttl_s=TTL, clock=clock)[0].alive
    clock.advance(0.001)
    row = list_nodes(store, lease_ttl_s=TTL, clock=clock)[0]
    assert not row.alive and row.age_s == TTL


def test_another_process_writing_the_heartbeat_fences_the_node(s3: ObjectStore, clock: FakeClock) -> None:
    reasons: list[str] = []
    first = writer(s3, clock, on_fenced=reasons.append)
    first.claim()
    clock.advance(TTL)  # the first process pauses past the ttl; a copy of its data dir starts
    copy = writer(s3, clock, address="http://10.0.0.9:4318")
    copy.claim()

    assert not first.beat()

    assert first.fenced is not None and len(reasons) == 1
    assert copy.incarnation in reasons[0] and "http://10.0.0.9:4318" in reasons[0]
    assert not first.beat() and len(reasons) == 1  # fenced for good: nothing written, told once
    first.stop()
    assert stored(s3).incarnation == copy.incarnation and copy.beat()
    assert not first.clock_ok()


def test_a_write_applied_although_its_answer_was_lost_does_not_fence(clock: FakeClock) -> None:
    store = LosesAnswers()
    reasons: list[str] = []
    node = writer(store, clock, on_fenced=reasons.append)
    node.claim()
    store.lose = 1
    clock.advance(2)
    assert not node.beat()  # applied, but the node could not know
    clock.advance(2)

    assert node.beat()

    assert reasons == [] and node.fenced is None
    assert stored(store).heartbeat_at == clock.now


def test_waiting_at_start_takes_over_a_heartbeat_that_stops_changing(clock: FakeClock) -> None:
    store = MemoryStore()
    writer(store, clock).claim()  # then killed: its heartbeat no longer changes
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    new = writer(store, clock, sleep=sleep)
    new.claim(wait_s=2 * TTL)

    assert stored(store).incarnation == new.incarnation
    assert TTL - 1 <= sum(waited) <= TTL + 1


def test_waiting_at_start_refuses_when_the_other_process_keeps_beating(clock: FakeClock) -> None:
    store = MemoryStore()
    alive = writer(store, clock)
    alive.claim()

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        alive.beat()

    with pytest.raises(DuplicateNode, match=r"http://10\.0\.0\.5:4318"):
        writer(store, clock, sleep=sleep).claim(wait_s=2 * TTL)
    assert stored(store).incarnation == alive.incarnation


def test_a_clock_far_from_the_stores_is_reported(clock: FakeClock) -> None:
    node = writer(MemoryStore(), clock)  # the fake clock is in 2001, the store stamps objects with the real time
    node.claim()
    assert node.clock_skew_s is not None and node.clock_skew_s > 60
    assert not node.clock_ok()


def test_the_fenced_callback_may_stop_the_writer(clock: FakeClock) -> None:
    store = MemoryStore()
    stopped: list[str] = []
    first = writer(store, clock, on_fenced=lambda reason: (first.stop(), stopped.append(reason)))
    first.claim()
    clock.advance(TTL)
    writer(store, clock).claim()

    assert not first.beat()

    assert len(stopped) == 1 and first.fenced == stopped[0]


@pytest.mark.parametrize("overwritten_with", ["another heartbeat", "garbage"])
def test_a_fenced_heartbeat_makes_the_keeper_drop_its_leases(
    s3: ObjectStore, clock: FakeClock, overwritten_with: str
) -> None:
    lost: list[str] = []
    keeper = LeaseKeeper(
        s3, holder="node-a", incarnation="inc-a", ttl_s=TTL, max_clock_skew_s=2.0, clock=clock,
        jobs=("alerts",), on_lost=lambda job, gen, reason: lost.append(reason),
    )  # fmt: skip
    node = writer(s3, clock, incarnation="inc-a", leases=keeper.held_jobs, on_fenced=keeper.fence)
    node.claim()
    keeper.tick()
    assert node.beat() and stored(s3).leases == ("alerts",)
    clock.advance(TTL / 2)
    other = Heartbeat("node-a", "inc-b", "0.9.0", "http://10.0.0.9:4318", clock.now, clock.now)
    s3.put(node_key("node-a"), other.to_bytes() if overwritten_with == "another heartbeat" else b"\x00garbage")

    assert not node.beat()

    assert keeper.holds("alerts") is None and len(lost) == 1 and lost[0].startswith("fenced: ")
