"""Batching for plugins that send what they receive elsewhere (spans to a webhook, to OTLP, metrics to Datadog).

A `Batcher` takes items from a plugin's hook (`add`, which never blocks: a full queue drops its oldest items and
counts them) and hands them to `send` in batches on a thread of its own: a batch goes when it reaches `max_items`
or `max_bytes`, or when its oldest item waited `max_delay_s`. Items are counted by `count_of` (an item may be a
table of many spans: the limits and counters are then in spans), so a hook can hand over a slice of the Arrow table
it got and leave the costly conversion to the batching thread. A failed send is retried with a backoff that doubles
from `backoff_s` up to `backoff_max_s`, at most `retries` times, unless the error says it is not worth it
(`retryable = False` on the exception: a refused address, a 4xx answer); the batch is then counted as failed and
logged (the first failure, then at most one line a minute). The counters (`counters()`) are what the plugin shows
in GET /v1/plugins. Nothing here knows HTTP or the server: the plugin's `send` does.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import pyarrow as pa

log = logging.getLogger("lynex.plugins")
T = TypeVar("T")
LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_items: int = 500
    max_bytes: int = 1_000_000
    max_delay_s: float = 5.0
    max_queued: int = 50_000  # items (by count_of) waiting, beyond which the oldest are dropped
    retries: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0


class Batcher(Generic[T]):
    def __init__(
        self,
        name: str,
        send: Callable[[list[T]], None],
        limits: BatchLimits,
        size_of: Callable[[T], int] = lambda _item: 1,
        count_of: Callable[[T], int] = lambda _item: 1,
    ) -> None:
        """`size_of(item)`: its bytes for `max_bytes`; `count_of(item)`: what it counts for in the counters (an item
        may stand for several spans)."""
        self.name, self._send, self.limits = name, send, limits
        self._size_of, self._count_of = size_of, count_of
        self._queue: collections.deque[tuple[T, int, int, float]] = collections.deque()  # item, size, count, added
        self._bytes = self._count = 0
        self._cond = threading.Condition()
        self._stop = False
        self._logged_at = -LOG_EVERY_S
        self.sent = self.failed = self.dropped = self.batches = self.retried = 0
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name=f"lynex-batcher-{name}", daemon=True)
        self._thread.start()

    def add(self, items: Iterable[T]) -> None:
        now = time.monotonic()
        with self._cond:
            if self._stop:
                return
            for item in items:
                size, count = self._size_of(item), self._count_of(item)
                self._queue.append((item, size, count, now))
                self._bytes += size
                self._count += count
            while self._count > self.limits.max_queued and len(self._queue) > 1:
                _, old_size, old_count, _ = self._queue.popleft()
                self._bytes -= old_size
                self._count -= old_count
                self.dropped += old_count
            self._cond.notify()

    def counters(self) -> dict[str, int | str]:
        with self._cond:
            queued = self._count
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped, "queued": queued,
                "batches": self.batches, "retried": self.retried, "last_error": self.last_error}  # fmt: skip

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (one try per batch) within `timeout_s`, then stop; what is left is dropped."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        log.info("plugin batcher stopped plugin=%s sent=%d failed=%d dropped=%d", self.name, self.sent, self.failed,
                 self.dropped)  # fmt: skip

    def _ready(self) -> float | None:
        """0 when a batch should go now, else the seconds until the oldest item is due; None when empty."""
        if not self._queue:
            return None
        lim = self.limits
        if self._stop or self._count >= lim.max_items or self._bytes >= lim.max_bytes:
            return 0.0
        return max(0.0, self._queue[0][3] + lim.max_delay_s - time.monotonic())

    def _take(self) -> list[T]:
        """The oldest items up to the limits (at least one: an item over them goes alone)."""
        batch: list[T] = []
        size = count = 0
        while self._queue:
            item, item_size, item_count, _ = self._queue[0]
            if batch and (size + item_size > self.limits.max_bytes or count + item_count > self.limits.max_items):
                break
            self._queue.popleft()
            self._bytes -= item_size
            self._count -= item_count
            size += item_size
            count += item_count
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    wait = self._ready()
                    if wait == 0.0:
                        break
                    if wait is None and self._stop:
                        return
                    self._cond.wait(wait)
                batch = self._take()
                stopping = self._stop
            self._deliver(batch, stopping)

    def _deliver(self, batch: list[T], stopping: bool) -> None:
        count = sum(self._count_of(item) for item in batch)
        attempt = 0
        while True:
            try:
                self._send(batch)
                self.sent += count
                self.batches += 1
                return
            except Exception as exc:  # a failed send is counted and logged; the plugin goes on
                error = f"{type(exc).__name__}: {exc}"
                if stopping or attempt >= self.limits.retries or not getattr(exc, "retryable", True):
                    self.failed += count
                    self._failed(error, count)
                    return
            attempt += 1
            self.retried += 1
            delay = min(self.limits.backoff_max_s, self.limits.backoff_s * 2 ** (attempt - 1))
            with self._cond:
                if self._cond.wait_for(lambda: self._stop, delay):
                    stopping = True  # one last try, then the close goes on

    def _failed(self, error: str, count: int) -> None:
        self.last_error = error[:500]
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning(
                "plugin batch failed plugin=%s items=%d error=%s sent=%d failed=%d dropped=%d",
                self.name, count, self.last_error, self.sent, self.failed, self.dropped,
            )  # fmt: skip


def table_slices(table: pa.Table, limits: BatchLimits) -> list[pa.Table]:
    """`table` cut (zero-copy) into slices no batch limit splits: rows by count and queue bound, and by the
    average row's bytes; for a plugin that queues the Arrow table it got (`count_of` = rows, `size_of` = nbytes)."""
    if table.num_rows == 0:
        return []
    row_bytes = max(1, table.nbytes // table.num_rows)
    rows = max(1, min(limits.max_items, limits.max_queued, limits.max_bytes // row_bytes))
    return [table.slice(i, rows) for i in range(0, table.num_rows, rows)]


def table_rows(table: pa.Table) -> int:
    return int(table.num_rows)


def table_bytes(table: pa.Table) -> int:
    return int(table.nbytes)


class PluginConfigError(ValueError):
    """A bad value in a plugin's table; the message names `[plugins.<name>] key` and the value."""


# the table keys `batch_limits` reads: name -> (BatchLimits field, type, lowest, highest)
BATCH_KEYS: dict[str, tuple[str, type, float, float]] = {
    "batch_size": ("max_items", int, 1, 100_000),
    "batch_bytes": ("max_bytes", int, 1024, 100_000_000),
    "batch_delay_s": ("max_delay_s", float, 0.01, 3600),
    "queue_max": ("max_queued", int, 1, 10_000_000),
    "retries": ("retries", int, 0, 100),
    "backoff_s": ("backoff_s", float, 0.001, 3600),
    "backoff_max_s": ("backoff_max_s", float, 0.001, 86_400),
}


def batch_limits(config: dict[str, object], where: str, defaults: BatchLimits = BatchLimits()) -> BatchLimits:
    """The batching keys of a plugin's table (`BATCH_KEYS`) over `defaults`; PluginConfigError naming a bad one."""
    values: dict[str, int | float] = {}
    for key, (name, kind, low, high) in BATCH_KEYS.items():
        if key not in config:
            continue
        value = config[key]
        ok = not isinstance(value, bool) and isinstance(value, int | float if kind is float else int)
        if not ok or not low <= value <= high:  # type: ignore[operator]
            raise PluginConfigError(f"[plugins.{where}] {key} = {value!r} must be a number in [{low}, {high}]")
        values[name] = kind(value)
    return replace(defaults, **values)  # type: ignore[arg-type]


def check_keys(config: dict[str, object], where: str, known: set[str]) -> None:
    """PluginConfigError naming the keys of a plugin's table it does not know."""
    unknown = sorted(set(config) - known - set(BATCH_KEYS))
    if unknown:
        raise PluginConfigError(f"[plugins.{where}]: unknown key(s) {unknown}; hint: see the plugin's README")


def string_list(config: dict[str, Any], where: str, key: str) -> list[str]:
    """A plugin table's list of strings (empty when absent), or PluginConfigError naming the key."""
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PluginConfigError(f"[plugins.{where}] {key} = {value!r} must be a list of strings")
    return value


def rows_of(spans: pa.Table) -> list[dict[str, Any]]:
    """A `spans_stored` table's rows as dicts, timestamps as epoch microseconds (what the plugins that send spans
    elsewhere encode: JSON and OTLP have no Arrow time type)."""
    columns = {}
    for name in spans.column_names:
        column = spans.column(name)
        columns[name] = column.cast(pa.int64()) if pa.types.is_timestamp(column.type) else column
    rows: list[dict[str, Any]] = pa.table(columns).to_pylist()
    return rows
