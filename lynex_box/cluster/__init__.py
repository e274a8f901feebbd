"""Cluster mode: several nodes sharing one S3-compatible bucket and nothing else (docs/format/cluster.md).

Step 1 lives here: the start-up probe of conditional writes (`probe.py`), the founding record and the
found/join/refuse decision (`founding.py`), node heartbeats (`heartbeat.py`), singleton-job leases with generation
fencing (`lease.py`, kept by `keeper.py`), and the read-only status view (`status.py`); for forwarded metadata
writes, where the `metadata` lease holder is (`holder.py`), the cluster secret (`secret.py`) and the signature of a
forward (`signing.py`). Every byte goes through the `ObjectStore` protocol and every call is synchronous and
thread-safe: the server runs them in threads, never on the event loop. This package may import objstore, meta and
config, nothing above them.
"""

from lynex_box.cluster.founding import Action, ClusterMismatch, FoundingRecord, Outcome, decide, settle
from lynex_box.cluster.heartbeat import DuplicateNode, Heartbeat, HeartbeatWriter, NodeRow, list_nodes
from lynex_box.cluster.keeper import LeaseKeeper
from lynex_box.cluster.lease import JOBS, Held, Lease, LeaseLost, LeaseRecord, list_leases
from lynex_box.cluster.probe import ConditionalWritesUnsupported, probe_conditional_writes
from lynex_box.cluster.records import BadRecord, ClusterError, NewerFormat, new_incarnation
from lynex_box.cluster.status import ClusterStatus, cluster_status

__all__ = [
    "JOBS",
    "Action",
    "BadRecord",
    "ClusterError",
    "ClusterMismatch",
    "ClusterStatus",
    "ConditionalWritesUnsupported",
    "DuplicateNode",
    "FoundingRecord",
    "Heartbeat",
    "HeartbeatWriter",
    "Held",
    "Lease",
    "LeaseKeeper",
    "LeaseLost",
    "LeaseRecord",
    "NewerFormat",
    "NodeRow",
    "Outcome",
    "cluster_status",
    "decide",
    "list_leases",
    "list_nodes",
    "new_incarnation",
    "probe_conditional_writes",
    "settle",
]
