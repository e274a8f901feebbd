"""The background sender: one daemon thread per client that takes batches from its source and delivers them.

A batch closes when it reaches `batch_events` items or `batch_bytes`, or when `flush_interval` has passed since
the thread last looked (the age bound), or on `flush()`. Delivery retries 429, 503 (any 5xx), 408 and network
errors with exponential backoff and jitter, waiting at least what `Retry-After` says; the body and the event ids
in it stay the same across retries, so a batch the server stored but whose answer was lost is not stored twice.
Batches go one at a time, in order: the disk buffer's acknowledged offset only moves forward.

Only a stop with a deadline (`shutdown`, or the end of the interpreter) makes it give up a batch: the memory
queue's items are then counted as dropped, the disk buffer's stay on disk for the next process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lynex._errors import EventsDropped, EventsRejected, LynexError
from lynex._source import KIND_NAMES, Batch, Source
from lynex._transport import Answer, Transport

logger = logging.getLogger("lynex")

_BACKOFF_BASE_S = 0.5
_RETRY_STATUSES = frozenset({0, 408, 429})


@dataclass
class Stats:
    """Counters of one client (read with `Lynex.stats()`)."""

    recorded: int = 0  # accepted into the queue or the disk buffer
    sent: int = 0  # acknowledged by the server (202)
    dropped: int = 0  # queue or buffer full, or not delivered before the process ended
    invalid: int = 0  # failed the schema check: never sent
    rejected: int = 0  # refused by the server for good
    retries: int = 0  # requests sent again


def backoff_delay(attempt: int, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (0-based): at least Retry-After when given, plus jitter."""
    if retry_after is not None:
        return float(retry_after * (1 + 0.2 * rng.random()))
    step: float = min(cap, _BACKOFF_BASE_S * 2.0**attempt)
    return step / 2 + rng.random() * step / 2


class Sender:
    def __init__(
        self,
        source: Source,
        transport: Transport,
        stats: Stats,
        report: Callable[[LynexError], None],
        batch_events: int,
        batch_bytes: int,
        flush_interval: float,
        max_retry_delay: float,
    ) -> None:
        self.source = source
        self.transport = transport
        self.stats = stats
        self._report = report
        self._batch_events = batch_events
        self._batch_bytes = batch_bytes
        self._flush_interval = flush_interval
        self._max_retry_delay = max_retry_delay
        self._rng = random.Random()
        self._wake = threading.Event()  # new work, a flush, or the stop
        self._interrupt = threading.Event()  # the stop: cut a retry's wait short
        self._done = threading.Condition()
        self._handled = 0  # own items delivered or refused for good
        self._deadline: float | None = None  # set by shutdown
        self._flushing = False  # flush() asked for everything now, not only full batches
        self._next_age = 0.0  # when what waits, full batch or not, is sent
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lynex-sender", daemon=True)
        self._thread.start()

    def notify_if_full(self) -> None:
        """Called after each record: wake the thread when a batch is full, not before."""
        items, nbytes = self.source.pending()
        if (items >= self._batch_events or nbytes >= self._batch_bytes) and not self._wake.is_set():
            self._wake.set()

    def flush(self, target: int, timeout: float | None) -> bool:
        """Wait until `target` own items are delivered or refused; False at the timeout."""
        self._flushing = True
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._handled >= target, timeout)

    def shutdown(self, target: int, timeout: float) -> bool:
        """Deliver what is waiting for at most `timeout` seconds, then stop the thread."""
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        self._interrupt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout + 1)
        return self._handled >= target

    # --- the thread

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    break
            except Exception:  # never let the thread die with items waiting
                logger.exception("lynex: sender error, retrying in 1 s")
                time.sleep(1)
        self._finish()

    def _step(self) -> bool:
        """Deliver the full batches waiting, and the rest too when it is old enough (or on a flush or the stop),
        then wait for more; False once stopping and done (or out of time)."""
        self._wake.clear()  # a wake from now on (a record, a flush) is seen by the wait below
        self.source.maintain()
        now = time.monotonic()
        everything = self._flushing or self._deadline is not None or now >= self._next_age
        if everything:
            self._flushing = False
            self._next_age = now + self._flush_interval
        while True:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return False
            items, nbytes = self.source.pending()
            if not everything and items < self._batch_events and nbytes < self._batch_bytes:
                break  # a partial batch waits for its age
            batch = self.source.take(self._batch_events, self._batch_bytes)
            if batch is None:
                break
            if not self._deliver(batch, batch.items):
                self._give_up(batch)
                return False
            self.source.ack(batch)
            if batch.own:
                with self._done:
                    self._handled += len(batch.items)
                    self._done.notify_all()
        if self._deadline is not None:
            return False
        self._wake.wait(max(0.0, self._next_age - time.monotonic()))
        return True

    def _deliver(self, batch: Batch, items: list[bytes]) -> bool:
        """Send `items` until the server takes or refuses them; False when out of time (stopping)."""
        transport = self.transport
        body = transport.body(batch.kind, items)
        encoding = transport.encoding
        payload = transport.compress(body, encoding)
        attempt = 0
        while True:
            answer = transport.post(batch.kind, payload, encoding)
            if answer.status != 0:
                transport.check_version()
            if 200 <= answer.status < 300:
                self._accepted(batch, items, answer)
                return True
            if answer.status == 415 and encoding == "zstd":
                logger.info("lynex: server refused zstd, using gzip")
                transport.encoding = encoding = "gzip"
                payload = transport.compress(body, encoding)
                continue
            if answer.status in (400, 413) and len(items) > 1:
                # too big for the server's limits, or one event it cannot read spoils the batch (nesting deeper
                # than its limit): halve it, so that only that event is refused
                half = len(items) // 2
                return self._deliver(batch, items[:half]) and self._deliver(batch, items[half:])
            if answer.status in _RETRY_STATUSES or answer.status >= 500:
                delay = backoff_delay(attempt, self._max_retry_delay, answer.retry_after, self._rng)
                logger.debug("lynex: retry status=%s delay=%.2f %s", answer.status, delay, answer.error)
                attempt += 1
                if not self._sleep(delay):
                    return False
                self.stats.retries += 1
                continue
            self._refused(batch, items, answer)
            return True

    def _accepted(self, batch: Batch, items: list[bytes], answer: Answer) -> None:
        rejected = answer.body.get("rejected") if isinstance(answer.body, dict) else None
        self.stats.sent += len(items) - len(rejected or ())
        if rejected:
            self.stats.rejected += len(rejected)
            reasons = "; ".join(f"#{r.get('index')}: {r.get('error')}" for r in rejected[:5] if isinstance(r, dict))
            self._report(EventsRejected(reasons, len(rejected), answer.status, KIND_NAMES[batch.kind]))

    def _refused(self, batch: Batch, items: list[bytes], answer: Answer) -> None:
        error = answer.body.get("error") if isinstance(answer.body, dict) else None
        message = error.get("message") if isinstance(error, dict) else str(answer.body)[:200]
        self.stats.rejected += len(items)
        self._report(
            EventsRejected(f"HTTP {answer.status}: {message}", len(items), answer.status, KIND_NAMES[batch.kind])
        )

    def _sleep(self, delay: float) -> bool:
        """Wait `delay` seconds; False (at once) if a stop's deadline comes first."""
        end = time.monotonic() + delay
        while True:
            if self._deadline is not None and end > self._deadline:
                return False
            remaining = end - time.monotonic()
            if remaining <= 0:
                return True
            self._interrupt.wait(remaining)
            self._interrupt.clear()

    def _give_up(self, batch: Batch) -> None:
        if batch.own and not self.source.durable:  # the memory queue: these are lost
            self.stats.dropped += len(batch.items)
            self._report(EventsDropped("the server could not be reached before the stop's deadline", len(batch.items)))

    def _finish(self) -> None:
        """Count what the memory queue still holds as dropped; the disk buffer keeps its part for the next process."""
        items, _ = self.source.pending()
        if items and self.source.durable:
            logger.warning("lynex: %d items left in the disk buffer for the next process", items)
        elif items:
            self.stats.dropped += items
            self._report(EventsDropped("the server could not be reached before the stop's deadline", items))
