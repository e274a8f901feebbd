"""`ClusterObserver`: a node started read-only (`lynex-box run --read-only`) in cluster mode. It reads, never writes.

It checks that its data dir belongs to the bucket's cluster (it can neither found nor join one: both write), then
reads the other nodes' manifests every `poll_interval_s` into the query engine's `SharedSegments`, so its queries see
the whole cluster's published data, and applies the metadata log to its meta.db at the same pace (`meta`, a
`MetaReplicator` with no capture and no before-commit hook: it never writes a log entry), so a key revoked on the
holder is refused here too and a key created there works here; and the other nodes' score logs (`scores`, a
`ScoreLog` that only reads), so it lists every node's scores. It writes no heartbeat (the others do not list it),
takes no lease, publishes no manifest and probes nothing: the bucket stays as it is, and meta.db changes only by
the log entries (or a newer snapshot) and the score batches it applies.
"""

from __future__ import annotations

import logging

from lynex_box.cluster.founding import Action, decide, local_cluster_id, read_founding
from lynex_box.cluster.node import NodeIdentity
from lynex_box.cluster.poller import ManifestPoller
from lynex_box.cluster.records import ClusterError
from lynex_box.cluster.replicator import MetaReplicator
from lynex_box.cluster.scorelog import ScoreLog
from lynex_box.cluster.status import ClusterStatus, cluster_status
from lynex_box.config import ClusterSettings
from lynex_box.jobs import Job
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from lynex_box.query.shared import SharedSegments

log = logging.getLogger("lynex.cluster")


class ClusterObserver:
    def __init__(
        self, store: ObjectStore, settings: ClusterSettings, identity: NodeIdentity, cluster_id: str,
        shared: SharedSegments, db: MetaDB,
    ) -> None:  # fmt: skip
        self.store = store
        self.settings = settings
        self.identity = identity
        self.cluster_id = cluster_id
        self.poller = ManifestPoller(store, identity.node_id, shared)
        self.fenced: str | None = None  # never: an observer writes nothing another process could take over
        # applies the log, never writes it: no capture, no hook, and it holds no lease (so no fence, no snapshot)
        self.meta = MetaReplicator(store, db, identity.node_id, lambda: None, settings.snapshot_every)
        # applies the other nodes' score logs to its meta.db; never publishes (it records no score)
        self.scores = ScoreLog(store, db, identity.node_id, "", fenced=lambda: True)

    @classmethod
    def start(
        cls, store: ObjectStore, settings: ClusterSettings, db: MetaDB, identity: NodeIdentity, shared: SharedSegments
    ) -> ClusterObserver:
        """Refuse (`ClusterError`) unless this data dir is a member of the bucket's cluster; then read the
        manifests and the metadata log once, so the other nodes' data and the current keys are there from the first
        request. Blocking."""
        local = local_cluster_id(db)
        record = read_founding(store)
        action = decide(record, local, False, identity.node_id)  # refuses a data dir of another cluster
        if action is not Action.MEMBER or record is None:
            raise ClusterError(
                f"node {identity.node_id!r} started read-only is not yet a member of a cluster on "
                f"{identity.endpoint} (it would {action.value} it, which writes)",
                hint="start it once without --read-only to found or join the cluster",
            )
        observer = cls(store, settings, identity, record.cluster_id, shared, db)
        observer.poller.poll()
        observer.meta.poll()
        observer.scores.poll_logged()
        log.info("cluster observer started read-only cluster_id=%s node_id=%s", record.cluster_id, identity.node_id)
        return observer

    def holds(self, job: str) -> int | None:
        return None  # an observer takes no lease

    def jobs(self) -> list[Job]:
        every = self.settings.poll_interval_s
        return [
            Job.blocking("cluster_poll", self.poller.poll, every),
            Job.blocking("cluster_meta", self.meta.poll_logged, every),
            Job.blocking("cluster_scores_poll", self.scores.poll_logged, every),
        ]

    def status(self) -> ClusterStatus:
        return cluster_status(self.store, lease_ttl_s=self.settings.lease_ttl_s)

    def stop(self) -> None:
        """Nothing to release or clear."""
