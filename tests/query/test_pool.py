"""The query worker pool: work runs on its own threads, and it says when every worker has been busy a while."""

from __future__ import annotations

import asyncio
import threading
import time

from lynex_box.query.pool import WorkerPool


def test_saturation_counts_from_the_moment_every_worker_is_taken_until_one_is_free() -> None:
    pool = WorkerPool("test", 2, report_after_s=0.2)
    gate = threading.Event()
    try:
        first = pool.submit(gate.wait)
        assert pool.stats().saturated_s == 0 and pool.saturated() is None  # one of two taken
        waiting = [pool.submit(gate.wait) for _ in range(3)]
        time.sleep(0.3)
        stats = pool.saturated()
        assert stats is not None and (stats.workers, stats.busy, stats.waiting) == (2, 2, 2)
        assert stats.saturated_s >= 0.2
        gate.set()
        for future in [first, *waiting]:
            future.result(timeout=5)
        deadline = time.monotonic() + 5
        while pool.stats().busy and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.stats().as_dict() == {"workers": 2, "busy": 0, "waiting": 0, "saturated_s": 0.0}
    finally:
        gate.set()
        pool.close()


def test_run_is_awaited_on_the_pool_threads_and_close_drops_what_has_not_started() -> None:
    pool = WorkerPool("test", 1)
    gate = threading.Event()

    async def main() -> str:
        return await pool.run(lambda: threading.current_thread().name)

    assert asyncio.run(main()).startswith("lynex-test")
    running = pool.submit(gate.wait)
    while not pool.stats().busy:
        time.sleep(0.01)
    queued = pool.submit(time.sleep, 0)
    pool.close()
    gate.set()
    assert running.result(timeout=5) is True and queued.cancelled()
    assert pool.stats().waiting == 0
