"""A bounded pool of worker threads that knows how busy it is.

Queries and exports block (DuckDB, Parquet, encoding), so they run in threads. Each kind gets a pool of its own
instead of asyncio's default executor, which ingest parsing, login (argon2) and meta.db reads share: slow
queries or exports then wait for their own workers and never hold up the rest of the server. The pool counts
the work it holds, so `/readyz` can say when every worker has been busy for a while (`saturated_s`); the end of
a long saturation is logged with its length. It never runs anything on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("lynex.pool")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Workers in all, how many run something, how many tasks wait for one, and for how long (seconds) every
    worker has been taken (0 when one is free)."""

    workers: int
    busy: int
    waiting: int
    saturated_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"workers": self.workers, "busy": self.busy, "waiting": self.waiting,
                "saturated_s": round(self.saturated_s, 3)}  # fmt: skip


class WorkerPool:
    """`workers` threads named `lynex-<name>-N`; `run` (async) or `submit` (from any thread) hands them work."""

    def __init__(self, name: str, workers: int, report_after_s: float = 10.0) -> None:
        self.name = name
        self.workers = workers
        self._report_after_s = report_after_s
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=f"lynex-{name}")
        self._lock = threading.Lock()
        self._outstanding = 0  # submitted and not yet done (running or waiting)
        self._busy = 0
        self._full_since: float | None = None

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue `fn(*args)` (with the caller's context variables, as `asyncio.to_thread` does)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        with self._lock:
            self._outstanding += 1
            if self._outstanding >= self.workers and self._full_since is None:
                self._full_since = time.monotonic()
        try:
            future = self._executor.submit(self._call, call)
        except BaseException:
            self._finished(None)
            raise
        # A done callback also runs for a task cancelled before it started (shutdown, or its caller gone).
        future.add_done_callback(self._finished)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker; cancelling the caller drops the task if it has not started yet."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def _call(self, call: Callable[[], T]) -> T:
        with self._lock:
            self._busy += 1
        try:
            return call()
        finally:
            with self._lock:
                self._busy -= 1

    def _finished(self, _future: object) -> None:
        with self._lock:
            self._outstanding -= 1
            if self._outstanding >= self.workers or self._full_since is None:
                return
            lasted = time.monotonic() - self._full_since
            self._full_since = None
        if lasted >= self._report_after_s:
            log.warning("%s workers were all busy for %.1f s workers=%d", self.name, lasted, self.workers)

    def stats(self) -> PoolStats:
        with self._lock:
            since = self._full_since
            return PoolStats(
                workers=self.workers,
                busy=self._busy,
                waiting=max(0, self._outstanding - self._busy),
                saturated_s=0.0 if since is None else time.monotonic() - since,
            )

    def saturated(self) -> PoolStats | None:
        """The stats when every worker has been taken for `report_after_s` or longer, else None."""
        stats = self.stats()
        return stats if stats.saturated_s >= self._report_after_s else None

    def close(self) -> None:
        """Drop the tasks that have not started; running ones finish on their own (never waited for here)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
