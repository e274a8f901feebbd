"""The bounded in-memory queue: recorded items wait here for the sender thread.

It is bounded by items and by bytes and never blocks the application: when full, `put` answers False and the
client counts the drop (the server being away for a long time must not grow the application's memory). What is
in it when the process ends without reaching the server is lost; `buffer_dir=` (the disk buffer) keeps it.
"""

from __future__ import annotations

import threading
from collections import deque

from lynex._source import Batch


class MemoryQueue:
    durable = False

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.accepted = 0
        self._items: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def put(self, kind: int, data: bytes) -> bool:
        with self._lock:
            if len(self._items) >= self._max_items or self._bytes + len(data) > self._max_bytes:
                return False
            self._items.append((kind, data))
            self._bytes += len(data)
            self.accepted += 1
            return True

    def take(self, max_items: int, max_bytes: int) -> Batch | None:
        with self._lock:
            if not self._items:
                return None
            kind = self._items[0][0]
            items: list[bytes] = []
            size = 0
            while self._items and len(items) < max_items:
                next_kind, data = self._items[0]
                if next_kind != kind or (items and size + len(data) > max_bytes):
                    break
                self._items.popleft()
                items.append(data)
                size += len(data)
            self._bytes -= size
        return Batch(kind, items, size)

    def ack(self, batch: Batch) -> None:
        """Nothing to do: a batch leaves the queue when it is taken."""

    def pending(self) -> tuple[int, int]:
        return len(self._items), self._bytes

    def maintain(self) -> None:
        """Nothing to do."""

    def close(self) -> None:
        """Nothing to release."""
