"""The pipeline task: tail the WAL, decode, dedupe and enrich spans, append them to the head.

Processing happens in one worker thread at a time (records stay in LSN order) while the event loop
only waits to be woken by the WAL writer. Every record, even one that yields no span, advances the
head's WAL range, so the checkpoint can move past it. It must never skip a durable record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from lynex_box.pipeline.decoders import Decoder, Row, SpanColumns, default_decoders
from lynex_box.pipeline.dedupe import RecentIds, dedupe_key
from lynex_box.pipeline.native_batch import NativeBatchDecoder, reference_table
from lynex_box.pipeline.rowview import ColumnRows
from lynex_box.schema.span import SPAN_COLUMNS, SPAN_SCHEMA, spans_to_table
from lynex_box.segments.store import SpanStore
from lynex_box.wal.format import RecordType, WalRecord
from lynex_box.wal.log import WalLog
from lynex_box.wal.reader import WalCursor
from lynex_box.wal.records import RecordHeader, decode_payload

log = logging.getLogger("lynex.pipeline")

Enricher = Callable[[list[Row]], None]
BatchDecoder = Callable[[list[tuple[WalRecord, RecordHeader, memoryview]]], pa.Table]

# Decoded payload bytes one pipeline step holds at most: bounds the transient memory of a step.
STEP_MAX_BYTES = 4 * 1024 * 1024


def rows_to_table(rows: list[Row]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [r.get(name) for r in rows] for name in SPAN_COLUMNS}
    return spans_to_table(columns)


class Pipeline:
    """Moves durable WAL records into the span store's head."""

    def __init__(
        self,
        wal: WalLog,
        store: SpanStore,
        recent: RecentIds,
        enrichers: list[Enricher] | None = None,
        decoders: dict[int, Decoder] | None = None,
        batch_records: int = 64,
        batch_decoders: dict[int, BatchDecoder] | None = None,
    ) -> None:
        self.wal = wal
        self.store = store
        self.recent = recent
        self.enrichers = enrichers or []
        if batch_decoders is None:  # explicit per-record decoders are used as given
            batch_decoders = {RecordType.EVENTS: NativeBatchDecoder(threads=1)} if decoders is None else {}
        self.decoders = decoders or default_decoders()
        self.batch_decoders = batch_decoders
        self.batch_records = batch_records
        self.cursor = WalCursor(wal.directory, store.next_lsn, lambda: wal.durable_lsn)
        self.spans_processed = 0
        self.last_batch_at = time.monotonic()

    def process_available(self) -> int:
        """Move every record durable now into the head (blocking). Returns records processed.

        When the head outgrows its row or byte limit on the way, it is flushed right here: a long
        replay (or a flusher that fell behind) must not hold the whole backlog in memory.
        """
        total = 0
        while True:
            records = self.cursor.read(self.batch_records, STEP_MAX_BYTES)
            if not records:
                return total
            if self.store.over_limits():  # before adding more, not after: the last step stays in the head
                self.store.flush()
            records_from, records_to, count = records[0].lsn, records[-1].lsn, len(records)
            table = self._to_table(records)
            del records
            self.store.append(table, records_from, records_to)
            self.spans_processed += table.num_rows
            self.last_batch_at = time.monotonic()
            total += count

    def _to_table(self, records: list[WalRecord]) -> pa.Table:
        """Decode, dedupe (in LSN order) and enrich the spans of `records` into one table."""
        tables: list[pa.Table] = []
        rows: list[Row] = []
        filter_new = self.recent.filter_new
        start = 0
        while start < len(records):
            rtype = records[start].type
            end = start + 1
            if rtype in self.batch_decoders:  # a run of records of one type is decoded at once
                while end < len(records) and records[end].type == rtype:
                    end += 1
                decoded: list[pa.Table | list[Row] | SpanColumns] = [self._decode_batch(records[start:end])]
            else:
                decoded = [self._decode(records[start])]
            start = end
            for part in decoded:
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
        if self.enrichers and (rows or columnar is not None):
            view = ColumnRows(columnar) if columnar is not None else None
            every = (view.rows() if view is not None else []) + rows
            for enrich in self.enrichers:
                enrich(every)
            if view is not None:
                columnar = view.table()
        if rows or columnar is None:
            from_rows = rows_to_table(rows)
            return from_rows if columnar is None else pa.concat_tables([columnar, from_rows])
        return columnar

    def _decode_batch(self, records: list[WalRecord]) -> pa.Table:
        items = []
        for record in records:
            try:
                header, body = decode_payload(record.payload)
            except Exception:
                log.exception("wal record could not be decoded lsn=%d type=%d", record.lsn, record.type)
                continue
            items.append((record, header, body))
        try:
            return self.batch_decoders[records[0].type](items)
        except Exception:  # a bug in the fast path must not stop the pipeline: the reference decodes them
            log.exception("batch decode failed; decoding one record at a time records=%d", len(items))
            return pa.concat_tables([reference_table(*item) for item in items] or [SPAN_SCHEMA.empty_table()])

    def _decode(self, record: WalRecord) -> list[Row] | SpanColumns:
        decoder = self.decoders.get(record.type)
        if decoder is None:
            log.warning("wal record of unknown type skipped lsn=%d type=%d", record.lsn, record.type)
            return []
        try:
            header, body = decode_payload(record.payload)
            return decoder(record, header, body)
        except Exception:  # a record ingest accepted must not stop every record behind it
            log.exception("wal record could not be decoded lsn=%d type=%d", record.lsn, record.type)
            return []

    def caught_up(self) -> bool:
        return self.cursor.next_lsn > self.wal.durable_lsn

    async def run(self, stop: asyncio.Event, idle_poll_s: float) -> None:
        """Wake on every durable append (or every `idle_poll_s`) and process what is there."""
        wake = asyncio.Event()
        self.wal.add_listener(asyncio.get_running_loop(), wake)
        while not stop.is_set():
            await asyncio.to_thread(self.process_available)
            wake.clear()
            if not self.caught_up():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), idle_poll_s)
        await asyncio.to_thread(self.process_available)
