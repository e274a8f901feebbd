"""Founding: the pure found/join/member/refuse rule for every case of docs/format/cluster.md, and `settle` on the
real S3 server (the founding record written once, a lost founding race turned into a join), with meta.db's side."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.cluster import Action, ClusterMismatch, FoundingRecord, NewerFormat, decide, settle
from lynex_box.cluster.founding import data_dir_is_empty, local_cluster_id, read_founding, remember_cluster_id
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from tests.cluster.conftest import T0, FakeClock

RECORD = FoundingRecord("cl-01KBFOUNDED", T0, "node-first")


def test_no_record_and_a_data_dir_of_no_cluster_founds() -> None:
    assert decide(None, None, data_dir_empty=False, node_id="node-a") is Action.FOUND
    assert decide(None, None, data_dir_empty=True, node_id="node-a") is Action.FOUND


def test_a_record_and_an_empty_data_dir_of_no_cluster_joins() -> None:
    assert decide(RECORD, None, data_dir_empty=True, node_id="node-b") is Action.JOIN


def test_a_data_dir_of_this_cluster_is_a_member() -> None:
    assert decide(RECORD, "cl-01KBFOUNDED", data_dir_empty=False, node_id="node-b") is Action.MEMBER


def test_a_data_dir_of_another_cluster_is_refused_naming_both_ids() -> None:
    with pytest.raises(ClusterMismatch) as info:
        decide(RECORD, "cl-01KBOTHER", data_dir_empty=False, node_id="node-b")
    message = str(info.value)
    assert "cl-01KBOTHER" in message and "cl-01KBFOUNDED" in message
    assert "empty data dir" in message and "prefix" in message


def test_a_data_dir_with_accounts_of_its_own_is_refused() -> None:
    with pytest.raises(ClusterMismatch) as info:
        decide(RECORD, None, data_dir_empty=False, node_id="node-b")
    assert "users or projects of its own" in str(info.value)
    assert "cl-01KBFOUNDED" in str(info.value)


def test_a_data_dir_of_a_cluster_whose_record_is_missing_is_refused() -> None:
    with pytest.raises(ClusterMismatch) as info:
        decide(None, "cl-01KBGONE", data_dir_empty=False, node_id="node-a")
    assert "cl-01KBGONE" in str(info.value) and "cluster/cluster.json" in str(info.value)
    assert "[bucket] bucket and prefix" in str(info.value)


def test_the_founder_completes_a_founding_interrupted_before_it_remembered_the_id() -> None:
    assert decide(RECORD, None, data_dir_empty=False, node_id="node-first") is Action.FOUND
    assert decide(RECORD, None, data_dir_empty=True, node_id="node-first") is Action.JOIN  # its disk was replaced


def test_settle_founds_once_then_the_next_nodes_join_or_come_back(s3: ObjectStore, clock: FakeClock) -> None:
    founded = settle(s3, node_id="node-a", local_id=None, data_dir_empty=False, clock=clock)
    assert founded.action is Action.FOUND
    assert founded.record.cluster_id.startswith("cl-") and founded.record.founder == "node-a"
    assert founded.record.founded_at == clock.now
    assert read_founding(s3) == founded.record

    joined = settle(s3, node_id="node-b", local_id=None, data_dir_empty=True)
    assert (joined.action, joined.record) == (Action.JOIN, founded.record)
    back = settle(s3, node_id="node-a", local_id=founded.record.cluster_id, data_dir_empty=False)
    assert (back.action, back.record) == (Action.MEMBER, founded.record)
    with pytest.raises(ClusterMismatch):
        settle(s3, node_id="node-c", local_id=None, data_dir_empty=False)


def test_two_nodes_founding_at_once_make_one_cluster(s3: ObjectStore) -> None:
    start = threading.Barrier(2)
    outcomes = {}

    def node(name: str) -> None:
        start.wait()
        outcomes[name] = settle(s3, node_id=name, local_id=None, data_dir_empty=True)

    threads = [threading.Thread(target=node, args=(name,)) for name in ("node-a", "node-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o.action.value for o in outcomes.values()) == ["found", "join"]
    assert len({o.record.cluster_id for o in outcomes.values()}) == 1
    assert read_founding(s3) == outcomes["node-a"].record


def test_a_founding_record_of_a_newer_format_is_refused_naming_both_versions(s3: ObjectStore) -> None:
    s3.put("cluster/cluster.json", b'{"format": 2, "cluster_id": "cl-x", "founded_at": 1, "founder": "n"}')
    with pytest.raises(NewerFormat) as info:
        settle(s3, node_id="node-a", local_id=None, data_dir_empty=True)
    assert "cluster/cluster.json has format 2" in str(info.value) and "format 1" in str(info.value)


def test_meta_db_remembers_the_cluster_id_and_knows_an_empty_data_dir(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    try:
        assert local_cluster_id(db) is None
        assert data_dir_is_empty(db)
        remember_cluster_id(db, "cl-01KBFOUNDED")
        assert local_cluster_id(db) == "cl-01KBFOUNDED"
        bootstrap_if_empty(db)  # what `lynex-box init` creates: an org, a project, an admin user, a key
        assert not data_dir_is_empty(db)
    finally:
        db.close()
