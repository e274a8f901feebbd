"""One plugin's subscription to one topic: a bounded queue, a delivery thread, a per-call timeout, a rate limit.

`offer` never blocks: a full queue drops its oldest event and counts it. The delivery thread takes events in order,
waits for a token of the rate limit, and runs the plugin's hook on a call thread it joins for at most `timeout_s`.
A call still running then is counted as a timeout and left behind (a thread cannot be killed); at most `max_stuck`
such calls may still be running before the delivery thread waits for one of them, so a plugin that hangs costs a
bounded number of threads and its queue overflows (counted) instead of growing. Errors are counted and logged
(the first, then at most one line a minute). Every counter is also kept per project (the event's `project_id`), so a
project's admins see their own deliveries and errors (GET /api/projects/{id}/plugins), never another project's.
Everything here is in-process: see docs/plugins.md for what the out-of-process worker would add.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("lynex.plugins")
LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Limits:
    queue_size: int
    timeout_s: float
    rate_per_s: float
    rate_burst: int
    max_stuck: int


@dataclass(slots=True)
class Counts:
    """One project's share of a subscription's counters."""

    delivered: int = 0
    errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    last_error: str = ""


class Subscriber:
    def __init__(self, plugin: str, hook: str, fn: Callable[..., Any], limits: Limits, grace_s: float = 0.0) -> None:
        """`grace_s`: how much longer than the timeout the call thread is waited for (an out-of-process call times
        itself out, killing its worker, and raises a TimeoutError, counted as a timeout)."""
        self.plugin, self.hook, self._fn, self._limits = plugin, hook, fn, limits
        self._grace_s = grace_s
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self._stuck: list[threading.Thread] = []
        self._tokens = float(limits.rate_burst)
        self._refilled = time.monotonic()
        self._logged_at = -LOG_EVERY_S
        self.delivered = self.errors = self.timeouts = self.dropped = 0
        self.last_error = ""
        self._by_project: dict[str, Counts] = {}
        self._thread = threading.Thread(target=self._run, name=f"lynex-plugin-{plugin}-{hook}", daemon=True)
        self._thread.start()

    def offer(self, event: dict[str, Any]) -> None:
        with self._cond:
            if self._stop:
                return
            if len(self._queue) >= self._limits.queue_size:
                self._counts(self._queue.popleft()).dropped += 1
                self.dropped += 1
            self._queue.append(event)
            self._cond.notify()

    def status(self) -> dict[str, Any]:
        with self._cond:
            queued = len(self._queue)
        return {
            "hook": self.hook,
            "queued": queued,
            "delivered": self.delivered,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }

    def project_status(self, project_id: str) -> dict[str, Any]:
        """The counters of the events of `project_id` alone (zeros when it had none)."""
        counts = self._by_project.get(project_id) or Counts()
        return {"hook": self.hook, "delivered": counts.delivered, "errors": counts.errors,
                "timeouts": counts.timeouts, "dropped": counts.dropped, "last_error": counts.last_error}  # fmt: skip

    def _counts(self, event: dict[str, Any]) -> Counts:
        project_id = event.get("project_id")
        if not isinstance(project_id, str):
            return Counts()  # an event of no project: counted in the totals only
        counts = self._by_project.get(project_id)
        if counts is None:
            counts = self._by_project[project_id] = Counts()
        return counts

    def stop(self) -> None:
        """Stop taking events and drop the queued ones; the delivery thread ends after its current call."""
        with self._cond:
            self._stop = True
            self._queue.clear()
            self._cond.notify_all()

    def join(self, timeout_s: float) -> None:
        """Wait at most `timeout_s` for the delivery thread (a call still running is left behind: daemon)."""
        self._thread.join(max(0.0, timeout_s))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                event = self._queue.popleft()
            if not self._take_token() or not self._room_for_a_call():
                return
            self._call(event)

    def _take_token(self) -> bool:
        """Wait for a token of the rate limit; False when closed meanwhile."""
        rate = self._limits.rate_per_s
        if rate <= 0:
            return True
        while True:
            now = time.monotonic()
            self._tokens = min(float(self._limits.rate_burst), self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            with self._cond:
                if self._cond.wait_for(lambda: self._stop, (1.0 - self._tokens) / rate):
                    return False

    def _room_for_a_call(self) -> bool:
        """Wait while `max_stuck` timed-out calls still run; False when closed meanwhile."""
        while True:
            self._stuck = [t for t in self._stuck if t.is_alive()]
            if len(self._stuck) < self._limits.max_stuck:
                return True
            self._stuck[0].join(0.2)
            if self._stop:
                return False

    def _call(self, event: dict[str, Any]) -> None:
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                self._fn(event=event)
                outcome.append(None)
            except BaseException as exc:  # a plugin's failure is counted and logged; nothing else stops
                outcome.append(exc)

        call = threading.Thread(target=run, name=f"lynex-plugin-call-{self.plugin}", daemon=True)
        call.start()
        call.join(self._limits.timeout_s + self._grace_s)
        counts = self._counts(event)
        if outcome and isinstance(outcome[0], TimeoutError):
            self.timeouts += 1
            counts.timeouts += 1
            self._failed(str(outcome[0]), counts)
        elif call.is_alive():
            self.timeouts += 1
            counts.timeouts += 1
            self._stuck.append(call)
            self._failed(f"timed out after {self._limits.timeout_s}s", counts)
        elif outcome and outcome[0] is not None:
            self.errors += 1
            counts.errors += 1
            self._failed(f"{type(outcome[0]).__name__}: {outcome[0]}", counts)
        else:
            self.delivered += 1
            counts.delivered += 1

    def _failed(self, error: str, counts: Counts) -> None:
        self.last_error = counts.last_error = error[:500]
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning(
                "plugin hook failed plugin=%s hook=%s error=%s errors=%d timeouts=%d dropped=%d",
                self.plugin, self.hook, self.last_error, self.errors, self.timeouts, self.dropped,
            )  # fmt: skip
