"""`Job`: periodic work a component declares (its `jobs()` method) and app.py hands to the scheduler as it is.

A component says what runs (`run`, a coroutine function that never blocks the loop: blocking work goes to a thread,
`Job.blocking`), how often (`every_s`: a setting or a named constant of the component that owns the work) and under
which id. The scheduler runs at most one instance of a job at a time and coalesces missed turns. This module only
holds the type, so that any layer can declare jobs without importing the scheduler.

`timed` wraps a job to count its turns, failures and time (`JobRuns`), which `GET /metrics` reports per job id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class Job(NamedTuple):
    id: str
    run: Callable[[], Awaitable[object]]
    every_s: float

    @classmethod
    def blocking(cls, job_id: str, work: Callable[[], object], every_s: float) -> Job:
        """A job whose work blocks (SQLite, files): each turn runs it in a thread of the loop's default executor."""

        async def run() -> object:
            return await asyncio.to_thread(work)

        return cls(job_id, run, every_s)


class Periodic(Protocol):
    """A component with periodic work."""

    def jobs(self) -> list[Job]: ...


@dataclass(slots=True)
class JobRuns:
    """One job's finished turns, the turns that raised, and the seconds they took (in all, and the last one)."""

    runs: int = 0
    failures: int = 0
    seconds: float = 0.0
    last_s: float = 0.0


def timed(job: Job, runs: dict[str, JobRuns]) -> Job:
    """`job` with each turn counted in `runs[job.id]`: two clock reads a turn, nothing on any request's path."""
    stats = runs.setdefault(job.id, JobRuns())

    async def run() -> object:
        started = time.perf_counter()
        try:
            return await job.run()
        except Exception:
            stats.failures += 1
            raise
        finally:
            stats.last_s = time.perf_counter() - started
            stats.seconds += stats.last_s
            stats.runs += 1

    return Job(job.id, run, job.every_s)
