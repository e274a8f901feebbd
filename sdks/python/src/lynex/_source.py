"""What the sender takes its batches from: the memory queue or the disk buffer, behind one small interface.

A source hands out one batch at a time, in the order things were recorded, all of one kind (events or scores:
they go to different routes). The sender delivers it, then acknowledges it; only then does the source forget it
(the disk buffer moves its acknowledged offset, or deletes a file). A batch that is never acknowledged (the
process ended while the server was away) is lost from the memory queue and sent again from the disk buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

EVENT = 1
SCORE = 2
KIND_NAMES = {EVENT: "events", SCORE: "scores"}


@dataclass
class Batch:
    kind: int
    items: list[bytes]
    nbytes: int
    own: bool = True  # recorded by this client (counts toward its flush), not left over by another process
    token: object = field(default=None, repr=False)  # where the source resumes once the batch is acknowledged


class Source(Protocol):
    durable: bool  # True: what is not acknowledged survives the process (the disk buffer)
    accepted: int  # own items taken by `put` so far (a flush waits for this many to be handled)

    def put(self, kind: int, data: bytes) -> bool:
        """Keep one item; False when full (the item is dropped; the caller counts it). Never blocks."""
        ...

    def take(self, max_items: int, max_bytes: int) -> Batch | None:
        """The next batch (at least one item, then up to the limits), or None when nothing is waiting."""
        ...

    def ack(self, batch: Batch) -> None:
        """`batch` was delivered or refused for good: forget it."""
        ...

    def pending(self) -> tuple[int, int]:
        """Items and bytes recorded and not yet taken (approximate)."""
        ...

    def maintain(self) -> None:
        """Periodic work in the sender thread (the disk buffer adopts files left by ended processes)."""
        ...

    def close(self) -> None:
        """Release files and locks (what is not acknowledged stays for the next process, if the source keeps it)."""
        ...
