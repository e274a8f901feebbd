"""`ClusterNode`: the start-up sequence over a real meta.db and an in-memory store that honours conditional writes,
singleton jobs that run only under their lease, a fenced node that drops its leases and tells the app, and a stop
that hands the leases over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lynex_box.auth.bootstrap import bootstrap_if_empty
from lynex_box.cluster import JOBS, ClusterMismatch
from lynex_box.cluster.founding import local_cluster_id
from lynex_box.cluster.node import SINGLETON_JOBS, ClusterNode, NodeIdentity
from lynex_box.cluster.records import node_key
from lynex_box.config import ClusterSettings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import MemoryStore

SETTINGS = ClusterSettings(enabled=True, lease_ttl_s=3.0, heartbeat_s=0.5, max_clock_skew_s=0.5)


def meta(path: Path, *, accounts: bool) -> MetaDB:
    db = MetaDB(path / "meta.db")
    if accounts:
        bootstrap_if_empty(db)
    return db


def start(store: MemoryStore, db: MetaDB, node_id: str, fenced: list[str] | None = None) -> ClusterNode:
    identity = NodeIdentity(node_id, f"http://{node_id}:4318", "0.9.0", "memory://")
    return ClusterNode.start(store, SETTINGS, db, identity, (fenced if fenced is not None else []).append)


def turns(node: ClusterNode, ran: list[str]) -> list[Job]:
    """Every singleton job id and one other job, guarded by `node`; each turn appends its id to `ran`."""

    def job(job_id: str) -> Job:
        async def run() -> None:
            ran.append(job_id)

        return Job(job_id, run, 1.0)

    return node.guard([job(job_id) for job_id in [*SINGLETON_JOBS, "lifecycle_compaction"]])


def run_turns(jobs: list[Job]) -> None:
    async def each() -> None:
        for job in jobs:
            await job.run()

    asyncio.run(each())


def test_the_founder_takes_the_leases_and_runs_the_singleton_jobs_a_joiner_does_not(tmp_path: Path) -> None:
    store = MemoryStore()
    a_db, b_db = meta(tmp_path / "a", accounts=True), meta(tmp_path / "b", accounts=False)
    try:
        a = start(store, a_db, "node-a")
        b = start(store, b_db, "node-b")
        assert local_cluster_id(a_db) == local_cluster_id(b_db) == a.cluster_id
        assert a.keeper.held_jobs() == sorted(JOBS) and b.keeper.held_jobs() == []
        ran_a: list[str] = []
        ran_b: list[str] = []
        run_turns(turns(a, ran_a))
        run_turns(turns(b, ran_b))
        assert ran_a == [*SINGLETON_JOBS, "lifecycle_compaction"]
        assert ran_b == ["lifecycle_compaction"]  # the node's own work runs everywhere

        a.stop()  # released: b takes them at its next tick
        b.keeper.tick()
        assert b.keeper.held_jobs() == sorted(JOBS)
        ran_b.clear()
        run_turns(turns(b, ran_b))
        assert ran_b == [*SINGLETON_JOBS, "lifecycle_compaction"]
        b.stop()
    finally:
        a_db.close()
        b_db.close()


def test_a_data_dir_with_accounts_of_its_own_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = MemoryStore()
    a_db, b_db = meta(tmp_path / "a", accounts=True), meta(tmp_path / "b", accounts=True)
    try:
        start(store, a_db, "node-a").stop()
        with pytest.raises(ClusterMismatch, match="users or projects of its own"):
            start(store, b_db, "node-b")
        assert local_cluster_id(b_db) is None
        assert [meta.key for meta in store.list("cluster/nodes")] == [node_key("node-a")]
    finally:
        a_db.close()
        b_db.close()


def test_a_fenced_node_drops_its_leases_and_tells_the_app(tmp_path: Path) -> None:
    store = MemoryStore()
    db = meta(tmp_path / "a", accounts=True)
    fenced: list[str] = []
    try:
        node = start(store, db, "node-a", fenced)
        assert node.holds("alerts") is not None
        other = store.get(node_key("node-a")).data.replace(node.heartbeat.incarnation.encode(), b"01OTHERPROCESS")
        store.put(node_key("node-a"), other)  # another process writes this node id's heartbeat

        assert node.heartbeat.beat() is False
        assert len(fenced) == 1 and "01OTHERPROCESS" in fenced[0] and node.fenced == fenced[0]
        assert node.holds("alerts") is None and node.keeper.held_jobs() == []
        ran: list[str] = []
        run_turns(turns(node, ran))
        assert ran == ["lifecycle_compaction"]
        node.stop()  # writes nothing once fenced: the other process's heartbeat stays
        assert b"01OTHERPROCESS" in store.get(node_key("node-a")).data
    finally:
        db.close()
