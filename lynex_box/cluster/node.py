"""`ClusterNode`: this process as a node of the cluster, one component built by app.py when `[cluster] enabled`.

`start` runs the start-up checks in the order docs/format/cluster.md gives them: prove the store's conditional
writes, settle founding (found, join, or refuse), remember the cluster id in meta.db, claim the node id (refusing
when another live process writes its heartbeat), then take the free leases. Each refusal is a `ClusterError` whose
message names the values and carries a hint; nothing is left running when one is raised. `jobs()` declares the
heartbeat and the lease keeper's ticks (blocking store calls, run in threads); `holds(job)` is what a singleton job
asks before each turn. With `SegmentSharing` (step 2) the node also publishes its segments (`publisher.py`: upload,
then its manifest) and reads the other nodes' manifests into the query engine's `SharedSegments` (`poller.py`);
with the lifecycle's merge and drop it takes part in cross-node compaction (`compactor.py`).
Given meta.db, it keeps it in step with the metadata log (`meta`, a `MetaReplicator`, step 3): a founding node
writes the cluster secret and snapshot 0, a joining node loads the newest snapshot before serving, and a job polls
the log; the `metadata` lease holder publishes its own writes from meta.db's before-commit hook.
Given meta.db, it also shares scores (`scores`, a `ScoreLog`): it publishes those recorded through its own WAL and
applies the other nodes'.
`metadata_holder()` says where metadata writes go (this node, or the `metadata` lease holder's address:
`holder.py`; api/forward.py forwards them). `stop()` flushes the head and publishes it, releases the leases, then
writes the stopped heartbeat, so the other nodes see every event this node acknowledged, take the leases at their
next tick and count this node down at once.

When another process turns out to write this node's heartbeat (or its manifest), the node is fenced: the keeper
drops every lease without writing, nothing more is published, and `on_fenced(reason)` tells the app, which stops
serving. That callback runs on the thread that found out and must not call back into this component.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from lynex_box.cluster.compactor import CrossCompactor, Merge, ReplacedRequests
from lynex_box.cluster.founding import (
    Action,
    data_dir_is_empty,
    local_cluster_id,
    remember_cluster_id,
    settle,
)
from lynex_box.cluster.heartbeat import HeartbeatWriter
from lynex_box.cluster.holder import HolderLookup
from lynex_box.cluster.keeper import LeaseKeeper
from lynex_box.cluster.metalog import write_state
from lynex_box.cluster.poller import ManifestPoller
from lynex_box.cluster.probe import probe_conditional_writes
from lynex_box.cluster.publisher import LocalSegments, SegmentPublisher, Uploader, publish_logged
from lynex_box.cluster.records import ClusterError, new_incarnation
from lynex_box.cluster.replicator import MetaReplicator
from lynex_box.cluster.scorelog import ScoreLog
from lynex_box.cluster.secret import ensure_secret
from lynex_box.cluster.status import ClusterStatus, cluster_status
from lynex_box.config import ClusterSettings, CompactionSettings, Settings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from lynex_box.query.shared import SharedSegments
from lynex_box.segments.keywrap import Kek

log = logging.getLogger("lynex.cluster")

OnFenced = Callable[[str], None]

# The scheduled jobs that run on one node of the cluster at a time, by job id, and the lease each runs under: a turn
# on a node that does not hold the lease does nothing. The lifecycle's passes are not here: each node compacts,
# expires, offloads and backs up its own segments and meta.db (docs/format/cluster.md), so each runs its own.
SINGLETON_JOBS: Final = {"alerts": "alerts", "usage_close": "retention", "monitors": "alerts"}  # job id -> its lease
# (synthetic monitors run where alerts do; `usage_close` emits the usage_day_closed topic once for the cluster,
# lifecycle/usage_close.py: the `retention` lease is otherwise unused, since each node expires its own segments)
# How often the publisher looks for a change in the node's segments: a look costs no request when nothing changed,
# and a flushed segment is uploaded at most this long after it was published locally. The looks run on a thread of
# their own (`cluster-publish`), one after the other: an upload that takes longer than this only delays the next.
PUBLISH_EVERY_S: Final = 0.25
# How long a node trusts what it read of the `metadata` lease holder before reading the lease again (a failed
# forward reads it again at once): forwarded writes cost no bucket request most of the time.
HOLDER_CACHE_S: Final = 1.0
# How often the scores this node applied are published to its score log (scorelog.py): a turn with nothing queued
# costs one SQLite read and no request.
SCORES_PUBLISH_EVERY_S: Final = 0.5


@dataclass(frozen=True, slots=True)
class SegmentSharing:
    """What step 2 takes from the storage stack: the node's own segments (the span store), the verified upload of
    one (lifecycle/bucket.py `SegmentUploader`), the registry the query engine reads other nodes' segments from,
    and the engine's flush (the head is published before a clean stop's last manifest)."""

    local: LocalSegments
    upload: Uploader
    shared: SharedSegments
    flush: Callable[[], object]
    # cross-node compaction (compactor.py): the lifecycle's merge and drop, and how segments are grouped; without
    # them, or with `[cluster] compactable_after_s = 0`, no segment is handed over and each node compacts its own
    merge: Merge | None = None
    drop: Callable[[set[str]], int] | None = None
    compaction: CompactionSettings | None = None


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
        sharing: SegmentSharing | None = None,
        db: MetaDB | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.identity = identity
        self.cluster_id = cluster_id
        self.sharing = sharing
        self._on_fenced = on_fenced
        self._fence_lock = threading.Lock()
        self._fenced_by: str | None = None  # why, once another process was found writing this node's objects
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
        self.publisher: SegmentPublisher | None = None
        self.poller: ManifestPoller | None = None
        self.compactor: CrossCompactor | None = None
        self.replaced: ReplacedRequests | None = None
        if sharing is not None:
            crossing = sharing.merge is not None and sharing.drop is not None and sharing.compaction is not None
            self.publisher = SegmentPublisher(
                store, node_id=identity.node_id, incarnation=incarnation, local=sharing.local, upload=sharing.upload,
                fenced=lambda: self.fenced is not None, on_fenced=self._fenced,
                handoff_after_s=settings.handoff_after_s() if crossing else None, shared=sharing.shared,
            )  # fmt: skip
            self.poller = ManifestPoller(store, identity.node_id, sharing.shared)
            if crossing and settings.handoff_after_s() is not None:
                assert sharing.merge is not None and sharing.drop is not None and sharing.compaction is not None
                self.compactor = CrossCompactor(
                    store, node_id=identity.node_id, holds=self.holds_unfenced, publisher=self.publisher,
                    merge=sharing.merge, settings=sharing.compaction,
                )  # fmt: skip
                self.replaced = ReplacedRequests(
                    store, node_id=identity.node_id, shared=sharing.shared, local=sharing.local, drop=sharing.drop
                )
        self._metadata_holder = HolderLookup(
            store, "metadata", lease_ttl_s=settings.lease_ttl_s, cache_s=min(HOLDER_CACHE_S, settings.lease_ttl_s / 6)
        )
        self._stopping = threading.Event()
        self._publishing: threading.Thread | None = None
        # the metadata log (step 3): applied on every node, written by the `metadata` lease holder
        self.meta: MetaReplicator | None = None
        if db is not None:
            self.meta = MetaReplicator(
                store, db, identity.node_id, lambda: self.keeper.holds("metadata"), settings.snapshot_every
            )
        # scores: each node publishes those it applied from its own WAL and applies the others' (scorelog.py)
        self.scores: ScoreLog | None = None
        if db is not None:
            self.scores = ScoreLog(store, db, identity.node_id, incarnation, fenced=lambda: self.fenced is not None)

    @classmethod
    def start(
        cls,
        store: ObjectStore,
        settings: ClusterSettings,
        db: MetaDB,
        identity: NodeIdentity,
        on_fenced: OnFenced,
        sharing: SegmentSharing | None = None,
        kek: Kek | None = None,
    ) -> ClusterNode:
        """Check, settle and claim (blocking; up to `lease_ttl_s` when this node id's last heartbeat is fresh,
        as after a crash), bring meta.db up to the metadata log (a joining node loads the newest snapshot first),
        then read the manifests. Raises a `ClusterError` when the node must not start. `kek` seals the cluster
        secret a founding node generates."""
        probe_conditional_writes(store, identity.node_id, endpoint=identity.endpoint)
        outcome = settle(
            store, node_id=identity.node_id, local_id=local_cluster_id(db), data_dir_empty=data_dir_is_empty(db)
        )
        cluster_id = outcome.record.cluster_id
        if outcome.action is Action.FOUND:  # the cluster secret, and this data dir's metadata as the log's start
            db.write(lambda conn: (ensure_secret(conn, kek), write_state(conn, 0)))
        remember_cluster_id(db, cluster_id)
        node = cls(store, settings, identity, cluster_id, on_fenced, sharing, db)
        # a process killed moments ago left a fresh heartbeat: watch it age rather than refuse at once
        node.heartbeat.claim(wait_s=settings.lease_ttl_s)
        try:
            node.keeper.tick()  # take the free leases now, not a tick later
            node._start_meta(outcome.action)
            if node.scores is not None:  # the previous process's queue, and the other nodes' scores, before serving
                node.scores.open()
                node.scores.publish_logged()
                node.scores.poll_logged()
            if node.publisher is not None and node.poller is not None:
                node.publisher.open()  # the next manifest replaces the previous process's
                node.poller.poll()  # the other nodes' data is queryable from the first request
                node._publishing = threading.Thread(target=node._publish_loop, name="cluster-publish", daemon=True)
                node._publishing.start()
        except BaseException:
            node.stop()
            raise
        log.info(
            "cluster node started cluster_id=%s node_id=%s action=%s leases=%s",
            cluster_id, identity.node_id, outcome.action.value, ",".join(node.keeper.held_jobs()) or "-",
        )  # fmt: skip
        return node

    def _start_meta(self, action: Action) -> None:
        """Install the capture, write the founding snapshot, and catch up with the log before serving: a joining
        node waits up to `lease_ttl_s` for the founder's first snapshot."""
        meta = self.meta
        assert meta is not None
        meta.install()
        if action is Action.FOUND:
            meta.write_snapshot()  # seq 0: what a joining node loads
        deadline = time.monotonic() + self.settings.lease_ttl_s
        meta.poll()
        while meta.applied_seq < 0:
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"this node has no copy of the cluster's metadata and the bucket holds no snapshot to load "
                    f"({self.identity.endpoint})",
                    hint="start the founding node (it writes the first snapshot), then this one again",
                )
            time.sleep(0.5)
            meta.poll()
        log.info("cluster metadata up to date seq=%d action=%s", meta.applied_seq, action.value)

    def holds(self, job: str) -> int | None:
        """The generation at which this node holds `job`'s lease, or None: then the job must not run."""
        return self.keeper.holds(job)

    def metadata_holder(self) -> tuple[str, str] | None:
        """The node id and address of the `metadata` lease holder (this node when it holds it), or None when no
        live node holds it. Blocking (reads the bucket when the cached answer is older than `HOLDER_CACHE_S`)."""
        if self.keeper.holds("metadata") is not None:
            return self.identity.node_id, self.identity.address
        holder = self._metadata_holder.find()
        if holder is None or holder.node_id == self.identity.node_id:  # our own lease, expired here: not ours now
            return None
        return holder.node_id, holder.address

    def forget_metadata_holder(self) -> None:
        """A forward to the holder failed: the next `metadata_holder()` reads the bucket again."""
        self._metadata_holder.forget()

    def holds_unfenced(self, job: str) -> int | None:
        """`holds(job)`, None once this node is fenced (its writes are no longer its own)."""
        return None if self.fenced is not None else self.keeper.holds(job)

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
        """Why this node was fenced (another process writes its heartbeat or its manifest), or None."""
        return self._fenced_by or self.heartbeat.fenced

    def jobs(self) -> list[Job]:
        """The heartbeat every `heartbeat_s`; the lease keeper's tick (renew, take) every `lease_ttl_s / 6`, so a
        renewal is due at most a sixth of the ttl late; with segment sharing, a poll of the manifests every
        `poll_interval_s` (the publisher has a thread of its own: `PUBLISH_EVERY_S`); with cross-node compaction, a
        turn of the compactor (it merges only while this node holds the `compaction` lease) and an answer to the
        lease holder's drop requests, each every `compaction_interval_s`; with meta.db, the score log's publish
        (`SCORES_PUBLISH_EVERY_S`) and poll (`poll_interval_s`); none once fenced."""
        s = self.settings
        jobs = [
            Job.blocking("cluster_heartbeat", self.heartbeat.beat, s.heartbeat_s),
            Job.blocking("cluster_leases", self.keeper.tick, s.lease_ttl_s / 6),
        ]
        if self.poller is not None:
            jobs.append(Job.blocking("cluster_poll", self.poller.poll, s.poll_interval_s))
        if self.meta is not None:
            jobs.append(Job.blocking("cluster_meta", self.meta.poll_logged, s.poll_interval_s))
        if self.scores is not None:
            jobs.append(Job.blocking("cluster_scores_publish", self.scores.publish_logged, SCORES_PUBLISH_EVERY_S))
            jobs.append(Job.blocking("cluster_scores_poll", self.scores.poll_logged, s.poll_interval_s))
        if self.compactor is not None and self.replaced is not None:
            jobs.append(Job.blocking("cluster_compaction", self._compaction_turn, s.compaction_interval_s))
            jobs.append(Job.blocking("cluster_replaced", self._answer_replaced, s.compaction_interval_s))
        return jobs

    def _compaction_turn(self) -> int:
        assert self.compactor is not None
        return 0 if self.fenced is not None else self.compactor.turn()

    def _answer_replaced(self) -> int:
        assert self.replaced is not None
        return 0 if self.fenced is not None else self.replaced.turn()

    def status(self) -> ClusterStatus:
        """The nodes and leases as `lynex-box cluster status` shows them (blocking: reads the bucket)."""
        return cluster_status(self.store, lease_ttl_s=self.settings.lease_ttl_s)

    def _fenced(self, reason: str) -> None:
        with self._fence_lock:
            first = self._fenced_by is None
            self._fenced_by = self._fenced_by or reason
        if first:  # the heartbeat and the publisher may both find out: the app is told once
            self.keeper.fence(reason)
            self._on_fenced(reason)

    def _publish_loop(self) -> None:
        assert self.publisher is not None
        while not self._stopping.wait(PUBLISH_EVERY_S):
            publish_logged(self.publisher)

    def stop(self) -> None:
        """Stop the publisher's thread, flush the head and publish it (so the other nodes see every acknowledged
        event), release the leases, then write the stopped heartbeat. Nothing is written once fenced."""
        self._stopping.set()
        if self._publishing is not None:
            self._publishing.join()
        if self.sharing is not None and self.publisher is not None and self.fenced is None:
            try:
                self.sharing.flush()
                self.publisher.publish()
            except Exception:  # the bucket down, say: the segments are local, published at the next start
                log.exception("cluster last segments not published at stop")
        if self.scores is not None and self.fenced is None:
            self.scores.publish_logged()  # what is still queued is published at the next start otherwise
        if self.meta is not None:
            self.meta.uninstall()
        self.keeper.stop(release=True)
        self.heartbeat.stop()
