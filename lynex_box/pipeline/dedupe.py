"""A bounded memory of recently seen event ids, so a client's retry of an acknowledged batch is dropped.

Bounded by count (`ingest.dedupe_window_events`): the oldest ids are forgotten first. It is a window,
not a guarantee over all time; compaction removes what slips past it (docs/format/segments.md).
"""

from __future__ import annotations

from collections import deque


class RecentIds:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[str] = deque()
        self._seen: set[str] = set()

    def add_if_new(self, event_id: str) -> bool:
        """Remember `event_id`; False if it was already in the window."""
        if self.capacity == 0:
            return True
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.capacity:
            self._seen.discard(self._order.popleft())
        return True

    def __len__(self) -> int:
        return len(self._order)
