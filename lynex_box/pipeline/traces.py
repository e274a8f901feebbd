"""The `trace_completed` topic: which traces are open (got a span lately), and which went idle.

The pipeline hands each step's table to `TraceTracker.observe` (on its thread) only when some plugin subscribes to
`trace_completed`, so ingest pays nothing otherwise. A step is summarised per trace with pyarrow's group-by (count,
errors, start/end, the root span's name): the Python work is per trace of the step, never per span. `sweep`, run
by `run` in a worker thread about every second, completes the traces idle for `idle_s` and emits one event each.

The open table is bounded (`max_open`): when it is full, the trace without a new span for the longest is completed
early (`early: true`) to make room. A span of a trace completed before opens it again, so a late span yields a
second event. Nothing here is durable: open traces live in memory and are rebuilt only by what the WAL replay
reads at start (docs/plugins.md). It must never raise into the pipeline, nor block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.plugins.events import Events

log = logging.getLogger("lynex.pipeline")
TOPIC = "trace_completed"
SWEEP_MAX_S = 1.0  # the sweep runs this often at most (idle_s / 4 when that is shorter)
_KEYS = ["project_id", "trace_id"]

# [span_count, error_count, start_us, end_us, root_name, last_seen (clock)]: a list, not an object, to keep
# 100,000 open traces small and an update cheap
_Entry = list[Any]


def summarize(table: pa.Table) -> pa.Table:
    """One row per (project_id, trace_id) of `table`: span_count, error_count, start_us, end_us, root_name (the
    smallest name of the spans without a parent in `table`, else null). Pure and vectorised: one group-by, on one
    thread (measured faster than pyarrow's threads for a pipeline step's few thousand rows)."""
    start = table.column("start_time").cast(pa.int64())
    end = pc.coalesce(table.column("end_time").cast(pa.int64()), start)
    errors = pc.equal(pc.fill_null(table.column("status"), ""), "error").cast(pa.int64())
    is_root = pc.equal(pc.fill_null(table.column("parent_span_id"), ""), "")
    root = pc.if_else(is_root, pc.fill_null(table.column("name"), ""), pa.scalar(None, pa.string()))
    slim = pa.table({
        "project_id": table.column("project_id"), "trace_id": table.column("trace_id"),
        "start": start, "end": end, "error": errors, "root": root,
    })  # fmt: skip
    grouped = slim.group_by(_KEYS, use_threads=False).aggregate([
        ("trace_id", "count"), ("error", "sum"), ("start", "min"), ("end", "max"), ("root", "min"),
    ])  # fmt: skip
    return pa.table({
        "project_id": grouped.column("project_id"), "trace_id": grouped.column("trace_id"),
        "span_count": grouped.column("trace_id_count"), "error_count": grouped.column("error_sum"),
        "start_us": grouped.column("start_min"), "end_us": grouped.column("end_max"),
        "root_name": grouped.column("root_min"),
    })  # fmt: skip


class TraceTracker:
    """Open traces of this node, keyed by (project, trace), in order of their last new span (oldest first)."""

    def __init__(
        self, events: Events, idle_s: float, max_open: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.events = events
        self.idle_s = idle_s
        self.max_open = max_open
        self.clock = clock
        self.completed = 0  # events emitted since the start
        self.completed_early = 0  # of which because the open table was full
        self._open: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()  # observe (pipeline thread) against sweep (a worker thread)
        self._warned_at = -1e18

    @property
    def open_count(self) -> int:
        return len(self._open)

    def observe(self, table: pa.Table) -> None:
        """Count a step's spans into their open traces (opening new ones); complete the oldest when over the bound."""
        if not table.num_rows:
            return
        try:
            summary = summarize(table)
        except Exception:  # a summary must never stop the pipeline
            log.exception("trace_completed summary failed rows=%d", table.num_rows)
            return
        now = self.clock()
        evicted: list[tuple[tuple[str, str], _Entry]] = []
        cols = [summary.column(name).to_pylist() for name in summary.column_names]
        with self._lock:
            opened = self._open
            get, move = opened.get, opened.move_to_end
            for project, trace, count, errs, start, end, root in zip(*cols, strict=True):
                key = (project, trace)
                entry = get(key)
                if entry is None:
                    opened[key] = [count, errs, start, end, root, now]
                    continue
                entry[0] += count
                entry[1] += errs
                if start < entry[2]:
                    entry[2] = start
                if end > entry[3]:
                    entry[3] = end
                if entry[4] is None:
                    entry[4] = root
                entry[5] = now
                move(key)
            # over the bound: the traces without a new span for the longest go first (a step's own new traces last)
            while len(opened) > self.max_open:
                evicted.append(opened.popitem(last=False))
        if evicted:
            self.completed_early += len(evicted)
            self._warn_full(now)
            self._emit(evicted, early=True)

    def sweep(self) -> int:
        """Complete every trace without a new span for `idle_s`; returns how many."""
        cutoff = self.clock() - self.idle_s
        done: list[tuple[tuple[str, str], _Entry]] = []
        with self._lock:
            opened = self._open
            while opened:
                entry = next(iter(opened.values()))
                if entry[5] > cutoff:
                    break
                done.append(opened.popitem(last=False))
        if done:
            self._emit(done, early=False)
        return len(done)

    def _emit(self, done: list[tuple[tuple[str, str], _Entry]], early: bool) -> None:
        for (project, trace), (count, errs, start, end, root, _) in done:
            self.events.emit(TOPIC, {
                "project_id": project, "trace_id": trace, "span_count": count, "error_count": errs,
                "start_us": start, "end_us": end, "root_name": root, "early": early,
            })  # fmt: skip
        self.completed += len(done)

    def _warn_full(self, now: float) -> None:
        if now - self._warned_at >= 60:  # one line a minute at most
            self._warned_at = now
            log.warning(
                "trace_completed open traces at their bound max_open=%d completed_early=%d; "
                "hint: raise [plugins] trace_idle_max_open or lower trace_idle_s",
                self.max_open, self.completed_early,
            )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep about every second (idle_s / 4 when shorter) in a worker thread until `stop` is set."""
        every = max(0.05, min(SWEEP_MAX_S, self.idle_s / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:  # the sweep must outlive a bug in one pass
                log.exception("trace_completed sweep failed")
