"""The pipeline's applier of SCORES records: their scores into meta.db, in LSN order, each record exactly once.

The pipeline hands it every SCORES record of a step, in order, before the step's spans go to the head (see
`Pipeline._apply`). A record whose body is damaged is logged and skipped, as a span record would be: it can never
be stored, and it must not stop the records behind it. A failure to write (meta.db busy or its disk full) is
raised, so the pipeline reads the step again; `apply_batches` then skips what it had applied. In cluster mode
(`outbox`) the scores applied are also queued for cluster/scorelog.py, which publishes them to the other nodes.
"""

from __future__ import annotations

import logging

from lynex_box.meta.db import MetaDB
from lynex_box.plugins.events import NO_EVENTS, Events
from lynex_box.scores.record import ScoreRecordError, decode_scores
from lynex_box.scores.store import ScoreBatch, apply_batches
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader

log = logging.getLogger("lynex.scores")


class ScoreApplier:
    """`applier(items)` stores the scores of SCORES records (`(record, header, body)`, in LSN order)."""

    def __init__(self, db: MetaDB, outbox: bool = False, events: Events = NO_EVENTS) -> None:
        self.db = db
        self.events = events  # `score_written`, once a record's scores are in meta.db (a replay may repeat it)
        self.outbox = outbox  # cluster mode: queue what is applied for the other nodes (store.apply_batches)

    def __call__(self, items: list[tuple[WalRecord, RecordHeader, memoryview]]) -> None:
        batches: list[ScoreBatch] = []
        for record, header, body in items:
            try:
                scores, errors = decode_scores(body)
            except ScoreRecordError as exc:
                log.error("scores record skipped lsn=%d: %s", record.lsn, exc)
                scores, errors = [], []
            for error in errors:
                log.error("score skipped lsn=%d: %s", record.lsn, error)
            # an empty batch still counts as applied: the LSN it marks is what a replay compares with
            batches.append(ScoreBatch(record.lsn, header.project_id, header.received_us, scores))
        apply_batches(self.db, batches, self.outbox)
        if self.events.wants("score_written"):
            for batch in batches:
                if batch.scores:
                    self.events.emit("score_written", {
                        "project_id": batch.project_id, "count": len(batch.scores), "lsn": batch.lsn,
                        "received_us": batch.received_us,
                        "names": sorted({s.name for s in batch.scores})[:50],
                    })  # fmt: skip
