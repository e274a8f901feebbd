"""Waiting, on the event loop, for the pipeline to have processed a WAL record (woken by the pipeline's thread).

A score route answers once the pipeline has applied its record, so a read that follows sees it. The pipeline thread
calls `wake(lsn)` after each step; a waiter is woken by the step that passes its LSN, not by polling, so the answer
costs no more than the pipeline's own delay. It must never block the pipeline thread: waking is a lock and a
`call_soon_threadsafe` per waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable


class ProcessedWaiters:
    """Async waits for "the pipeline has processed every record up to LSN n"; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def wake(self, processed_lsn: int) -> None:
        """Called by the pipeline after it processed records up to `processed_lsn`."""
        with self._lock:
            if not self._waiting:
                return
            ready = [w for w in self._waiting if w[0] <= processed_lsn]
            self._waiting = [w for w in self._waiting if w[0] > processed_lsn]
        for _, loop, future in ready:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, lsn: int, processed_lsn: Callable[[], int], timeout_s: float) -> bool:
        """True once `processed_lsn() >= lsn`, False if that took longer than `timeout_s`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (lsn, loop, future)
        with self._lock:  # checked under the lock `wake` takes after the pipeline advanced: no wake-up is missed
            if processed_lsn() >= lsn:
                return True
            self._waiting.append(entry)
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._waiting.remove(entry)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a waiter that timed out cancelled it
        future.set_result(None)
