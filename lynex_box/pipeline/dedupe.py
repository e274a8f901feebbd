"""A bounded memory of recently seen event ids, so a client's retry of an acknowledged batch is dropped.

Bounded by count (`ingest.dedupe_window_events`): the oldest ids are forgotten first. It is a window,
not a guarantee over all time; compaction removes what slips past it (docs/format/segments.md).

It keeps 64-bit hashes of the ids, not the ids: 16 bytes per id instead of about 130 (500,000 ids in
about 8 MB instead of 65 MB, which matters to a pipeline that must stay small). Two different ids
with one hash would drop the second as a retry; with the default window that is a chance of about
3e-14 per event. Python's string hash is salted per process, which is fine: the window is rebuilt on
start. Lookups go to a sorted array of the window as it was at the last rebuild, corrected by two
small sets (added and evicted since), and the array is rebuilt once the sets grow.
"""

from __future__ import annotations

import array
import bisect

import numpy as np

_REBUILD_AFTER = 65_536  # changes since the last rebuild that trigger the next one


def dedupe_key(project_id: str, event_id: str) -> str:
    """Event ids are unique within a project only: two projects may well send the same id."""
    return f"{project_id}\x1f{event_id}"


class RecentIds:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ring = array.array("q", bytes(8 * capacity))  # hashes in the order they were added
        self._size = 0
        self._pos = 0
        self._sorted = array.array("q")  # the window at the last rebuild, sorted
        self._added: set[int] = set()  # added since the last rebuild
        self._evicted: set[int] = set()  # in `_sorted` but forgotten since the last rebuild

    def add_if_new(self, event_id: str) -> bool:
        """Remember `event_id`; False if it was already in the window."""
        if self.capacity == 0:
            return True
        h = hash(event_id)
        if h in self._added:
            return False
        snapshot = self._sorted
        if h not in self._evicted:
            at = bisect.bisect_left(snapshot, h)
            if at < len(snapshot) and snapshot[at] == h:
                return False
        self._push(h)
        if len(self._added) + len(self._evicted) > _REBUILD_AFTER:
            self._rebuild()
        return True

    def filter_new(self, event_ids: list[str]) -> list[bool]:
        """`add_if_new` of each id in order (a repeat within the list counts as a repeat)."""
        if self.capacity == 0:
            return [True] * len(event_ids)
        hashes = [hash(event_id) for event_id in event_ids]
        snapshot = np.frombuffer(self._sorted, dtype=np.int64)
        if len(snapshot):
            wanted = np.array(hashes, dtype=np.int64)
            at = np.minimum(np.searchsorted(snapshot, wanted), len(snapshot) - 1)
            in_snapshot: list[bool] = (snapshot[at] == wanted).tolist()
        else:
            in_snapshot = [False] * len(hashes)
        out = []
        added, evicted = self._added, self._evicted
        for h, old in zip(hashes, in_snapshot, strict=True):
            if h in added or (old and h not in evicted):
                out.append(False)
                continue
            self._push(h)
            out.append(True)
        if len(added) + len(evicted) > _REBUILD_AFTER:  # never within a call: `in_snapshot` is of this array
            self._rebuild()
        return out

    def _push(self, h: int) -> None:
        if self._size == self.capacity:  # forget the oldest
            gone = self._ring[self._pos]
            if gone in self._added:
                self._added.discard(gone)
            else:
                self._evicted.add(gone)
        else:
            self._size += 1
        self._ring[self._pos] = h
        self._pos = (self._pos + 1) % self.capacity
        self._added.add(h)

    def _rebuild(self) -> None:
        window = np.frombuffer(self._ring, dtype=np.int64)[: self._size]
        self._sorted = array.array("q", np.sort(window).tobytes())
        self._added.clear()
        self._evicted.clear()

    def __len__(self) -> int:
        return self._size
