"""The cluster's last closed usage day (`cluster/usage/closed.json`, docs/format/cluster.md "Usage days") on the
real moto S3 server, with two lease keepers: only the `retention` holder may emit and mark; a new holder goes on
from the day after the old one's mark; an old holder whose lease was taken cannot move the mark."""

from __future__ import annotations

import json

from lynex_box.cluster import LeaseKeeper
from lynex_box.cluster.records import USAGE_MARK_KEY
from lynex_box.cluster.usagemark import ClusterClosedDays
from lynex_box.objstore import ObjectStore
from tests.cluster.conftest import FakeClock

TTL, SKEW = 15.0, 1.0


def node(s3: ObjectStore, name: str, clock: FakeClock) -> tuple[LeaseKeeper, ClusterClosedDays]:
    keeper = LeaseKeeper(
        s3, holder=name, incarnation=f"inc-{name}", ttl_s=TTL, max_clock_skew_s=SKEW, clock=clock, jobs=("retention",)
    )
    return keeper, ClusterClosedDays(s3, keeper, name, clock)


def test_only_the_retention_holder_marks_and_a_new_holder_goes_on_from_its_mark(
    s3: ObjectStore, clock: FakeClock
) -> None:
    a_keeper, a = node(s3, "node-a", clock)
    b_keeper, b = node(s3, "node-b", clock)
    a_keeper.tick()
    b_keeper.tick()
    assert a_keeper.holds("retention") is not None and b_keeper.holds("retention") is None
    assert a.last() is None and a.may_emit() and not b.may_emit()
    assert a.mark("2026-12-01") and a.mark("2026-12-02")
    assert b.last() == "2026-12-02" and not b.mark("2026-12-03")  # no lease: no write
    doc = json.loads(s3.get(USAGE_MARK_KEY).data)
    assert (doc["day"], doc["holder"], doc["generation"]) == ("2026-12-02", "node-a", 1)
    # node-a stops renewing (paused); node-b takes the lease once it expired and continues from the mark
    clock.advance(TTL + SKEW + 1)
    b_keeper.tick()
    assert b_keeper.holds("retention") == 2
    assert b.last() == "2026-12-02" and b.may_emit() and b.mark("2026-12-03")
    # node-a wakes up: its lease is gone, so it neither emits nor marks
    assert not a.may_emit()
    assert not a.mark("2026-12-04")
    assert json.loads(s3.get(USAGE_MARK_KEY).data)["day"] == "2026-12-03"


def test_a_stale_etag_refuses_the_write(s3: ObjectStore, clock: FakeClock) -> None:
    keeper, a = node(s3, "node-a", clock)
    keeper.tick()
    other = ClusterClosedDays(s3, keeper, "node-a", clock)  # a second view under the same lease
    assert a.last() is None and other.last() is None
    assert a.mark("2026-12-01")
    assert not other.mark("2026-12-01")  # create-only: the object exists now
    assert other.last() == "2026-12-01" and other.mark("2026-12-02")
    assert not a.mark("2026-12-03")  # a's etag is stale
