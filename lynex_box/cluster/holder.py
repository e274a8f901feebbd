"""Who holds a lease now, and where to reach it: the `metadata` holder is where admin writes are forwarded.

The holder is read from the lease record (`cluster/leases/<job>.json`) and the holder's heartbeat
(`cluster/nodes/<node_id>.json`, whose `address` is its `[cluster] advertise_url`). It counts only while the lease
is live and the heartbeat is alive and of the same process (same incarnation): a holder killed moments ago, whose
lease has not expired yet, still counts, and a forward to it fails to connect (the caller answers 503). The answer
is cached for `cache_s` (reads cost two GETs) and `forget()` drops it after a failed forward. Blocking: run it in a
thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from lynex_box.cluster.heartbeat import Heartbeat, is_alive
from lynex_box.cluster.lease import Lease, LeaseRecord
from lynex_box.cluster.records import Clock, ClusterError, node_key, wall_clock_us
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError


@dataclass(frozen=True, slots=True)
class Holder:
    node_id: str
    address: str


class HolderLookup:
    """The live holder of `job`'s lease as the bucket says, cached for `cache_s` seconds. Thread-safe."""

    def __init__(
        self, store: ObjectStore, job: str, *, lease_ttl_s: float, cache_s: float, clock: Clock = wall_clock_us
    ) -> None:
        self._store = store
        self._job = job
        self._lease_ttl_s = lease_ttl_s
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, Holder | None] | None = None  # (monotonic time read, answer)

    def find(self) -> Holder | None:
        """The holder, or None when the lease is free, expired, or its holder's heartbeat is not alive."""
        with self._lock:
            cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self._cache_s:
            return cached[1]
        found = self._read()
        with self._lock:
            self._cached = (time.monotonic(), found)
        return found

    def forget(self) -> None:
        """Drop the cached answer: the next `find` reads the bucket (after a forward to the holder failed)."""
        with self._lock:
            self._cached = None

    def _read(self) -> Holder | None:
        try:
            lease = _read_lease(self._store, self._job)
            if lease is None or not lease.live(self._clock()):
                return None
            heartbeat = Heartbeat.from_bytes(node_key(lease.holder), self._store.get(node_key(lease.holder)).data)
        except (ObjectNotFound, ObjectStoreError, ClusterError):
            return None  # no heartbeat, the bucket unreachable, a record this node cannot read: no holder known
        if heartbeat.incarnation != lease.incarnation or not is_alive(heartbeat, self._clock(), self._lease_ttl_s):
            return None
        return Holder(lease.holder, heartbeat.address)


def _read_lease(store: ObjectStore, job: str) -> LeaseRecord | None:
    # a Lease object only for its read: holder and incarnation are never used by `read`
    current = Lease(store, job, holder="-", incarnation="-", ttl_s=1.0, max_clock_skew_s=0.0).read()
    return current[0] if current is not None else None
