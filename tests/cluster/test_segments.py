"""Shared segments (step 2) over two real engines on one bucket of the real moto S3 server: node A's publisher
uploads each flushed segment and lists it in A's manifest; node B's poller gives B's queries A's segments, read
through B's bucket cache and never written into B's catalog. A rewrite on A (compaction, offload) replaces its
entries in one manifest write; a manifest written by another process fences A; a damaged or removed manifest never
hides or invents data on B."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lynex_box.cluster.manifest import Manifest
from lynex_box.cluster.poller import ManifestPoller
from lynex_box.cluster.publisher import SegmentPublisher
from lynex_box.cluster.records import manifest_key
from lynex_box.engine import Engine
from lynex_box.lifecycle.bucket import SegmentUploader, file_sha256, segment_key
from lynex_box.objstore import ObjectStore
from lynex_box.query.engine import SpanScope
from tests.lifecycle.conftest import DAY_MS, add_segment, now_ms, s3_bucket, settings_for
from tests.objstore.conftest import MotoServer

COUNT = "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM spans"


@pytest.fixture
def nodes(tmp_path: Path, moto_server: MotoServer, bucket: str) -> Iterator[Any]:
    """`nodes(name, **sections)`: an engine in cluster mode on the test's bucket; all closed at the end."""
    opened: list[Engine] = []

    def make(name: str, **sections: dict[str, Any]) -> Engine:
        cluster = {"enabled": True, **sections.pop("cluster", {})}
        settings = settings_for(tmp_path / name, bucket={**s3_bucket(moto_server, bucket), "node_id": name},
                                cluster=cluster, retention={"days": 0}, **sections)  # fmt: skip
        engine = Engine.open(settings)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


def bucket_of(engine: Engine) -> ObjectStore:
    assert engine.lifecycle.bucket is not None
    return engine.lifecycle.bucket


def publisher(engine: Engine, incarnation: str = "01INCARNATIONA", fenced: list[str] | None = None) -> SegmentPublisher:
    node = engine.lifecycle.ctx.node_id
    made = SegmentPublisher(
        bucket_of(engine), node_id=node, incarnation=incarnation, local=engine.store,
        upload=SegmentUploader(bucket_of(engine), node, engine.lifecycle.ctx.scratch),
        fenced=lambda: bool(fenced), on_fenced=(fenced if fenced is not None else []).append,
    )  # fmt: skip
    made.open()
    return made


def poller(engine: Engine) -> ManifestPoller:
    assert engine.query.shared is not None
    return ManifestPoller(bucket_of(engine), engine.lifecycle.ctx.node_id, engine.query.shared)


def manifest(engine: Engine, node: str) -> Manifest:
    key = manifest_key(node)
    return Manifest.from_bytes(key, bucket_of(engine).get(key).data)


def count(engine: Engine, project: str = "p1") -> dict[str, int]:
    return dict(engine.query.run(SpanScope(project), COUNT).to_pylist()[0])


def test_a_flushed_segment_is_uploaded_listed_and_read_by_another_node_but_never_made_its_own(nodes: Any) -> None:
    a, b = nodes("node-a"), nodes("node-b")
    add_segment(a, "p1", "a", 20, now_ms() - DAY_MS)
    publish = publisher(a)

    assert publish.publish() is True
    assert publish.publish() is False  # nothing changed: no upload, no write
    [entry] = a.store.segment_entries()
    key = segment_key("node-a", "p1", entry.id)
    assert (entry.remote_key, entry.checksum) == (key, file_sha256(a.data_dir / entry.path))  # recorded
    listed = manifest(a, "node-a")
    assert (listed.node_id, listed.seq, [s["key"] for s in listed.segments]) == ("node-a", 1, [key])
    assert listed.segments[0]["checksum"] == entry.checksum and listed.segments[0]["row_count"] == 20

    assert count(b) == {"n": 0, "ids": 0}
    assert poller(b).poll() == 1
    assert count(b) == {"n": 20, "ids": 20}
    assert b.query.may_hold_trace("p1", "a-t0") and not b.query.may_hold_trace("p1", "nothing-here")
    extent = b.query.extent("p1")
    assert extent is not None and extent.rows == 20  # newest-first lists size their windows from it

    assert b.store.segment_entries() == []  # never in B's catalog: B's passes cannot touch it
    b.lifecycle.run_all()
    assert bucket_of(b).head(key).size == entry.bytes
    assert count(b) == {"n": 20, "ids": 20}


def test_a_compaction_replaces_the_entries_in_one_write_and_readers_see_each_row_once(nodes: Any) -> None:
    a = nodes("node-a", compaction={"min_segments": 4})
    b = nodes("node-b")
    for k in range(4):
        add_segment(a, "p1", f"c{k}", 10, now_ms() - DAY_MS + k * 60_000)
    publish, poll = publisher(a), poller(b)
    publish.publish()
    before = [s["key"] for s in manifest(a, "node-a").segments]
    poll.poll()
    assert count(b) == {"n": 40, "ids": 40}

    assert a.lifecycle.compact() == 1  # grace 0: the janitor removes the inputs and their bucket copies at once
    assert publish.publish() is True
    after = manifest(a, "node-a")
    assert after.seq == 2 and len(after.segments) == 1 and after.segments[0]["key"] not in before
    assert [m.key for m in bucket_of(a).list("segments/node-a")] == [after.segments[0]["key"]]
    assert poll.poll() == 1
    assert count(b) == {"n": 40, "ids": 40}


def test_an_offloaded_segment_keeps_its_uploaded_copy(nodes: Any) -> None:
    a = nodes("node-a", offload={"hot_window_s": 0})
    add_segment(a, "p1", "o", 10, now_ms() - DAY_MS)
    publish = publisher(a)
    publish.publish()
    [uploaded] = [s["key"] for s in manifest(a, "node-a").segments]
    assert publish.uploaded == 1

    assert a.lifecycle.offload() == 1
    [entry] = a.store.segment_entries()
    assert entry.location == "remote" and entry.remote_key == uploaded  # switched to the copy: no second upload
    assert publish.publish() is True and publish.uploaded == 1
    assert [s["key"] for s in manifest(a, "node-a").segments] == [uploaded]
    assert [m.key for m in bucket_of(a).list("segments/node-a")] == [uploaded]


def test_a_manifest_another_process_wrote_fences_the_node_and_is_left_alone(nodes: Any) -> None:
    a = nodes("node-a")
    fenced: list[str] = []
    publish = publisher(a, fenced=fenced)
    add_segment(a, "p1", "f", 5, now_ms() - DAY_MS)
    publish.publish()
    other = publisher(a, incarnation="01OTHERPROCESS")  # a copy of the data dir, started as node-a too
    add_segment(a, "p1", "g", 5, now_ms() - DAY_MS)
    assert other.publish() is True

    add_segment(a, "p1", "h", 5, now_ms() - DAY_MS)
    assert publish.publish() is False
    assert len(fenced) == 1 and "01OTHERPROCESS" in fenced[0]
    assert manifest(a, "node-a").incarnation == "01OTHERPROCESS"
    assert publish.publish() is False  # fenced: no more writes


def test_a_damaged_manifest_keeps_the_last_list_and_a_removed_one_is_forgotten(nodes: Any) -> None:
    a, b = nodes("node-a"), nodes("node-b")
    add_segment(a, "p1", "d", 10, now_ms() - DAY_MS)
    publisher(a).publish()
    poll = poller(b)
    poll.poll()
    assert count(b)["n"] == 10

    bucket_of(a).put(manifest_key("node-a"), b'{"format": 1, "node_id": "node-a"}')  # fields missing
    assert poll.poll() == 0
    assert count(b)["n"] == 10  # the last list read stays
    bucket_of(a).put(manifest_key("node-a"), b'{"format": 9}')  # a newer Lynex Box's
    assert poll.poll() == 0 and count(b)["n"] == 10

    bucket_of(a).delete(manifest_key("node-a"))
    poll.poll()
    assert count(b)["n"] == 0
