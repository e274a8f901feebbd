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

from lynex_box.pipeline.decoders import Decoder, Row, default_decoders
from lynex_box.pipeline.dedupe import RecentIds
from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table
from lynex_box.segments.store import SpanStore
from lynex_box.wal.log import WalLog
from lynex_box.wal.reader import WalCursor
from lynex_box.wal.records import decode_payload

log = logging.getLogger("lynex.pipeline")

Enricher = Callable[[list[Row]], None]


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
    ) -> None:
        self.wal = wal
        self.store = store
        self.recent = recent
        self.enrichers = enrichers or []
        self.decoders = decoders or default_decoders()
        self.batch_records = batch_records
        self.cursor = WalCursor(wal.directory, store.next_lsn, lambda: wal.durable_lsn)
        self.spans_processed = 0
        self.last_batch_at = time.monotonic()

    def process_available(self) -> int:
        """Move every record durable now into the head (blocking). Returns records processed."""
        total = 0
        while True:
            records = self.cursor.read(self.batch_records)
            if not records:
                return total
            rows: list[Row] = []
            for record in records:
                rows.extend(self._decode(record))
            rows = [r for r in rows if self.recent.add_if_new(r["event_id"])]
            for enrich in self.enrichers:
                enrich(rows)
            self.store.append(rows_to_table(rows), records[0].lsn, records[-1].lsn)
            self.spans_processed += len(rows)
            self.last_batch_at = time.monotonic()
            total += len(records)

    def _decode(self, record: Any) -> list[Row]:
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
