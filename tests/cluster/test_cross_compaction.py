"""Cross-node compaction over real engines on one bucket of the real moto S3 server: owners hand their flushed
segments over (`compactable: true`) and stop rewriting them; the `compaction` lease holder merges several owners'
segments into one of its own, listed with what it `replaces`; each owner drops the replaced ones only when that
segment is listed; every node's queries count each row once before, during and after the hand-off; a compactor that
lost its lease leaves nothing behind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lynex_box.cluster.compactor import CrossCompactor, ReplacedRequests, Request
from lynex_box.cluster.manifest import Manifest
from lynex_box.cluster.poller import ManifestPoller
from lynex_box.cluster.publisher import SegmentPublisher
from lynex_box.cluster.records import REPLACED_PREFIX, manifest_key, replaced_key
from lynex_box.engine import Engine
from lynex_box.lifecycle.bucket import SegmentUploader
from lynex_box.objstore import ObjectStore
from lynex_box.query.engine import SpanScope
from tests.cluster.test_segments import nodes  # noqa: F401 - the fixture
from tests.lifecycle.conftest import DAY_MS, add_segment, now_ms

AFTER_S = 1.0  # [cluster] compactable_after_s of these tests
COUNT = "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM spans"
BASE_MS = (now_ms() - DAY_MS) // DAY_MS * DAY_MS + 3_600_000  # one [compaction] window, an hour into it


def node(nodes: Any, name: str) -> Engine:  # noqa: F811
    return nodes(name, cluster={"compactable_after_s": AFTER_S}, compaction={"min_segments": 2})


def bucket_of(engine: Engine) -> ObjectStore:
    assert engine.lifecycle.bucket is not None
    return engine.lifecycle.bucket


def publisher(engine: Engine, incarnation: str = "01INCARNATION") -> SegmentPublisher:
    name = engine.lifecycle.ctx.node_id
    made = SegmentPublisher(
        bucket_of(engine), node_id=name, incarnation=incarnation, local=engine.store,
        upload=SegmentUploader(bucket_of(engine), name, engine.lifecycle.ctx.scratch), fenced=lambda: False,
        on_fenced=lambda reason: None, handoff_after_s=AFTER_S, shared=engine.query.shared,
    )  # fmt: skip
    made.open()
    return made


def poller(engine: Engine) -> ManifestPoller:
    assert engine.query.shared is not None
    return ManifestPoller(bucket_of(engine), engine.lifecycle.ctx.node_id, engine.query.shared)


def compactor(engine: Engine, publish: SegmentPublisher, holds: Any = lambda job: 7) -> CrossCompactor:
    return CrossCompactor(
        bucket_of(engine), node_id=engine.lifecycle.ctx.node_id, holds=holds, publisher=publish,
        merge=engine.lifecycle.merge_shared, settings=engine.lifecycle.settings.compaction,
    )  # fmt: skip


def answerer(engine: Engine) -> ReplacedRequests:
    assert engine.query.shared is not None
    return ReplacedRequests(
        bucket_of(engine), node_id=engine.lifecycle.ctx.node_id, shared=engine.query.shared, local=engine.store,
        drop=engine.lifecycle.drop_replaced,
    )  # fmt: skip


def manifest(engine: Engine, name: str) -> Manifest:
    key = manifest_key(name)
    return Manifest.from_bytes(key, bucket_of(engine).get(key).data)


def count(engine: Engine) -> dict[str, int]:
    return dict(engine.query.run(SpanScope("p1"), COUNT).to_pylist()[0])


def trace_rows(engine: Engine, trace_id: str) -> int:
    table = engine.query.run(SpanScope("p1", trace_id=trace_id), "SELECT count(*) AS n FROM spans")
    return int(table.to_pylist()[0]["n"])


def segments(engine: Engine, owner: str, n: int, rows: int = 10) -> None:
    for k in range(n):
        add_segment(engine, "p1", f"{owner}{k}", rows, BASE_MS + k * 60_000)


def handed_over() -> None:
    time.sleep(AFTER_S + 0.3)


def test_a_handed_off_segment_is_listed_compactable_and_its_owner_no_longer_rewrites_it(nodes: Any) -> None:  # noqa: F811
    a = node(nodes, "node-a")
    segments(a, "a", 3)
    publish = publisher(a)
    assert publish.publish() is True
    assert [s["compactable"] for s in manifest(a, "node-a").segments] == [False] * 3

    handed_over()
    assert a.lifecycle.compact() == 0  # handed off: the owner's own compaction leaves them to the lease holder
    assert publish.publish() is True  # crossing the threshold is a change of the manifest
    assert [s["compactable"] for s in manifest(a, "node-a").segments] == [True] * 3
    assert publish.publish() is False
    assert len(a.store.segment_entries()) == 3


def test_the_lease_holder_merges_owners_segments_and_each_owner_drops_them_once_listed(nodes: Any) -> None:  # noqa: F811
    a, b, c = node(nodes, "node-a"), node(nodes, "node-b"), node(nodes, "node-c")
    segments(a, "a", 3)
    segments(b, "b", 2)
    segments(c, "c", 2)  # the compactor's own handed-off segments go into the same merge
    handed_over()
    pubs = {e: publisher(e) for e in (a, b, c)}
    for p in pubs.values():
        p.publish()
    polls = {e: poller(e) for e in (a, b, c)}
    for p in polls.values():
        p.poll()
    total = {"n": 70, "ids": 70}
    assert all(count(e) == total for e in (a, b, c))

    merger = compactor(c, pubs[c])
    assert merger.turn() == 1
    listed = manifest(c, "node-c").segments
    [merged] = [s for s in listed if s.get("replaces")]
    assert len(listed) == 1 and merged["generation"] == 7 and merged["level"] == 1 and merged["row_count"] == 70
    assert sorted(r["node"] for r in merged["replaces"]) == ["node-a"] * 3 + ["node-b"] * 2
    assert merged["key"].startswith("segments/node-c/")
    assert [m.key for m in bucket_of(c).list(REPLACED_PREFIX)] == [
        replaced_key("node-a", merged["id"]), replaced_key("node-b", merged["id"])
    ]  # fmt: skip
    assert count(c) == total  # the compactor's queries: its merged segment, not the owners' inputs
    assert merger.turn() == 0  # the replaced segments are never merged again

    drop_a = answerer(a)
    assert drop_a.turn() == 0  # node-a has not read node-c's new manifest: nothing dropped, the request stays
    assert len(a.store.segment_entries()) == 3 and count(a) == total
    for p in polls.values():
        p.poll()
    assert count(a) == total and count(b) == total  # both listed meanwhile: each row counted once
    assert trace_rows(a, "a0-t0") == trace_rows(c, "a0-t0") > 0

    assert drop_a.turn() == 3
    assert a.store.segment_entries() == [] and bucket_of(a).list(f"{REPLACED_PREFIX}/node-a/") == []
    pubs[a].publish()
    assert manifest(a, "node-a").segments == ()
    for p in polls.values():
        p.poll()
    assert all(count(e) == total for e in (a, b, c))  # node-b has not dropped yet: still once
    assert answerer(b).turn() == 2 and pubs[b].publish()
    for p in polls.values():
        p.poll()
    assert all(count(e) == total for e in (a, b, c))

    a.lifecycle.clean(grace_s=0)  # the janitor removes the dropped segments' bucket copies after the grace period
    assert bucket_of(a).list("segments/node-a") == []

    again = publisher(c)  # a restarted compactor keeps what its merged segment replaces
    assert again.merged().keys() == {merged["id"]}
    add_segment(c, "p1", "later", 5, BASE_MS + 3_600_000)
    again.publish()
    [kept] = [s for s in manifest(c, "node-c").segments if s["id"] == merged["id"]]
    assert kept["replaces"] == merged["replaces"]


def test_a_dead_owners_segments_stay_listed_but_are_read_once(nodes: Any) -> None:  # noqa: F811
    a, c = node(nodes, "node-a"), node(nodes, "node-c")
    segments(a, "a", 3)
    handed_over()
    publisher(a).publish()
    publish_c = publisher(c)
    poller(c).poll()
    assert compactor(c, publish_c).turn() == 1
    poll = poller(a)
    poll.poll()
    # node-a never answers (gone for good): its manifest still lists the three segments, the merged one hides them
    assert len(manifest(a, "node-a").segments) == 3
    assert count(c) == {"n": 30, "ids": 30} and count(a) == {"n": 30, "ids": 30}


def test_a_compactor_that_lost_its_lease_before_the_swap_leaves_nothing(nodes: Any) -> None:  # noqa: F811
    a, c = node(nodes, "node-a"), node(nodes, "node-c")
    segments(a, "a", 3)
    handed_over()
    publisher(a).publish()
    answers = iter([7, 7])  # the turn starts and plans at generation 7; the check before the swap finds none

    def holds(job: str) -> int | None:
        return next(answers, None)

    publish_c = publisher(c)
    assert compactor(c, publish_c, holds).turn() == 0
    assert c.store.segment_entries() == [] and bucket_of(c).list("segments/node-c") == []
    publish_c.publish()
    assert manifest(c, "node-c").segments == () and bucket_of(c).list(REPLACED_PREFIX) == []
    assert compactor(c, publish_c, lambda job: None).turn() == 0  # no lease: nothing read, nothing merged


@pytest.mark.parametrize("segment", ["01NOSUCHSEGMENT0000000000", "listed-but-not-replacing"])
def test_a_request_whose_segment_does_not_replace_the_ids_drops_nothing(nodes: Any, segment: str) -> None:  # noqa: F811
    a, c = node(nodes, "node-a"), node(nodes, "node-c")
    segments(a, "a", 2)
    handed_over()
    publisher(a).publish()
    segments(c, "c", 1)
    publisher(c).publish()
    poller(a).poll()
    [own_c] = c.store.segment_entries()
    target = own_c.id if segment == "listed-but-not-replacing" else segment
    ids = tuple(e.id for e in a.store.segment_entries())
    key = replaced_key("node-a", target)
    bucket_of(a).put_if_absent(key, Request("node-a", "node-c", 9, target, ids, 0).to_bytes())
    assert answerer(a).turn() == 0
    assert len(a.store.segment_entries()) == 2 and count(a) == {"n": 30, "ids": 30}
    assert [m.key for m in bucket_of(a).list(REPLACED_PREFIX)] == [key]  # kept until REQUEST_STALE_S


def test_the_owner_refuses_a_local_rewrite_of_a_handed_off_segment(nodes: Any, tmp_path: Path) -> None:  # noqa: F811
    from lynex_box.lifecycle.rewrite import rewrite_segment
    from lynex_box.meta.catalog import CatalogConflict

    a = node(nodes, "node-a")
    segments(a, "a", 1)
    [entry] = a.store.segment_entries()
    handed_over()
    with pytest.raises(CatalogConflict, match="handed over to cross-node compaction"):
        rewrite_segment(a.lifecycle.ctx, entry)
    assert a.store.segment_entries() == [entry]
    a.lifecycle.ctx.swap([entry], [])  # dropping it whole is allowed (retention of a segment past its days)
    assert a.store.segment_entries() == []


def test_a_restarted_compactor_asks_the_owners_again_even_without_the_lease(nodes: Any) -> None:  # noqa: F811
    a, c = node(nodes, "node-a"), node(nodes, "node-c")
    segments(a, "a", 2)
    handed_over()
    publisher(a).publish()
    assert compactor(c, publisher(c)).turn() == 1
    [request] = bucket_of(c).list(REPLACED_PREFIX)
    bucket_of(c).delete(request.key)  # as if the process had died between its manifest write and the request

    restarted = publisher(c, incarnation="01RESTARTED")
    restarted.publish()
    again = compactor(c, restarted, lambda job: None)  # another node holds the lease now
    assert again.turn() == 0 and again.requests == 1
    assert [m.key for m in bucket_of(c).list(REPLACED_PREFIX)] == [request.key]
    assert again.turn() == 0 and again.requests == 1  # asked once per process
    poller(a).poll()
    assert answerer(a).turn() == 2 and a.store.segment_entries() == []
    assert count(a) == {"n": 20, "ids": 20}


def test_the_holders_merged_segments_are_merged_again_level_by_level_keeping_what_they_replace(nodes: Any) -> None:  # noqa: F811
    a, c = node(nodes, "node-a"), node(nodes, "node-c")
    publish_a, publish_c = publisher(a), publisher(c)
    merger = compactor(c, publish_c)
    for batch in range(2):
        segments(a, f"a{batch}-", 2)
        handed_over()
        publish_a.publish()
        assert merger.turn() == 1  # the two handed-off segments of this batch, into one of level 1
    assert sorted(s["level"] for s in manifest(c, "node-c").segments) == [1, 1]
    assert len(bucket_of(c).list(f"{REPLACED_PREFIX}/node-a/")) == 2

    assert merger.turn() == 1  # the holder's own two merged segments of the window, into one of level 2
    [merged] = manifest(c, "node-c").segments
    assert merged["level"] == 2 and len(merged["replaces"]) == 4 and merged["row_count"] == 40
    poll = poller(a)
    poll.poll()
    assert count(a) == {"n": 40, "ids": 40} and count(c) == {"n": 40, "ids": 40}

    asked = {m.key for m in bucket_of(a).list(f"{REPLACED_PREFIX}/node-a/")}
    assert replaced_key("node-a", merged["id"]) in asked and len(asked) == 3  # asked anew for the level-2 segment
    drop = answerer(a)
    assert drop.turn() == 4 and a.store.segment_entries() == []
    assert bucket_of(a).list(f"{REPLACED_PREFIX}/node-a/") == []  # the superseded two deleted unanswered
    publish_a.publish()
    poll.poll()
    assert count(a) == {"n": 40, "ids": 40} and count(c) == {"n": 40, "ids": 40}


def test_a_deletion_on_the_owner_keeps_hiding_rows_merged_into_the_holders_segment(nodes: Any) -> None:  # noqa: F811
    a, c = node(nodes, "node-a"), node(nodes, "node-c")
    segments(a, "a", 2)
    handed_over()
    publish_a = publisher(a)
    publish_a.publish()
    assert compactor(c, publisher(c)).turn() == 1
    poller(a).poll()
    assert answerer(a).turn() == 2 and publish_a.publish()
    assert trace_rows(a, "a0-t0") > 0

    a.lifecycle.delete("p1", "trace", "a0-t0", None)
    assert trace_rows(a, "a0-t0") == 0
    a.lifecycle.purge_deletions()  # nothing of node-a's own holds the trace now: node-c's merged segment does
    assert trace_rows(a, "a0-t0") == 0  # the tombstone stays, and keeps hiding the rows on node-a
    assert a.lifecycle.ctx.db.read("SELECT count(*) FROM tombstones")[0][0] == 1


def test_compactable_after_s_zero_or_cluster_mode_off_hands_nothing_over() -> None:
    from lynex_box.config import ClusterSettings

    assert ClusterSettings(enabled=True).handoff_after_s() == 60.0
    assert ClusterSettings(enabled=True, compactable_after_s=0).handoff_after_s() is None
    assert ClusterSettings(enabled=False, compactable_after_s=5).handoff_after_s() is None


def test_the_owner_does_not_offload_a_handed_off_segment(nodes: Any) -> None:  # noqa: F811
    a = nodes("node-a", cluster={"compactable_after_s": AFTER_S}, offload={"hot_window_s": 0})
    segments(a, "a", 2)
    handed_over()
    handed = {e.id for e in a.store.segment_entries()}
    add_segment(a, "p1", "young", 5, BASE_MS)
    assert a.lifecycle.offload() == 1  # only the segment not handed over yet moves to the bucket
    after = a.store.segment_entries()
    assert {e.id for e in after if e.location == "local"} == handed and len(after) == 3
