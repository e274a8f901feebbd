"""The export runner: admission per project and per server, the bounded hand-off to the loop, the time budget,
failures, a client that goes away, and the server's stop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from lynex_box.config import ApiSettings
from lynex_box.lifecycle.export import ExportStopped
from lynex_box.lifecycle.export_runner import (
    CHUNK_BYTES,
    QUEUE_CHUNKS,
    ChunkSink,
    ExportAborted,
    ExportBusy,
    ExportRunner,
)

Stop = Callable[[], bool]


def runner(**settings: Any) -> ExportRunner:
    return ExportRunner(ApiSettings(**{"export_workers": 2, "export_per_project": 1, **settings}))


def blocked(gate: threading.Event) -> Callable[[ChunkSink, Stop], None]:
    def work(sink: ChunkSink, stop: Stop) -> None:
        while not gate.wait(0.01):
            if stop():
                raise ExportStopped("stopped")
        sink.write(b"done")

    return work


async def drain(job: Any) -> bytes:
    return b"".join([chunk async for chunk in job.chunks()])


def test_admission_per_project_and_per_server_answers_busy_until_a_slot_frees() -> None:
    exports = runner()
    gate = threading.Event()

    async def main() -> None:
        first = exports.start("p1", blocked(gate))
        with pytest.raises(ExportBusy, match=r"project 'p1' has 1 export\(s\) running.*export_per_project"):
            exports.start("p1", blocked(gate))
        second = exports.start("p2", blocked(gate))
        with pytest.raises(ExportBusy, match=r"2 exports are running.*export_workers") as busy:
            exports.start("p3", blocked(gate))
        assert busy.value.retry_after_s > 0 and exports.stats().busy == 2
        gate.set()
        assert [await drain(first), await drain(second)] == [b"done", b"done"]
        deadline = time.monotonic() + 5
        while exports.stats().busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await drain(exports.start("p1", blocked(gate))) == b"done"

    try:
        asyncio.run(main())
    finally:
        gate.set()
        exports.close()


def test_the_bytes_arrive_whole_in_order_in_chunks_of_at_most_a_mib() -> None:
    exports = runner()
    data = bytes(range(256)) * (CHUNK_BYTES * 3 // 256) + b"tail"

    def work(sink: ChunkSink, stop: Stop) -> None:
        sink.write(data[:1000])
        sink.write(data[1000:])  # one write of 3 MiB

    async def main() -> list[bytes]:
        job = exports.start("p1", work)
        assert await job.started()
        return [chunk async for chunk in job.chunks()]

    try:
        chunks = asyncio.run(main())
    finally:
        exports.close()
    assert b"".join(chunks) == data and max(map(len, chunks)) == CHUNK_BYTES and len(chunks) == 4


def test_a_job_past_its_budget_stops_waiting_for_a_slow_reader_and_the_stream_ends_aborted() -> None:
    exports = runner(export_timeout_s=0.5)
    written: list[int] = []

    def work(sink: ChunkSink, stop: Stop) -> None:
        while not stop():
            sink.write(b"x" * CHUNK_BYTES)  # blocks once the queue is full: nobody reads yet
            written.append(1)
        raise ExportStopped("stopped")

    async def main() -> tuple[int, str]:
        job = exports.start("p1", work)
        assert await job.started()
        await asyncio.sleep(1.0)  # a client that does not read
        received = 0
        with pytest.raises(ExportAborted) as aborted:
            async for chunk in job.chunks():
                received += len(chunk)
        return received, str(aborted.value)

    try:
        received, message = asyncio.run(main())
    finally:
        exports.close()
    assert received <= QUEUE_CHUNKS * CHUNK_BYTES and len(written) <= QUEUE_CHUNKS + 1
    assert "time budget" in message and "export_timeout_s = 0.5 s" in message


def test_a_job_that_ends_before_its_first_byte_says_why_and_whether_it_failed() -> None:
    exports = runner(export_timeout_s=0.3)

    def idle(sink: ChunkSink, stop: Stop) -> None:
        while not stop():
            time.sleep(0.01)
        raise ExportStopped("stopped")

    def broken(sink: ChunkSink, stop: Stop) -> None:
        raise ValueError("a bug")

    async def main() -> None:
        job = exports.start("p1", idle)
        assert not await job.started() and not job.failed and job.error is not None and "budget" in job.error
        job = exports.start("p1", broken)
        assert not await job.started() and job.failed and "ValueError" in (job.error or "")
        assert isinstance(job.exception, ValueError)  # the route answers bucket and key errors as queries do
        job = exports.start("p1", lambda sink, stop: None)  # nothing to export: an empty body, no error
        assert await job.started() and await drain(job) == b""

    try:
        asyncio.run(main())
    finally:
        exports.close()


def test_a_client_that_goes_away_stops_its_job_and_frees_its_slot() -> None:
    exports = runner()
    stopped = threading.Event()

    def work(sink: ChunkSink, stop: Stop) -> None:
        while not stop():
            sink.write(b"x" * CHUNK_BYTES)
        stopped.set()
        raise ExportStopped("stopped")

    async def main() -> None:
        job = exports.start("p1", work)
        stream = job.chunks()
        assert len(await anext(stream)) == CHUNK_BYTES
        await stream.aclose()  # what the response does when its client disconnects
        assert job.stop_reason == "the client went away"

    try:
        asyncio.run(main())
        assert stopped.wait(5)
        deadline = time.monotonic() + 5
        while exports.stats().busy and time.monotonic() < deadline:
            time.sleep(0.01)
        assert exports.stats().busy == 0
    finally:
        exports.close()


def test_the_server_stop_cuts_running_jobs_and_refuses_new_ones() -> None:
    exports = runner()
    gate = threading.Event()

    async def main() -> str:
        job = exports.start("p1", blocked(gate))
        exports.abort_all("the server is stopping")
        assert not await job.started()
        with pytest.raises(ExportBusy, match="stopping"):
            exports.start("p2", blocked(gate))
        return job.error or ""

    try:
        assert "the server is stopping" in asyncio.run(main())
        began = time.monotonic()
        exports.close(wait_s=5)
        assert time.monotonic() - began < 2 and exports.stats().busy == 0
    finally:
        gate.set()
