"""The cluster's last closed usage day, `cluster/usage/closed.json`: written only by the `retention` lease holder,
which runs the `usage_close` job (lifecycle/usage_close.py), stamped with the generation it holds the lease at.

A new holder reads it and goes on from the day after, so no day is emitted twice by two holders in turn and none
is skipped. Writes are conditional (create-only, then compare-and-swap on the etag last read), so an old holder
that wakes up after losing the lease cannot move the mark back; one whose write is refused stops closing days.
It satisfies `lifecycle.usage_close.ClosedDays` structurally: app.py passes it in. Blocking calls: run them in
threads.
"""

from __future__ import annotations

from lynex_box.cluster.keeper import LeaseKeeper
from lynex_box.cluster.records import USAGE_MARK_KEY, Clock, decode, encode, field, wall_clock_us
from lynex_box.objstore import ObjectNotFound, ObjectStore, PreconditionFailed

JOB = "retention"


class ClusterClosedDays:
    """The mark as one node (`holder`) reads and writes it, under its `retention` lease."""

    def __init__(self, store: ObjectStore, keeper: LeaseKeeper, holder: str, clock: Clock = wall_clock_us) -> None:
        self._store = store
        self._keeper = keeper
        self._holder = holder
        self._clock = clock
        self._etag: str | None = None  # of the mark as last read or written by this node

    def last(self) -> str | None:
        try:
            got = self._store.get(USAGE_MARK_KEY)
        except ObjectNotFound:
            self._etag = None
            return None
        self._etag = got.etag
        return field(decode(USAGE_MARK_KEY, got.data), USAGE_MARK_KEY, "day", str)

    def may_emit(self) -> bool:
        """True when this node holds the `retention` lease and a renewal now confirms it."""
        generation = self._keeper.holds(JOB)
        return generation is not None and self._keeper.confirm(JOB, generation)

    def mark(self, day: str) -> bool:
        generation = self._keeper.holds(JOB)
        if generation is None:
            return False
        body = encode({"day": day, "generation": generation, "holder": self._holder, "updated_at": self._clock()})
        try:
            if self._etag is None:
                self._etag = self._store.put_if_absent(USAGE_MARK_KEY, body).etag
            else:
                self._etag = self._store.put_if_match(USAGE_MARK_KEY, body, self._etag).etag
        except PreconditionFailed:
            return False
        return True
