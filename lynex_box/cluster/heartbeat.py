"""Node heartbeats, `cluster/nodes/<node_id>.json`: who is in the cluster, and one process per node id.

A node rewrites its heartbeat every `heartbeat_s` with compare-and-swap on the etag of its own previous write, so
a second process claiming the same node id (a copied data dir, an old process still alive) is found out: at start
by a fresh heartbeat of another incarnation, later by a compare-and-swap that fails. Then the node is *fenced*: it
must stop writing to the bucket, and `on_fenced` tells it so. A transient store error is not a fence: the next beat
tries again, and a write that was applied although its answer was lost is recognised by its incarnation.

After each write the heartbeat's `last_modified` (the store's clock) is compared with this machine's clock; the
lease keeper takes no lease while they differ by more than `max_clock_skew_s`. This module must never sleep while
holding its lock for longer than one store request, and never write a heartbeat of another incarnation.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from lynex_box.cluster.records import (
    NODES_PREFIX,
    BadRecord,
    Clock,
    ClusterError,
    decode,
    encode,
    field,
    new_incarnation,
    node_key,
    wall_clock_us,
)
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError, PreconditionFailed, PutResult

log = logging.getLogger(__name__)
_MODIFIED_RESOLUTION_US = 1_000_000  # S3's Last-Modified header has whole seconds


class DuplicateNode(ClusterError):
    """Another live process writes this node id's heartbeat."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    node_id: str
    incarnation: str
    version: str
    address: str
    started_at: int
    heartbeat_at: int  # 0 after a clean stop: the node counts as down at once
    leases: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        return encode({**asdict(self), "leases": list(self.leases)})

    @classmethod
    def from_bytes(cls, key: str, data: bytes) -> Heartbeat:
        doc = decode(key, data)
        leases = field(doc, key, "leases", list)
        if not all(isinstance(job, str) for job in leases):
            raise BadRecord(f"{key}: field 'leases' = {leases!r} is not a list of job names")
        return cls(
            field(doc, key, "node_id", str),
            field(doc, key, "incarnation", str),
            field(doc, key, "version", str),
            field(doc, key, "address", str),
            field(doc, key, "started_at", int),
            field(doc, key, "heartbeat_at", int),
            tuple(leases),
        )


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node as the cluster sees it: its heartbeat, how old it is, and whether that makes it alive."""

    heartbeat: Heartbeat
    age_s: float
    alive: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.heartbeat),
            "leases": list(self.heartbeat.leases),
            "age_s": self.age_s if math.isfinite(self.age_s) else None,  # None: stopped cleanly (valid JSON)
            "alive": self.alive,
        }


def is_alive(heartbeat: Heartbeat, now: int, lease_ttl_s: float) -> bool:
    return heartbeat.heartbeat_at > 0 and now - heartbeat.heartbeat_at < lease_ttl_s * 1_000_000


def list_nodes(store: ObjectStore, *, lease_ttl_s: float, clock: Clock = wall_clock_us) -> list[NodeRow]:
    """Every heartbeat in the bucket, by node id; `leases` are those the node listed at its last beat."""
    rows = []
    for meta in store.list(NODES_PREFIX):
        try:
            heartbeat = Heartbeat.from_bytes(meta.key, store.get(meta.key).data)
        except ObjectNotFound:  # removed between the listing and the read
            continue
        now = clock()
        age = (now - heartbeat.heartbeat_at) / 1e6 if heartbeat.heartbeat_at else float("inf")
        rows.append(NodeRow(heartbeat, age, is_alive(heartbeat, now, lease_ttl_s)))
    return sorted(rows, key=lambda row: row.heartbeat.node_id)


class HeartbeatWriter:
    """This process's heartbeat: `claim()` once at start, `beat()` every `heartbeat_s`, `stop()` on a clean stop.

    Thread-safe; `beat()` is meant for a scheduled job running in a thread. `leases` reports the jobs this node
    holds (written into the heartbeat for `cluster status`); `on_fenced(reason)` is called once, from the thread
    that found out, when another process has written this node's heartbeat.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        node_id: str,
        version: str,
        address: str,
        lease_ttl_s: float,
        max_clock_skew_s: float = 2.0,
        incarnation: str | None = None,
        clock: Clock = wall_clock_us,
        leases: Callable[[], Iterable[str]] = tuple,
        on_fenced: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = node_key(node_id)
        self.node_id = node_id
        self.incarnation = incarnation or new_incarnation()
        self._store = store
        self._version = version
        self._address = address
        self._ttl_us = int(lease_ttl_s * 1_000_000)
        self._max_skew_us = int(max_clock_skew_s * 1_000_000)
        self._clock = clock
        self._leases = leases
        self._on_fenced = on_fenced
        self._sleep = sleep
        self._lock = threading.Lock()
        self._etag: str | None = None
        self._started_at = 0
        self._fenced: str | None = None
        self._told = False  # on_fenced was called
        self._skew_us: int | None = None

    @property
    def fenced(self) -> str | None:
        """Why this node was fenced, or None while it is not."""
        return self._fenced

    @property
    def clock_skew_s(self) -> float | None:
        """How far the store's clock was from this machine's at the last write (None before one was measured)."""
        skew = self._skew_us
        return None if skew is None else skew / 1e6

    def clock_ok(self) -> bool:
        """Whether this node may take leases: its clock is within `max_clock_skew_s` of the store's."""
        skew = self._skew_us
        return self._fenced is None and skew is not None and skew <= self._max_skew_us

    def _heartbeat(self) -> Heartbeat:
        now = self._clock()
        leases = tuple(sorted(self._leases()))
        return Heartbeat(self.node_id, self.incarnation, self._version, self._address, self._started_at, now, leases)

    def _read(self) -> tuple[Heartbeat, str] | None:
        try:
            got = self._store.get(self.key)
        except ObjectNotFound:
            return None
        return Heartbeat.from_bytes(self.key, got.data), got.etag

    def claim(self, wait_s: float = 0.0) -> None:
        """Write the first heartbeat of this process, or raise `DuplicateNode`.

        A heartbeat of another incarnation younger than `lease_ttl_s` means another process may run with this node
        id. With `wait_s` = 0 that refuses at once (the spec's rule); with more, the node watches the heartbeat for
        up to `wait_s` seconds: if it changes, its writer is alive and the node refuses; if it ages past
        `lease_ttl_s` unchanged (a process killed moments ago), the node takes over.
        """
        with self._lock:
            deadline = self._clock() + int(wait_s * 1_000_000)
            seen: str | None = None
            while True:
                current = self._read()
                now = self._clock()
                if current is None or not is_alive(current[0], now, self._ttl_us / 1e6):
                    self._first_write(current)
                    return
                other, etag = current
                if other.incarnation == self.incarnation:  # our own write, whose answer was lost
                    self._first_write(current)
                    return
                if (seen is not None and etag != seen) or now >= deadline:
                    raise self._duplicate(other)
                seen = etag
                self._sleep(min(1.0, self._ttl_us / 15e6, (deadline - now) / 1e6))

    def _first_write(self, current: tuple[Heartbeat, str] | None) -> None:
        self._started_at = self._clock()
        heartbeat = self._heartbeat()
        started = self._clock()
        try:
            if current is None:
                result = self._store.put_if_absent(self.key, heartbeat.to_bytes())
            else:
                result = self._store.put_if_match(self.key, heartbeat.to_bytes(), current[1])
        except PreconditionFailed:  # another process wrote between our read and our write
            latest = self._read()
            raise self._duplicate(latest[0] if latest else None) from None
        self._etag = result.etag
        self._measure_skew(started)
        log.info("cluster node claimed node_id=%s incarnation=%s", self.node_id, self.incarnation)

    def _duplicate(self, other: Heartbeat | None) -> DuplicateNode:
        where = f"at {other.address or '(no address)'}, incarnation {other.incarnation}" if other else "just now"
        return DuplicateNode(
            f"another process runs as node {self.node_id!r} ({where})",
            hint=f"stop the other process{f' at {other.address}' if other else ''}, or give this node its own "
            "data dir (a copied data dir keeps the node id; set [bucket] node_id to tell copies apart)",
        )

    def beat(self) -> bool:
        """Write the heartbeat again; False when it was not written (fenced, or a store error to retry)."""
        written = self._beat()
        with self._lock:
            tell = self._fenced if self._fenced is not None and not self._told else None
            self._told = self._told or tell is not None
        if tell is not None and self._on_fenced is not None:
            self._on_fenced(tell)  # outside the lock: the callback may stop this writer or read its state
        return written

    def _beat(self) -> bool:
        with self._lock:
            if self._fenced is not None or self._etag is None:
                return False
            heartbeat = self._heartbeat()
            started = self._clock()
            result: PutResult | None
            try:
                result = self._store.put_if_match(self.key, heartbeat.to_bytes(), self._etag)
            except PreconditionFailed:
                result = self._recover(heartbeat)
            except ObjectStoreError as exc:
                log.warning("cluster heartbeat not written node_id=%s error=%s", self.node_id, exc.detail)
                return False
            if result is None:
                return False
            self._etag = result.etag
            self._measure_skew(started)
            return True

    def _recover(self, heartbeat: Heartbeat) -> PutResult | None:
        """After a failed compare-and-swap: our own earlier write whose answer was lost (same incarnation) is
        adopted and the write retried once; anything else is another process, and fences this node."""
        try:
            current = self._read()
            if current is not None and current[0].incarnation == self.incarnation:
                try:
                    return self._store.put_if_match(self.key, heartbeat.to_bytes(), current[1])
                except PreconditionFailed:
                    current = self._read()
        except ClusterError as exc:  # unreadable, so not a heartbeat this process wrote
            self._fence(f"node {self.node_id!r}'s heartbeat was overwritten by something else ({exc.detail})")
            return None
        except ObjectStoreError as exc:
            log.warning("cluster heartbeat not written node_id=%s error=%s", self.node_id, exc.detail)
            return None
        other = current[0] if current is not None else None
        if other is None:
            reason = f"the heartbeat of node {self.node_id!r} was deleted by someone else"
        else:
            reason = f"another process wrote node {self.node_id!r}'s heartbeat (incarnation {other.incarnation}, "
            reason += f"address {other.address or '(none)'})"
        self._fence(reason)
        return None

    def _fence(self, reason: str) -> None:
        self._fenced = reason
        log.error("cluster node fenced node_id=%s reason=%s", self.node_id, reason)

    def _measure_skew(self, started: int) -> None:
        """The store stamped the write somewhere between `started` and now (rounded down to a second)."""
        try:
            stamped = int(self._store.head(self.key).last_modified.timestamp() * 1_000_000)
        except ObjectStoreError:
            return
        now = self._clock()
        ahead = stamped - now
        behind = (started - _MODIFIED_RESOLUTION_US) - stamped
        skew = max(ahead, behind, 0)
        if skew > self._max_skew_us and (self._skew_us is None or self._skew_us <= self._max_skew_us):
            log.warning(
                "cluster clock skew node_id=%s skew_s=%.3f max_clock_skew_s=%.3f: no lease is taken until it is fixed",
                self.node_id,
                skew / 1e6,
                self._max_skew_us / 1e6,
            )
        self._skew_us = skew

    def stop(self) -> None:
        """On a clean stop: write `heartbeat_at = 0` so the node counts as down at once and restarts without
        waiting for its old heartbeat to age. Nothing is written once fenced."""
        with self._lock:
            if self._fenced is not None or self._etag is None:
                return
            stopped = replace(self._heartbeat(), heartbeat_at=0, leases=())
            try:
                self._store.put_if_match(self.key, stopped.to_bytes(), self._etag)
            except ObjectStoreError as exc:
                log.warning("cluster heartbeat not cleared node_id=%s error=%s", self.node_id, exc.detail)
            self._etag = None
