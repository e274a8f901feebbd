"""The pipeline loses nothing when a flush fails on the way, and decodes ahead without reordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope
from lynex_box.segments.store import SpanStore
from lynex_box.wal.records import RecordHeader, RecordType
from tests.segments.test_store import events, settings_for

COUNT = "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM spans"


def test_a_failed_flush_loses_no_span_and_duplicates_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.open(settings_for(tmp_path, max_rows=150))
    engine.pipeline.batch_records = 1  # one record per step: the head goes over its limit between steps
    try:
        for batch in range(8):  # the head outgrows max_rows on the way: the pipeline must flush
            header = RecordHeader("p", 1_790_000_000_000_000, "sdk")
            engine.append(RecordType.EVENTS, header, events("p", 100, start=batch * 100))
        real_flush = SpanStore.flush
        failures = []

        def failing_flush(self: SpanStore) -> int:
            if not failures:
                failures.append(1)
                raise OSError(28, "No space left on device")
            return real_flush(self)

        monkeypatch.setattr(SpanStore, "flush", failing_flush)
        with pytest.raises(OSError):
            engine.catch_up()
            engine.pipeline.wait_flushed()
        engine.catch_up()  # the records not appended are read again, not taken for retries of themselves
        engine.flush()
        assert failures
        counted = engine.query.run(SpanScope("p"), COUNT).to_pylist()[0]
        assert counted == {"n": 800, "ids": 800}
    finally:
        engine.close()


def test_decoding_ahead_keeps_the_wal_order(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    engine = Engine.open(settings)
    try:
        engine.pipeline.decode_threads = 2  # more steps in flight than the default
        engine.pipeline.batch_records = 1
        for batch in range(40):
            header = RecordHeader("p", 1_790_000_000_000_000 + batch, "sdk")
            engine.append(RecordType.EVENTS, header, events("p", 10, start=batch * 10))
        engine.catch_up()
        order = engine.query.run(SpanScope("p"), "SELECT event_id FROM spans ORDER BY ingested_at, event_id")
        assert len(order) == 400
        ingested = engine.query.run(SpanScope("p"), "SELECT count(DISTINCT ingested_at) AS n FROM spans")
        assert ingested.to_pylist() == [{"n": 40}]
    finally:
        engine.close()
