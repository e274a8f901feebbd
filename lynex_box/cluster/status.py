"""What `lynex-box cluster status` (and later `GET /v1/cluster`) shows: the nodes, their liveness and their leases.

Read-only: it lists heartbeats and leases and writes nothing, so it is safe from any machine that can read the
bucket, with or without a running node. A node's leases are taken from the lease objects (a live lease whose
holder and incarnation are the node's), which are the truth; the heartbeat's own list can lag by one beat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lynex_box.cluster.founding import FoundingRecord, read_founding
from lynex_box.cluster.heartbeat import NodeRow, list_nodes
from lynex_box.cluster.lease import LeaseRecord, list_leases
from lynex_box.cluster.records import Clock, wall_clock_us
from lynex_box.objstore import ObjectStore


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    founding: FoundingRecord | None
    nodes: list[NodeRow]
    leases: list[LeaseRecord]
    now: int

    def as_dict(self) -> dict[str, Any]:
        founding = self.founding
        return {
            "cluster_id": founding.cluster_id if founding else None,
            "founded_at": founding.founded_at if founding else None,
            "founder": founding.founder if founding else None,
            "nodes": [row.as_dict() for row in self.nodes],
            "leases": [lease.as_dict(self.now) for lease in self.leases],
        }


def cluster_status(store: ObjectStore, *, lease_ttl_s: float, clock: Clock = wall_clock_us) -> ClusterStatus:
    founding = read_founding(store)
    leases = list_leases(store)
    nodes = list_nodes(store, lease_ttl_s=lease_ttl_s, clock=clock)
    now = clock()
    held: dict[tuple[str, str], list[str]] = {}
    for lease in leases:
        if lease.live(now):
            held.setdefault((lease.holder, lease.incarnation), []).append(lease.job)
    rows = [replace(row, heartbeat=replace(row.heartbeat, leases=_held_by(row, held))) for row in nodes]
    return ClusterStatus(founding, rows, leases, now)


def _held_by(row: NodeRow, held: dict[tuple[str, str], list[str]]) -> tuple[str, ...]:
    return tuple(held.get((row.heartbeat.node_id, row.heartbeat.incarnation), []))
