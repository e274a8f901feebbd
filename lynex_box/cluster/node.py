"""`ClusterNode`: this process as a node of the cluster, one component built by app.py when `[cluster] enabled`.

`start` runs the start-up checks in the order docs/format/cluster.md gives them: prove the store's conditional
writes, settle founding (found, join, or refuse), remember the cluster id in meta.db, claim the node id (refusing
when another live process writes its heartbeat), then take the free leases. Each refusal is a `ClusterError` whose
message names the values and carries a hint; nothing is left running when one is raised. `jobs()` declares the
heartbeat and the lease keeper's ticks (blocking store calls, run in threads); `holds(job)` is what a singleton job
asks before each turn. `stop()` releases the leases first, then writes the stopped heartbeat, so other nodes take
the leases at their next tick and count this node down at once.

When another process turns out to write this node's heartbeat, the node is fenced: the keeper drops every lease
without writing, and `on_fenced(reason)` tells the app, which stops serving. That callback runs on the thread
that found out and must not call back into this component.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from lynex_box.cluster.founding import (
    Action,
    data_dir_is_empty,
    local_cluster_id,
    remember_cluster_id,
    settle,
)
from lynex_box.cluster.heartbeat import HeartbeatWriter
from lynex_box.cluster.keeper import LeaseKeeper
from lynex_box.cluster.probe import probe_conditional_writes
from lynex_box.cluster.records import new_incarnation
from lynex_box.cluster.status import ClusterStatus, cluster_status
from lynex_box.config import ClusterSettings, Settings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore

log = logging.getLogger("lynex.cluster")

OnFenced = Callable[[str], None]

# The scheduled jobs that run on one node of the cluster at a time, by job id, and the lease each runs under: a turn
# on a node that does not hold the lease does nothing. The lifecycle's passes are not here: each node compacts,
# expires, offloads and backs up its own segments and meta.db (docs/format/cluster.md), so each runs its own.
SINGLETON_JOBS: Final = {"alerts": "alerts"}


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """Who this node is to the others: its id (`[bucket] node_id` or the one kept in meta.db), the URL they reach
    it at (`[cluster] advertise_url`), the version it runs, and the store's endpoint (named in refusals)."""

    node_id: str
    address: str
    version: str
    endpoint: str

    @classmethod
    def of(cls, settings: Settings, node_id: str, version: str) -> NodeIdentity:
        server, bucket = settings.server, settings.bucket
        address = settings.cluster.advertise_url or f"http://{server.host}:{server.port}"
        endpoint = bucket.endpoint or f"s3://{bucket.bucket}"
        return cls(node_id, address, version, f"{endpoint} (bucket {bucket.bucket!r}, prefix {bucket.prefix!r})")


class ClusterNode:
    """Built by `ClusterNode.start`; thread-safe."""

    def __init__(
        self,
        store: ObjectStore,
        settings: ClusterSettings,
        identity: NodeIdentity,
        cluster_id: str,
        on_fenced: OnFenced,
    ) -> None:
        self.store = store
        self.settings = settings
        self.identity = identity
        self.cluster_id = cluster_id
        self._on_fenced = on_fenced
        incarnation = new_incarnation()
        self.heartbeat = HeartbeatWriter(
            store, node_id=identity.node_id, version=identity.version, address=identity.address,
            lease_ttl_s=settings.lease_ttl_s, max_clock_skew_s=settings.max_clock_skew_s, incarnation=incarnation,
            leases=lambda: self.keeper.held_jobs(), on_fenced=self._fenced,
        )  # fmt: skip
        self.keeper = LeaseKeeper(
            store, holder=identity.node_id, incarnation=incarnation, ttl_s=settings.lease_ttl_s,
            max_clock_skew_s=settings.max_clock_skew_s, may_take=self.heartbeat.clock_ok,
        )  # fmt: skip

    @classmethod
    def start(
        cls, store: ObjectStore, settings: ClusterSettings, db: MetaDB, identity: NodeIdentity, on_fenced: OnFenced
    ) -> ClusterNode:
        """Check, settle and claim (blocking; up to `lease_ttl_s` when this node id's last heartbeat is fresh,
        as after a crash). Raises a `ClusterError` when the node must not start."""
        probe_conditional_writes(store, identity.node_id, endpoint=identity.endpoint)
        outcome = settle(
            store, node_id=identity.node_id, local_id=local_cluster_id(db), data_dir_empty=data_dir_is_empty(db)
        )
        cluster_id = outcome.record.cluster_id
        if outcome.action is Action.JOIN:
            # metadata replication (step 3 of docs/format/cluster.md) is not built: nothing to bootstrap from yet
            log.warning(
                "cluster joined cluster_id=%s node_id=%s: this node has no users, projects or keys of its own until "
                "metadata replication exists; see docs/cluster.md",
                cluster_id, identity.node_id,
            )  # fmt: skip
        remember_cluster_id(db, cluster_id)
        node = cls(store, settings, identity, cluster_id, on_fenced)
        # a process killed moments ago left a fresh heartbeat: watch it age rather than refuse at once
        node.heartbeat.claim(wait_s=settings.lease_ttl_s)
        try:
            node.keeper.tick()  # take the free leases now, not a tick later
        except BaseException:
            node.stop()
            raise
        log.info(
            "cluster node started cluster_id=%s node_id=%s action=%s leases=%s",
            cluster_id, identity.node_id, outcome.action.value, ",".join(node.keeper.held_jobs()) or "-",
        )  # fmt: skip
        return node

    def holds(self, job: str) -> int | None:
        """The generation at which this node holds `job`'s lease, or None: then the job must not run."""
        return self.keeper.holds(job)

    def guard(self, jobs: list[Job]) -> list[Job]:
        """`jobs` with each singleton job (`SINGLETON_JOBS`) made to skip its turns while this node does not hold
        its lease; the others as they are."""
        return [self._under_lease(job, SINGLETON_JOBS[job.id]) if job.id in SINGLETON_JOBS else job for job in jobs]

    def _under_lease(self, job: Job, lease: str) -> Job:
        async def run() -> object:
            if self.keeper.holds(lease) is None:
                return None  # another node holds the lease and runs this turn
            return await job.run()

        return Job(job.id, run, job.every_s)

    @property
    def fenced(self) -> str | None:
        return self.heartbeat.fenced

    def jobs(self) -> list[Job]:
        """The heartbeat every `heartbeat_s`; the lease keeper's tick (renew, take) every `lease_ttl_s / 6`, so a
        renewal is due at most a sixth of the ttl late."""
        s = self.settings
        return [
            Job.blocking("cluster_heartbeat", self.heartbeat.beat, s.heartbeat_s),
            Job.blocking("cluster_leases", self.keeper.tick, s.lease_ttl_s / 6),
        ]

    def status(self) -> ClusterStatus:
        """The nodes and leases as `lynex-box cluster status` shows them (blocking: reads the bucket)."""
        return cluster_status(self.store, lease_ttl_s=self.settings.lease_ttl_s)

    def _fenced(self, reason: str) -> None:
        self.keeper.fence(reason)
        self._on_fenced(reason)

    def stop(self) -> None:
        """Release the leases, then write the stopped heartbeat (nothing is written once fenced)."""
        self.keeper.stop(release=True)
        self.heartbeat.stop()
