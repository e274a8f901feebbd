"""The pipeline task: tail the WAL, decode, dedupe and enrich spans, append them to the head; apply the records
whose effect lives elsewhere (scores, into meta.db).

Processing happens in one worker thread at a time (records stay in LSN order) while the event loop
only waits to be woken by the WAL writer. Every record, even one that yields no span, advances the
head's WAL range, so the checkpoint can move past it. It must never skip a durable record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.crashpoints import crash_point
from lynex_box.pipeline.decode.registry import DecoderRegistry
from lynex_box.pipeline.decode.types import BatchDecoder, BatchItem, Row, SpanColumns
from lynex_box.pipeline.dedupe import RecentIds, dedupe_key
from lynex_box.pipeline.progress import ProcessedWaiters
from lynex_box.pipeline.traces import TraceTracker
from lynex_box.plugins.events import NO_EVENTS, Events
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA, spans_to_table
from lynex_box.segments.head import sorted_by_start
from lynex_box.segments.store import SpanStore
from lynex_box.wal.format import WalRecord
from lynex_box.wal.log import WalLog
from lynex_box.wal.reader import WalCursor
from lynex_box.wal.records import PayloadError, decode_payload

log = logging.getLogger("lynex.pipeline")


class Enricher(Protocol):
    """Completes spans after decoding (the cost of a priced model): rows in place, a columnar batch as a new table."""

    def __call__(self, rows: list[Row]) -> None: ...

    def enrich_table(self, table: pa.Table) -> pa.Table: ...


class SpanHooks(Protocol):
    """Plugins' hooks on each decoded batch, after the enrichers (plugins/spanhooks.py): returns the batch to store,
    never raises for a plugin's failure (the batch then goes on as it was)."""

    @property
    def active(self) -> bool: ...

    def __call__(self, table: pa.Table) -> pa.Table: ...


# Applies records whose effect is not spans (SCORES: rows in meta.db) in LSN order; must skip a record it applied
# before (a step is read again after a failure, the WAL is replayed after a crash) and raise only to be retried.
Applier: TypeAlias = Callable[[list[BatchItem]], None]


# Decoded payload bytes one pipeline step holds at most: bounds the transient memory of a step.
STEP_MAX_BYTES = 4 * 1024 * 1024


def rows_to_table(rows: list[Row]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [r.get(name) for r in rows] for name in SPAN_COLUMNS}
    return spans_to_table(columns)


Part: TypeAlias = pa.Table | list[Row] | SpanColumns


@dataclass(slots=True)
class _Step:
    """Records of one pipeline step, being decoded by the pool; kept in LSN order in `_pending`."""

    lsn_from: int
    lsn_to: int
    count: int
    parts: Future[list[Part | WalRecord]]


class Pipeline:
    """Moves durable WAL records into the span store's head.

    Steps are decoded by a small thread pool ahead of time (DuckDB and zstd release the GIL, so two
    steps decode at once on two cores) while this thread dedupes, enriches and appends them strictly in
    LSN order; a head over its limits is flushed by another thread while the next steps go on. Records
    whose decoder keeps state across records (`Decoder.ordered`) are decoded here, in order, and so are
    records of an `appliers` type handed to their applier. The decoders come from `decoders`, filled by the
    sources; the pipeline closes them.
    """

    def __init__(
        self,
        wal: WalLog,
        store: SpanStore,
        recent: RecentIds,
        decoders: DecoderRegistry,
        enrichers: list[Enricher] | None = None,
        batch_records: int = 64,
        decode_threads: int = 1,
        appliers: dict[int, Applier] | None = None,
        events: Events = NO_EVENTS,
        traces: TraceTracker | None = None,
        span_hooks: SpanHooks | None = None,
        finishers: list[Enricher] | None = None,
    ) -> None:
        self.wal = wal
        self.span_hooks = span_hooks  # in-process plugins' enrichers and detectors, on each step's spans
        # `span_batch_stored` and `spans_stored` after each step reaches the head (only if someone subscribes)
        self.events = events
        self.traces = traces  # `trace_completed`: only when some plugin subscribes to it (engine.py)
        self.store = store
        self.recent = recent
        self.enrichers = enrichers or []
        self.finishers = finishers or []  # columnar stages after the plugins' hooks (raw-text sampling)
        self.decoders = decoders
        self.appliers = appliers or {}
        self.processed = ProcessedWaiters()
        self.batch_records = batch_records
        self.decode_threads = max(1, decode_threads)
        self.cursor = self._new_cursor()
        self.spans_processed = 0
        self.last_batch_at = time.monotonic()
        self._decode_pool = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="lynex-decode")
        self._flush_pool = ThreadPoolExecutor(1, thread_name_prefix="lynex-flush")
        self._flushing: Future[int] | None = None

    def process_available(self) -> int:
        """Move every record durable now into the head (blocking). Returns records processed.

        When the head outgrows its row or byte limit on the way, it is handed to the flush thread: a long
        replay (or a flusher that fell behind) must not hold the whole backlog in memory. At most one
        flush runs; a head that fills up again before it ends waits for it.
        """
        total = 0
        pending: deque[_Step] = deque()
        try:
            while True:
                while len(pending) <= self.decode_threads:  # one step more than threads: none of them idles
                    records = self.cursor.read(self.batch_records, STEP_MAX_BYTES)
                    if not records:
                        break
                    sent = self._send_ahead(records)
                    future = self._decode_pool.submit(self._decode_step, records, sent)
                    pending.append(_Step(records[0].lsn, records[-1].lsn, len(records), future))
                    del records
                if not pending:
                    return total
                step = pending.popleft()
                # Before this step's ids enter the dedupe window: a failed flush raised here leaves the
                # step to be read again, and not taken for a retry of itself. Before adding more, not
                # after: the last step stays in the head.
                if self.store.over_limits():
                    self._flush_in_background()
                # Applied before the step's ids enter the dedupe window too: a failure to apply reads the whole
                # step again, and the applier skips the records it had applied.
                parts = self._apply(step.parts.result())
                table = self._finish_step(parts)
                del parts
                self.store.append(table, step.lsn_from, step.lsn_to)
                self.processed.wake(step.lsn_to)
                if table.num_rows and self.events.wants("span_batch_stored"):
                    self._tell_stored(table, step.lsn_from, step.lsn_to)
                if table.num_rows and self.traces is not None:
                    self.traces.observe(table)
                if table.num_rows and self.events.wants("spans_stored"):
                    self._hand_spans(table, step.lsn_from, step.lsn_to)
                self.spans_processed += table.num_rows
                self.last_batch_at = time.monotonic()
                total += step.count
        except BaseException:
            # Records read but not appended (pending steps, a step being finished, records whose hand-off raised)
            # are read again next time: the cursor goes back to the head's end.
            for step in pending:
                step.parts.cancel()
            self.cursor = self._new_cursor()
            raise

    def _tell_stored(self, table: pa.Table, lsn_from: int, lsn_to: int) -> None:
        """One `span_batch_stored` event per project of the step: a summary (count, start time range), no spans."""
        try:
            slim = pa.table({"project_id": table.column("project_id"),
                             "start_time": table.column("start_time").cast(pa.int64())})  # fmt: skip
            grouped = slim.group_by("project_id").aggregate([("start_time", "min"), ("start_time", "max"),
                                                              ("project_id", "count")])  # fmt: skip
            for row in grouped.to_pylist():
                self.events.emit("span_batch_stored", {
                    "project_id": row["project_id"], "count": row["project_id_count"],
                    "start_min_us": row["start_time_min"], "start_max_us": row["start_time_max"],
                    "lsn_from": lsn_from, "lsn_to": lsn_to,
                })  # fmt: skip
        except Exception:  # a summary must never stop the pipeline
            log.exception("span_batch_stored summary failed lsn=%d..%d", lsn_from, lsn_to)

    def _hand_spans(self, table: pa.Table, lsn_from: int, lsn_to: int) -> None:
        """One `spans_stored` event per project of the step, with its spans: the step's own table when it holds one
        project (the usual case: nothing is copied), else a filtered table per project. Arrow tables are immutable,
        so every subscriber gets the same one."""
        try:
            projects = table.column("project_id").unique().to_pylist()
            for project_id in projects:
                spans = table if len(projects) == 1 else table.filter(pc.equal(table.column("project_id"), project_id))
                self.events.emit("spans_stored", {
                    "project_id": project_id, "spans": spans, "lsn_from": lsn_from, "lsn_to": lsn_to,
                })  # fmt: skip
        except Exception:  # handing spans to plugins must never stop the pipeline
            log.exception("spans_stored failed lsn=%d..%d", lsn_from, lsn_to)

    def _new_cursor(self) -> WalCursor:
        """A cursor at the head's end; it takes the payloads the WAL writer still holds instead of decompressing."""
        wal = self.wal
        return WalCursor(wal.directory, self.store.next_lsn, lambda: wal.durable_lsn, wal.take_payload)

    def _flush_in_background(self) -> None:
        """Start a flush of the head; first wait for the one running (and raise what it raised)."""
        self.wait_flushed()
        self._flushing = self._flush_pool.submit(self.store.flush)

    def wait_flushed(self) -> None:
        """Wait for a background flush to end; raise what it raised."""
        if self._flushing is not None:
            running, self._flushing = self._flushing, None
            running.result()

    def close(self) -> None:
        """Stop the decode and flush threads (after the running flush ends)."""
        try:
            self.wait_flushed()
        finally:
            # Workers first: a decode waiting on one (wedged, say) then decodes here and the pool can end.
            self.decoders.close()
            self._decode_pool.shutdown(wait=True, cancel_futures=True)
            self._flush_pool.shutdown(wait=True)

    def _send_ahead(self, records: list[WalRecord]) -> dict[int, Future[Any]]:
        """Hand records to decoders that work elsewhere (`submit`: the OTLP decode workers) as soon as they are read,
        so those processes decode this step while the ones before it are finished here; by LSN."""
        sent: dict[int, Future[Any]] = {}
        for record in records:
            decoder = self.decoders.get(record.type)
            if decoder is not None and (future := decoder.submit(record)) is not None:
                sent[record.lsn] = future
        return sent

    def _decode_step(self, records: list[WalRecord], sent: dict[int, Future[Any]]) -> list[Part | WalRecord]:
        """Decoded parts of `records` in LSN order (in a pool thread); ordered decoders' records stay records."""
        parts: list[Part | WalRecord] = []
        start = 0
        while start < len(records):
            rtype = records[start].type
            end = start + 1
            batch = self.decoders.batch(rtype)
            if batch is not None:  # a run of records of one type is decoded at once
                while end < len(records) and records[end].type == rtype:
                    end += 1
                parts.append(sorted_by_start(self._decode_batch(batch, records[start:end])))  # not in the serial part
            elif rtype in self.appliers or ((decoder := self.decoders.get(rtype)) is not None and decoder.ordered):
                parts.append(records[start])
            else:
                parts.append(self._decode(records[start], sent.get(records[start].lsn)))
            start = end
        return parts

    def _apply(self, decoded: list[Part | WalRecord]) -> list[Part | WalRecord]:
        """Hand the step's records of an `appliers` type to their applier (in LSN order); return the other parts."""
        if not self.appliers:
            return decoded
        rest: list[Part | WalRecord] = []
        found: dict[int, list[BatchItem]] = {}
        for part in decoded:
            if not isinstance(part, WalRecord) or part.type not in self.appliers:
                rest.append(part)
                continue
            try:
                header, body = decode_payload(part.payload)
            except PayloadError:  # it can never be applied: it must not stop every record behind it
                log.exception("wal record could not be decoded lsn=%d type=%d", part.lsn, part.type)
                continue
            found.setdefault(part.type, []).append((part, header, body))
        for rtype, items in found.items():
            self.appliers[rtype](items)
            crash_point("pipeline.after_apply")  # applied, not in the head: a replay reads the records again
        return rest

    def _finish_step(self, decoded: list[Part | WalRecord]) -> pa.Table:
        """Dedupe (in LSN order) and enrich the decoded parts of one step into one table; then the plugins' hooks."""
        table = self._enriched(decoded)
        hooks = self.span_hooks
        if hooks is not None and hooks.active and table.num_rows:
            table = hooks(table)
        for finish in self.finishers:  # after the plugins' detectors, whose flags they may read
            if table.num_rows:
                table = finish.enrich_table(table)
        return table

    def _enriched(self, decoded: list[Part | WalRecord]) -> pa.Table:
        tables: list[pa.Table] = []
        rows: list[Row] = []
        filter_new = self.recent.filter_new
        for part in decoded:
            if isinstance(part, WalRecord):
                part = self._decode(part)
            if isinstance(part, list):
                fresh = filter_new([dedupe_key(r["project_id"], r["event_id"]) for r in part])
                rows.extend(r for r, new in zip(part, fresh, strict=True) if new)
                continue
            table = part if isinstance(part, pa.Table) else spans_to_table(part)
            keys = zip(table.column("project_id").to_pylist(), table.column("event_id").to_pylist(), strict=True)
            keep = filter_new([dedupe_key(project, event) for project, event in keys])
            if not all(keep):
                table = table.filter(pa.array(keep, pa.bool_()))
            if table.num_rows:
                tables.append(table)
        columnar = pa.concat_tables(tables) if tables else None
        for enrich in self.enrichers:  # columns stay columns: no row view per span
            if columnar is not None:
                columnar = enrich.enrich_table(columnar)
            if rows:
                enrich(rows)
        if rows or columnar is None:
            from_rows = rows_to_table(rows)
            return from_rows if columnar is None else pa.concat_tables([columnar, from_rows])
        return columnar

    def _decode_batch(self, batch: BatchDecoder, records: list[WalRecord]) -> pa.Table:
        items = []
        for record in records:
            try:
                header, body = decode_payload(record.payload)
            except Exception:
                log.exception("wal record could not be decoded lsn=%d type=%d", record.lsn, record.type)
                continue
            items.append((record, header, body))
        try:
            return batch(items)
        except Exception:  # a bug in the fast path must not stop the pipeline: the reference decodes them
            log.exception("batch decode failed; decoding one record at a time records=%d", len(items))
            return pa.concat_tables([batch.one(*item) for item in items] or [SPAN_SCHEMA.empty_table()])

    def _decode(self, record: WalRecord, sent: Future[Any] | None = None) -> list[Row] | SpanColumns:
        decoder = self.decoders.get(record.type)
        if decoder is None:
            log.warning("wal record of unknown type skipped lsn=%d type=%d", record.lsn, record.type)
            return []
        try:
            header, body = decode_payload(record.payload)
            return decoder(record, header, body, sent)  # one that took the record ahead (`submit`) takes its answer
        except Exception:  # a record ingest accepted must not stop every record behind it
            log.exception("wal record could not be decoded lsn=%d type=%d", record.lsn, record.type)
            return []

    async def wait_processed(self, lsn: int, timeout_s: float) -> bool:
        """Wait until the record at `lsn` is processed (applied, or its spans in the head); False after `timeout_s`."""
        return await self.processed.wait(lsn, lambda: self.store.next_lsn - 1, timeout_s)

    def caught_up(self) -> bool:
        return self.cursor.next_lsn > self.wal.durable_lsn

    async def run(self, stop: asyncio.Event, idle_poll_s: float) -> None:
        """Wake on every durable append (or every `idle_poll_s`) and process what is there.

        A failing step (a flush that hits a full disk, say) is logged and retried after a pause: the
        records stay in the WAL, and the pipeline must outlive the failure rather than end silently.
        """
        wake = asyncio.Event()
        self.wal.add_listener(asyncio.get_running_loop(), wake)
        retry_s = idle_poll_s
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.process_available)
            except Exception:
                log.exception("pipeline step failed; retrying in %.1f s", retry_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_s)
                retry_s = min(retry_s * 2, 30.0)
                continue
            retry_s = idle_poll_s
            wake.clear()
            if not self.caught_up():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), idle_poll_s)
        await asyncio.to_thread(self.process_available)
