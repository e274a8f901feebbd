"""One singleton job's lease, `cluster/leases/<job>.json`: take, renew and release with generation fencing.

The rules are docs/format/cluster.md's, Litestream's lease: a missing lease is taken create-only at generation 1;
an expired one (by more than `max_clock_skew_s`, so a holder whose clock runs behind has stopped first) by
compare-and-swap on the etag just read, at generation + 1. The holder renews by compare-and-swap on its own last
etag; a renewal that fails means another node took the lease, and the holder must stop the job before its next
write and never write with that generation again. Both writes are conditional, so of two nodes racing for a lease
at most one succeeds. A record of this very process (same holder and incarnation) may be taken again at once,
at generation + 1: this process knows it stopped using it.

A write whose answer was lost (a timeout) may have been applied. Only this process writes its incarnation, so a
record carrying our incarnation and generation is ours: `renew` adopts it rather than reporting a loss.
This module keeps no state between calls and never sleeps; `keeper.py` schedules it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from lynex_box.cluster.records import (
    LEASES_PREFIX,
    Clock,
    ClusterError,
    decode,
    encode,
    field,
    lease_key,
    wall_clock_us,
)
from lynex_box.objstore import ObjectNotFound, ObjectStore, PreconditionFailed

JOBS = ("alerts", "compaction", "retention", "backup", "metadata")


class LeaseLost(ClusterError):
    """A renewal failed: another node holds the lease now. The job must stop before its next write."""

    default_hint = "nothing to do: another node runs the job; this node takes the lease again once it expires"


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    job: str
    holder: str
    incarnation: str
    generation: int
    acquired_at: int
    expires_at: int  # 0 after a release

    def to_bytes(self) -> bytes:
        return encode(asdict(self))

    @classmethod
    def from_bytes(cls, key: str, data: bytes) -> LeaseRecord:
        doc = decode(key, data)
        return cls(
            field(doc, key, "job", str),
            field(doc, key, "holder", str),
            field(doc, key, "incarnation", str),
            field(doc, key, "generation", int),
            field(doc, key, "acquired_at", int),
            field(doc, key, "expires_at", int),
        )

    def live(self, now: int) -> bool:
        return now < self.expires_at

    def as_dict(self, now: int) -> dict[str, Any]:
        return {**asdict(self), "live": self.live(now)}


@dataclass(frozen=True, slots=True)
class Held:
    """A lease this process holds: the record it last wrote and that write's etag."""

    record: LeaseRecord
    etag: str

    @property
    def generation(self) -> int:
        return self.record.generation


class Lease:
    """The lease of `job` as seen by one process (`holder` = its node id, `incarnation` = its start)."""

    def __init__(
        self,
        store: ObjectStore,
        job: str,
        *,
        holder: str,
        incarnation: str,
        ttl_s: float,
        max_clock_skew_s: float,
        clock: Clock = wall_clock_us,
    ) -> None:
        self.key = lease_key(job)
        self.job = job
        self.holder = holder
        self.incarnation = incarnation
        self.ttl_us = int(ttl_s * 1_000_000)
        self.skew_us = int(max_clock_skew_s * 1_000_000)
        self._store = store
        self._clock = clock

    def read(self) -> tuple[LeaseRecord, str] | None:
        """The stored record and its etag, or None when the lease was never taken."""
        try:
            got = self._store.get(self.key)
        except ObjectNotFound:
            return None
        return LeaseRecord.from_bytes(self.key, got.data), got.etag

    def _ours(self, record: LeaseRecord) -> bool:
        return record.holder == self.holder and record.incarnation == self.incarnation

    def take(self) -> Held | None:
        """Take the lease if it is free; None when another node holds it or won the race for it."""
        now = self._clock()
        current = self.read()
        try:
            if current is None:
                record = LeaseRecord(self.job, self.holder, self.incarnation, 1, now, now + self.ttl_us)
                return Held(record, self._store.put_if_absent(self.key, record.to_bytes()).etag)
            stored, etag = current
            if not self._ours(stored) and now <= stored.expires_at + self.skew_us:
                return None
            record = LeaseRecord(self.job, self.holder, self.incarnation, stored.generation + 1, now, now + self.ttl_us)
            return Held(record, self._store.put_if_match(self.key, record.to_bytes(), etag).etag)
        except PreconditionFailed:  # another node wrote first: it holds the lease
            return None

    def renew(self, held: Held) -> Held:
        """Extend the lease to now + ttl; `LeaseLost` when another node has taken it."""
        record = replace(held.record, expires_at=self._clock() + self.ttl_us)
        try:
            return Held(record, self._store.put_if_match(self.key, record.to_bytes(), held.etag).etag)
        except PreconditionFailed:
            pass
        current = self.read()
        if current is not None and self._ours(current[0]) and current[0].generation == held.generation:
            try:  # our own earlier renewal, applied although its answer was lost
                return Held(record, self._store.put_if_match(self.key, record.to_bytes(), current[1]).etag)
            except PreconditionFailed:
                current = self.read()
        raise self._lost(held, current[0] if current is not None else None)

    def _lost(self, held: Held, now_stored: LeaseRecord | None) -> LeaseLost:
        if now_stored is None:
            return LeaseLost(f"lease {self.job!r} generation {held.generation} was deleted while held")
        return LeaseLost(
            f"lease {self.job!r} generation {held.generation} was taken over by {now_stored.holder} "
            f"(generation {now_stored.generation})"
        )

    def release(self, held: Held) -> bool:
        """Give the lease up (`expires_at = 0`) so another node takes it at its next try; False when it was
        already lost, which needs nothing more."""
        record = replace(held.record, expires_at=0)
        try:
            self._store.put_if_match(self.key, record.to_bytes(), held.etag)
        except PreconditionFailed:
            return False
        return True


def list_leases(store: ObjectStore) -> list[LeaseRecord]:
    """Every lease record in the bucket, by job."""
    records = []
    for meta in store.list(LEASES_PREFIX):
        try:
            records.append(LeaseRecord.from_bytes(meta.key, store.get(meta.key).data))
        except ObjectNotFound:
            continue
    return sorted(records, key=lambda record: record.job)
