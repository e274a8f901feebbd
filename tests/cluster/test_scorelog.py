"""Scores across nodes (cluster/scorelog.py) over real meta.db files and the real moto server: a node publishes the
scores its WAL applier stored as batches of its own log, another node (which does not hold the metadata lease)
applies them idempotently; a write whose answer was lost, a restart, bad objects and a project the metadata log has
not brought yet."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from lynex_box.auth.admin import create_project
from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.cluster.node import ClusterNode, NodeIdentity
from lynex_box.cluster.observer import ClusterObserver
from lynex_box.cluster.records import encode
from lynex_box.cluster.scorelog import SCORES_PREFIX, ScoreLog, score_key
from lynex_box.config import ClusterSettings
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore, PutResult, StoreUnavailable
from lynex_box.query.shared import SharedSegments
from lynex_box.scores import Score, ScoreBatch, apply_batches
from lynex_box.scores.store import ROW_COLUMNS, apply_shared, peer_seqs

SETTINGS = ClusterSettings(enabled=True, lease_ttl_s=3.0, heartbeat_s=0.5, max_clock_skew_s=0.5)
COLUMNS = ", ".join(ROW_COLUMNS)


def start(store: ObjectStore, db: MetaDB, node_id: str) -> ClusterNode:
    identity = NodeIdentity(node_id, f"http://{node_id}:4318", "0.9.0", "moto://")
    return ClusterNode.start(store, SETTINGS, db, identity, lambda reason: None)


@pytest.fixture
def pair(s3: ObjectStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Node a founds with accounts (and holds every lease), node b joins with an empty data dir."""
    db_a, db_b = MetaDB(tmp_path / "a" / "meta.db"), MetaDB(tmp_path / "b" / "meta.db")
    created = bootstrap_if_empty(db_a)
    assert created is not None
    a = start(s3, db_a, "node-a")
    b = start(s3, db_b, "node-b")
    yield a, b, db_a, db_b, created.project_id
    for node in (b, a):
        node.stop()
    db_a.close()
    db_b.close()


def record(db: MetaDB, lsn: int, project_id: str, received_us: int, *scores: tuple[str, float]) -> None:
    """What the pipeline's applier does in cluster mode with one SCORES record."""
    batch = [Score(id=i, name="quality", data_type="NUMERIC", value=v, string_value=None, timestamp_us=received_us,
                   trace_id="t1") for i, v in scores]  # fmt: skip
    apply_batches(db, [ScoreBatch(lsn, project_id, received_us, batch)], outbox=True)


def rows(db: MetaDB) -> list[tuple[Any, ...]]:
    return db.read(f"SELECT {COLUMNS} FROM scores ORDER BY project_id, id")


def logs(a: ClusterNode, b: ClusterNode) -> tuple[ScoreLog, ScoreLog]:
    assert a.scores is not None and b.scores is not None
    return a.scores, b.scores


def test_published_scores_are_applied_once_on_the_other_node(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, project = pair
    log_a, log_b = logs(a, b)
    assert b.holds("metadata") is None  # b's writes of scores are not metadata writes: its hook lets them through
    record(db_a, 1, project, 1_000, ("s1", 0.5), ("s2", 1.0))
    assert log_a.publish() == 1 and log_a.publish() == 0
    doc = json.loads(s3.get(score_key("node-a", 1)).data)
    assert (doc["format"], doc["node_id"], doc["seq"], len(doc["rows"])) == (1, "node-a", 1, 2)
    assert doc["incarnation"] == a.heartbeat.incarnation
    assert db_a.read("SELECT count(*) FROM scores_outbox")[0][0] == 0
    assert log_b.poll() == 1 and log_b.poll() == 0
    assert rows(db_b) == rows(db_a) and len(rows(db_b)) == 2
    # a correction of s1 (same id, received later) replaces it everywhere
    record(db_a, 2, project, 2_000, ("s1", 0.9))
    assert log_a.publish() == 1 and log_b.poll() == 1
    assert rows(db_b) == rows(db_a)
    assert db_b.read("SELECT value FROM scores WHERE id = 's1'")[0][0] == 0.9
    # a batch applied again changes nothing; an older copy of a row never replaces a newer one
    assert apply_shared(db_b, "node-a", 2, []) is False
    stale = list(rows(db_a)[0])
    stale[ROW_COLUMNS.index("value")], stale[ROW_COLUMNS.index("updated_at")] = 0.1, 1_500
    assert apply_shared(db_b, "node-z", 1, [tuple(stale)]) is True
    assert rows(db_b) == rows(db_a)
    # and b's own scores travel the other way
    record(db_b, 1, project, 3_000, ("s3", 0.0))
    assert log_b.publish() == 1 and log_a.poll() == 1
    assert rows(db_a) == rows(db_b) and len(rows(db_a)) == 3


class LostAnswers:
    """The bucket is down (`down` set), or stores a create-only write and the answer is lost once (`lose` set)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.lose = False
        self.down = False

    def put_if_absent(self, key: str, data: bytes) -> PutResult:
        if self.down:
            raise StoreUnavailable("the bucket is down")
        result = self.inner.put_if_absent(key, data)
        if self.lose:
            self.lose = False
            raise StoreUnavailable("the answer was lost")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_outage_a_lost_answer_and_a_restart_lose_nothing_and_skip_no_seq(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, project = pair
    _log_a, log_b = logs(a, b)
    lossy = LostAnswers(s3)
    log_a = ScoreLog(lossy, db_a, "node-a", "incarnation-1")  # type: ignore[arg-type]
    record(db_a, 1, project, 1_000, ("s1", 0.5))
    lossy.down = True  # an outage: nothing written, the scores stay queued
    assert log_a.publish_logged() == 0 and s3.list(f"{SCORES_PREFIX}/node-a/") == []
    lossy.down, lossy.lose = False, True
    assert log_a.publish_logged() == 0  # written, but this process does not know: the scores stay queued
    assert db_a.read("SELECT count(*) FROM scores_outbox")[0][0] == 1
    # the next process (a restart on the same data dir) finds seq 1 taken and writes the rows again as seq 2
    restarted = ScoreLog(s3, db_a, "node-a", "incarnation-2")
    assert restarted.publish() == 1
    assert [m.key for m in s3.list(f"{SCORES_PREFIX}/node-a/")] == [score_key("node-a", 1), score_key("node-a", 2)]
    record(db_a, 2, project, 2_000, ("s2", 0.7))
    assert ScoreLog(s3, db_a, "node-a", "incarnation-3").publish() == 1
    assert peer_seqs(db_a)["node-a"] == 3
    assert log_b.poll() == 3 and peer_seqs(db_b)["node-a"] == 3
    assert rows(db_b) == rows(db_a) and len(rows(db_b)) == 2


def test_bad_objects_are_logged_and_skipped_a_newer_format_waits(
    pair, s3: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, project = pair
    log_a, log_b = logs(a, b)
    s3.put_if_absent(score_key("node-a", 1), b"not json")
    record(db_a, 1, project, 1_000, ("s1", 0.5))
    assert log_a.publish() == 1  # steps past the taken seq 1
    good = list(rows(db_a)[0])
    bad_rows = [
        {**dict(zip(ROW_COLUMNS, good, strict=True)), "id": "s9", "value": "high"},  # a wrong type
        {"project_id": project, "id": "s8", "name) VALUES (1); DROP TABLE scores; --": 1},  # an unknown column
        {**dict(zip(ROW_COLUMNS, good, strict=True)), "id": "s7", "data_type": "EVIL"},
        {**dict(zip(ROW_COLUMNS, good, strict=True)), "id": "s6"},  # a good one
    ]
    s3.put_if_absent(
        score_key("node-a", 3), encode({"node_id": "node-a", "incarnation": "x", "seq": 3, "rows": bad_rows})
    )
    s3.put_if_absent(score_key("node-a", 4), encode({"node_id": "node-b", "incarnation": "x", "seq": 4, "rows": []}))
    s3.put_if_absent(score_key("node-a", 5), json.dumps({"format": 99, "node_id": "node-a", "seq": 5}).encode())
    s3.put_if_absent(score_key("node-a", 6), encode({"node_id": "node-a", "incarnation": "x", "seq": 6, "rows": []}))
    with caplog.at_level(logging.WARNING, logger="lynex.cluster.scores"):
        assert log_b.poll() == 4  # 1 (skipped), 2, 3 (one good row), 4 (another node's: skipped); 5 waits
        assert log_b.poll() == 0
    assert peer_seqs(db_b)["node-a"] == 4
    assert sorted(r[1] for r in rows(db_b)) == ["s1", "s6"]
    text = caplog.text
    assert "is not JSON" in text and "'value'" in text and "unknown columns" in text and "data_type" in text
    assert "batch 4 of node 'node-b'" in text and "until this node is upgraded" in text


def test_a_batch_waits_for_its_project_to_arrive_through_the_metadata_log(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, project = pair
    log_a, log_b = logs(a, b)
    org = db_a.read("SELECT org_id FROM projects WHERE id = ?", (project,))[0][0]
    newer = create_project(db_a, "second", org)  # on the holder: b has not polled the log yet
    record(db_a, 1, newer, 1_000, ("s1", 0.5))
    assert log_a.publish() == 1
    assert log_b.poll() == 0 and rows(db_b) == []
    assert b.meta is not None and b.meta.poll() >= 1
    assert log_b.poll() == 1 and rows(db_b) == rows(db_a)


def test_scores_recorded_before_cluster_mode_are_shared_on_the_first_start(s3: ObjectStore, tmp_path: Path) -> None:
    db_a, db_b = MetaDB(tmp_path / "a" / "meta.db"), MetaDB(tmp_path / "b" / "meta.db")
    created = bootstrap_if_empty(db_a)
    assert created is not None
    batch = [Score(id="old", name="quality", data_type="NUMERIC", value=1.0, string_value=None, timestamp_us=5)]
    apply_batches(db_a, [ScoreBatch(1, created.project_id, 5, batch)])  # a single node: nothing queued
    assert db_a.read("SELECT count(*) FROM scores_outbox")[0][0] == 0
    a = start(s3, db_a, "node-a")  # its first start in a cluster queues and publishes them
    b = start(s3, db_b, "node-b")  # and a joining node applies them before it serves
    try:
        assert rows(db_b) == rows(db_a) and len(rows(db_b)) == 1
        a.stop()
        a = start(s3, db_a, "node-a")  # once per data dir: nothing is queued again
        assert [m.key for m in s3.list(f"{SCORES_PREFIX}/node-a/")] == [score_key("node-a", 1)]
    finally:
        for node in (b, a):
            node.stop()
        db_a.close()
        db_b.close()


def test_a_read_only_node_applies_the_score_logs_and_publishes_nothing(pair, s3: ObjectStore) -> None:  # type: ignore[no-untyped-def]
    a, b, db_a, db_b, project = pair
    log_a, _log_b = logs(a, b)
    b.stop()  # node-b comes back read-only on its data dir
    observer = ClusterObserver.start(
        s3, SETTINGS, db_b, NodeIdentity("node-b", "http://node-b:4318", "0.9.0", "moto://"), SharedSegments()
    )
    assert "cluster_scores_poll" in {job.id for job in observer.jobs()}
    record(db_a, 1, project, 1_000, ("s1", 0.5))
    assert log_a.publish() == 1
    assert observer.scores.poll() == 1 and rows(db_b) == rows(db_a)
    record(db_b, 1, project, 2_000, ("local", 0.1))  # even a score in its queue is never published by it
    assert observer.scores.publish() == 0 and s3.list(f"{SCORES_PREFIX}/node-b/") == []
