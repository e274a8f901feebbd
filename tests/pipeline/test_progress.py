"""Waiting for the pipeline to pass an LSN: woken from another thread by the step that passes it, never missed."""

from __future__ import annotations

import asyncio
import threading

from lynex_box.pipeline.progress import ProcessedWaiters


def test_a_waiter_is_woken_by_the_step_that_passes_its_lsn_and_not_before() -> None:
    waiters = ProcessedWaiters()
    processed = [0]

    def pipeline_step(lsn: int) -> None:  # what the pipeline thread does: advance, then wake
        processed[0] = lsn
        waiters.wake(lsn)

    async def scenario() -> list[bool]:
        first = asyncio.create_task(waiters.wait(3, lambda: processed[0], 10.0))
        second = asyncio.create_task(waiters.wait(5, lambda: processed[0], 10.0))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(pipeline_step, 4)
        done_first = await first
        assert not second.done()
        await asyncio.to_thread(pipeline_step, 5)
        return [done_first, await second, await waiters.wait(2, lambda: processed[0], 0.0)]

    assert asyncio.run(scenario()) == [True, True, True]


def test_a_wait_ends_false_after_its_timeout_and_leaves_nothing_behind() -> None:
    waiters = ProcessedWaiters()

    async def scenario() -> bool:
        return await waiters.wait(7, lambda: 6, 0.05)

    assert asyncio.run(scenario()) is False
    waiters.wake(7)  # the step comes later: nobody to wake, no closed loop touched
    assert waiters._waiting == []


def test_many_waiters_from_many_steps_are_all_woken() -> None:
    waiters = ProcessedWaiters()
    processed = [0]

    def pipeline() -> None:
        for lsn in range(1, 201):
            processed[0] = lsn
            waiters.wake(lsn)

    async def scenario() -> list[bool]:
        waits = [asyncio.create_task(waiters.wait(lsn, lambda: processed[0], 30.0)) for lsn in range(1, 201)]
        thread = threading.Thread(target=pipeline)
        thread.start()
        results = await asyncio.gather(*waits)
        thread.join()
        return results

    assert all(asyncio.run(scenario()))
