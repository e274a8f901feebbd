"""The founding record `cluster/cluster.json`, and whether a node founds the cluster, joins it, or refuses.

At every start a node in cluster mode compares three facts: the bucket's founding record (if any), the cluster id
its data dir remembers (`instance_settings.cluster_id`) and whether its data dir holds accounts of its own. `decide`
is the pure rule of docs/format/cluster.md; `settle` reads and writes the bucket around it. The record is written
create-only, so of two nodes founding at once one wins and the other re-reads and joins (or refuses). A data dir is
never merged into another cluster: that would give two sets of accounts one bucket.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import apsw
from ulid import ULID

from lynex_box.cluster.records import CLUSTER_KEY, Clock, ClusterError, decode, encode, field, wall_clock_us
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectNotFound, ObjectStore, PreconditionFailed

CLUSTER_ID_SETTING = "cluster_id"


class ClusterMismatch(ClusterError):
    """The data dir and the bucket belong to different clusters (or the data dir has accounts of its own)."""

    default_hint = (
        "to join this cluster start the node with an empty data dir; to found a new cluster point "
        "[bucket] prefix (or bucket) at a place no cluster uses"
    )


class Action(enum.Enum):
    FOUND = "found"  # write the founding record; the data dir's metadata becomes the cluster's first snapshot
    JOIN = "join"  # bootstrap meta.db from the newest metadata snapshot and the log after it
    MEMBER = "member"  # the data dir is already of this cluster: a restart


@dataclass(frozen=True, slots=True)
class FoundingRecord:
    cluster_id: str
    founded_at: int
    founder: str

    def to_bytes(self) -> bytes:
        return encode({"cluster_id": self.cluster_id, "founded_at": self.founded_at, "founder": self.founder})

    @classmethod
    def from_bytes(cls, data: bytes) -> FoundingRecord:
        doc = decode(CLUSTER_KEY, data)
        return cls(
            field(doc, CLUSTER_KEY, "cluster_id", str),
            field(doc, CLUSTER_KEY, "founded_at", int),
            field(doc, CLUSTER_KEY, "founder", str),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    record: FoundingRecord


def decide(record: FoundingRecord | None, local_id: str | None, data_dir_empty: bool, node_id: str) -> Action:
    """What a starting node does, or `ClusterMismatch` naming both ids when it must not start.

    One case beyond the spec's three: a record founded by this very node id while the data dir remembers no
    cluster is a founding interrupted between writing the record and remembering its id, so it completes.
    """
    if record is None:
        if local_id is None:
            return Action.FOUND
        raise ClusterMismatch(
            f"the data dir belongs to cluster {local_id} but the bucket has no {CLUSTER_KEY}",
            hint="check [bucket] bucket and prefix: they must be those the cluster was founded on; to found a new "
            "cluster, start from a data dir that belongs to no cluster",
        )
    if local_id == record.cluster_id:
        return Action.MEMBER
    if local_id is not None:
        raise ClusterMismatch(
            f"the data dir belongs to cluster {local_id} but the bucket's {CLUSTER_KEY} is of cluster "
            f"{record.cluster_id}"
        )
    if data_dir_empty:
        return Action.JOIN
    if record.founder == node_id:
        return Action.FOUND
    raise ClusterMismatch(
        f"the data dir has users or projects of its own and belongs to no cluster, and the bucket holds cluster "
        f"{record.cluster_id} (founded by {record.founder})"
    )


def new_cluster_id() -> str:
    return f"cl-{ULID()}"


def read_founding(store: ObjectStore) -> FoundingRecord | None:
    try:
        return FoundingRecord.from_bytes(store.get(CLUSTER_KEY).data)
    except ObjectNotFound:
        return None


def settle(
    store: ObjectStore, *, node_id: str, local_id: str | None, data_dir_empty: bool, clock: Clock = wall_clock_us
) -> Outcome:
    """Read the founding record, decide, and found the cluster when that is the decision. A node that loses the
    create-only race decides again on the winner's record. The caller remembers `outcome.record.cluster_id` in
    meta.db (`remember_cluster_id`) once it has done what the action asks."""
    record = read_founding(store)
    action = decide(record, local_id, data_dir_empty, node_id)
    if record is None:  # decide() said FOUND
        fresh = FoundingRecord(new_cluster_id(), clock(), node_id)
        try:
            store.put_if_absent(CLUSTER_KEY, fresh.to_bytes())
            return Outcome(Action.FOUND, fresh)
        except PreconditionFailed:  # another node founded it first: decide again on its record
            record = read_founding(store)
            if record is None:
                raise ClusterError(f"{CLUSTER_KEY} was created by another node and then removed") from None
            action = decide(record, local_id, data_dir_empty, node_id)
    return Outcome(action, record)


def founds_cluster(store: ObjectStore, db: MetaDB) -> bool:
    """Whether this data dir would found a new cluster on `store`: it belongs to no cluster and the bucket has no
    founding record. Only then may a first start create credentials (a user, a project, a key): a node that joins
    gets its accounts from the cluster, and one with accounts of its own would be refused."""
    return local_cluster_id(db) is None and read_founding(store) is None


def local_cluster_id(db: MetaDB) -> str | None:
    rows = db.read("SELECT value FROM instance_settings WHERE key = ?", (CLUSTER_ID_SETTING,))
    return str(rows[0][0]) if rows else None


def remember_cluster_id(db: MetaDB, cluster_id: str) -> None:
    def tx(conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO instance_settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (CLUSTER_ID_SETTING, cluster_id),
        )

    db.write(tx)


def data_dir_is_empty(db: MetaDB) -> bool:
    """No user and no project: nothing a join would overwrite."""
    users = int(db.read("SELECT count(*) FROM users")[0][0])
    projects = int(db.read("SELECT count(*) FROM projects")[0][0])
    return users == 0 and projects == 0
