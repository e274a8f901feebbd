"""`Job`: periodic work a component declares (its `jobs()` method) and app.py hands to the scheduler as it is.

A component says what runs (`run`, a coroutine function that never blocks the loop: blocking work goes to a thread,
`Job.blocking`), how often (`every_s`: a setting or a named constant of the component that owns the work) and under
which id. The scheduler runs at most one instance of a job at a time and coalesces missed turns. This module only
holds the type, so that any layer can declare jobs without importing the scheduler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
