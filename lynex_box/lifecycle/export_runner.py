"""Exports as jobs on threads of their own, admitted per project, within a time budget, streamed to the loop.

An export blocks (DuckDB, encoding) for as long as its data takes, so it runs on the export pool
(`[api] export_workers` threads), never on the threads that queries, ingest or login use. `start` admits
at most that many exports at once and at most `export_per_project` for one project, and refuses the rest with
`ExportBusy` (the API answers 429): an admitted export never waits for a thread. Its bytes reach the event loop
through a small bounded queue that the loop reads without a thread of its own; the job's thread waits on a full
queue only in short slices, so a stop (the client went away, the time budget `export_timeout_s` ran out, the
server is stopping) ends it within a step. A stopped job drops what it still writes, so closing its writer (a
Parquet footer) cannot fail or block. Nothing here may wait on the loop, or leave a thread blocked for good.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

from lynex_box.config import ApiSettings
from lynex_box.lifecycle.export import ExportStopped
from lynex_box.query.pool import PoolStats, WorkerPool

log = logging.getLogger("lynex.export")
CHUNK_BYTES: Final = 1 << 20
QUEUE_CHUNKS: Final = 8
_WAIT_SLICE_S: Final = 0.25  # how often a job waiting on a full queue looks whether it was stopped
Work = Callable[["ChunkSink", Callable[[], bool]], object]  # writes to the sink, asks the callable between steps


class ExportBusy(Exception):
    """No export slot is free for this project or on this server; `retry_after_s` is a hint."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ExportAborted(Exception):
    """The export ended before its end (time budget, server stop, failure): the download is incomplete."""


class ExportJob:
    """One running export: the producer side (a worker thread) and the consumer side (`chunks`, on the loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, project_id: str, budget_s: float) -> None:
        self.project_id = project_id
        self._loop = loop
        self._budget_s = budget_s
        self._deadline = time.monotonic() + budget_s
        self._queue: queue.Queue[bytes] = queue.Queue(QUEUE_CHUNKS)
        self._ready = asyncio.Event()
        self._stopped = threading.Event()
        self._done = False
        self._consumer: asyncio.Task[object] | None = None
        self.stop_reason: str | None = None
        self.error: str | None = None  # why it ended early (stopped or failed); None: it ran to its end
        self.failed = False  # it raised (a bug, a bucket error) rather than being stopped
        self.exception: Exception | None = None  # what it raised
        self.sink = ChunkSink(self)

    # ------------------------------------------------------------------ either side
    def stop(self, reason: str) -> None:
        """Ask the job to stop before its end (idempotent; the first reason stays)."""
        if not self._stopped.is_set() and not self._done:
            self.stop_reason = reason
            self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def should_stop(self) -> bool:
        """True once stopped; the time budget runs out here (asked between steps and while waiting)."""
        if not self._stopped.is_set() and time.monotonic() > self._deadline:
            self.stop(f"it ran longer than its time budget ([api] export_timeout_s = {self._budget_s:g} s)")
        return self._stopped.is_set()

    # ------------------------------------------------------------------ producer (worker thread)
    def hand(self, chunk: bytes) -> None:
        """Queue a chunk for the response, waiting while the queue is full; dropped once the job is stopped."""
        while not self.should_stop():
            try:
                self._queue.put(chunk, timeout=_WAIT_SLICE_S)
            except queue.Full:
                continue
            self._wake()
            return

    def finish(self, error: str | None, failed: bool = False) -> None:
        self.error = error
        self.failed = failed
        self._done = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._ready.set)

    # ------------------------------------------------------------------ consumer (event loop)
    def abort(self, reason: str) -> None:
        """Stop the job and cancel the response that streams it, wherever it waits (on the loop)."""
        self.stop(reason)
        if self._consumer is not None:
            self._consumer.cancel()

    async def started(self) -> bool:
        """Wait (without a thread) for the first chunk or the end; True if there is output to stream, False if
        the job ended before writing any (then `error` says why, if it ended early)."""
        while self._queue.empty() and not self._done:
            self._ready.clear()
            if self._queue.empty() and not self._done:
                await self._ready.wait()
        return not self._queue.empty() or self.error is None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The export's bytes; raises ExportAborted at the end if it stopped early. Leaving early stops it."""
        self._consumer = asyncio.current_task()
        try:
            while True:
                try:
                    chunk = self._queue.get_nowait()
                except queue.Empty:
                    if self._done:  # set after the last chunk was queued: one more look, then the end
                        if self._queue.empty():
                            break
                        continue
                    self._ready.clear()
                    if self._queue.empty() and not self._done:
                        await self._ready.wait()
                    continue
                yield chunk
            if self.error is not None:
                raise ExportAborted(self.error)
        finally:
            self.stop("the client went away")


class ChunkSink:
    """The file-like sink an export writes to: 1 MiB chunks handed to the job's queue."""

    def __init__(self, job: ExportJob) -> None:
        self._job = job
        self._buffer = bytearray()
        self.closed = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            # whole chunks only, so the queue bounds memory even when one write holds a large step
            full = len(self._buffer) // CHUNK_BYTES * CHUNK_BYTES
            with memoryview(self._buffer) as view:
                for offset in range(0, full, CHUNK_BYTES):
                    self._job.hand(bytes(view[offset : offset + CHUNK_BYTES]))
            del self._buffer[:full]
        return len(data)

    def flush(self) -> None:
        return None

    def finish(self) -> None:
        if self._buffer:
            self._job.hand(bytes(self._buffer))
            self._buffer.clear()


class ExportRunner:
    """The export pool and its admission; `close` stops every export (the server is stopping)."""

    def __init__(self, settings: ApiSettings, retry_after_s: int = 10) -> None:
        self.workers = settings.export_workers
        self.per_project = settings.export_per_project
        self.budget_s = settings.export_timeout_s
        self.retry_after_s = retry_after_s
        self.pool = WorkerPool("export", self.workers, report_after_s=settings.export_timeout_s)
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._jobs: dict[ExportJob, concurrent.futures.Future[None]] = {}
        self._closed = False

    def start(self, project_id: str, work: Work) -> ExportJob:
        """Run `work` on an export thread now, or raise ExportBusy. Call on the event loop."""
        job = ExportJob(asyncio.get_running_loop(), project_id, self.budget_s)
        with self._lock:
            self._admit(project_id)
            self._running[project_id] = self._running.get(project_id, 0) + 1
            try:
                self._jobs[job] = self.pool.submit(self._run, job, work)
            except RuntimeError:  # the pool is shut down: the server is stopping
                self._release(job)
                raise ExportBusy("the server is stopping; retry on its next start", self.retry_after_s) from None
        return job

    def _admit(self, project_id: str) -> None:
        if self._closed:
            raise ExportBusy("the server is stopping; retry on its next start", self.retry_after_s)
        running = sum(self._running.values())
        if running >= self.workers:
            raise ExportBusy(
                f"{running} exports are running, as many as this server runs at once "
                "([api] export_workers); retry when one has finished",
                self.retry_after_s,
            )
        mine = self._running.get(project_id, 0)
        if mine >= self.per_project:
            raise ExportBusy(
                f"project {project_id!r} has {mine} export(s) running, as many as one project may "
                "([api] export_per_project); retry when it has finished",
                self.retry_after_s,
            )

    def _run(self, job: ExportJob, work: Work) -> None:
        error: str | None = None
        failed = False
        try:
            work(job.sink, job.should_stop)
            job.sink.finish()
            if job.stopped:  # stopped while the last chunks waited: they were dropped
                raise ExportStopped(job.stop_reason)
        except ExportStopped:
            error = f"export stopped: {job.stop_reason}"
            log.info("export stopped project=%s reason=%s", job.project_id, job.stop_reason)
        except Exception as exc:
            error, failed = f"export failed: {type(exc).__name__}; the server log has the details", True
            job.exception = exc
            log.exception("export failed project=%s", job.project_id)
        finally:
            with self._lock:
                self._release(job)
            job.finish(error, failed)

    def _release(self, job: ExportJob) -> None:
        left = self._running.get(job.project_id, 0) - 1
        if left > 0:
            self._running[job.project_id] = left
        else:
            self._running.pop(job.project_id, None)
        self._jobs.pop(job, None)

    def stats(self) -> PoolStats:
        return self.pool.stats()

    def abort_all(self, reason: str) -> None:
        """Stop every export and cut its download (the server is stopping): call on the loop. The HTTP server
        waits for open responses before it stops, and a client that stopped reading would hold one open."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs)
        for job in jobs:
            job.abort(reason)

    def close(self, wait_s: float = 10.0) -> None:
        """Stop every export and wait (at most `wait_s`) until their threads are free; blocking."""
        with self._lock:
            self._closed = True
            jobs = dict(self._jobs)
        for job in jobs:
            job.stop("the server is stopping")
        self.pool.close()
        deadline = time.monotonic() + wait_s
        concurrent.futures.wait(list(jobs.values()), timeout=wait_s)
        # A job leaves `_jobs` at the end of its run, a moment before its thread is free: wait for the threads too
        while self.pool.stats().busy and time.monotonic() < deadline:
            time.sleep(0.01)
