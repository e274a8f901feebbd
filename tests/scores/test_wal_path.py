"""Scores go through the WAL: a SCORES record is applied to meta.db by the pipeline, each record exactly once.

Through the real engine (WAL, pipeline, meta.db) and read back with `list_scores`, the score routes' read path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lynex_box.auth.admin import create_org, create_project
from lynex_box.engine import Engine
from lynex_box.meta.db import MetaDB
from lynex_box.query.engine import SpanScope
from lynex_box.scores import (
    Score,
    ScoreBatch,
    ScoreFilter,
    applied_lsn,
    apply_batches,
    encode_scores,
    list_scores,
    parse_score,
)
from lynex_box.wal.records import RecordHeader, RecordType
from tests.segments.test_store import events, settings_for


def score(score_id: str, value: float, trace: str = "t1") -> Score:
    return parse_score({"id": score_id, "trace_id": trace, "name": "accuracy", "value": value})


def project_in(db: MetaDB) -> str:
    return create_project(db, "p", create_org(db, "o"))


def stored(db: MetaDB, project: str) -> dict[str, float | None]:
    return {s.id: s.value for s in list_scores(db, project, ScoreFilter(), 1000)}


def append_scores(engine: Engine, project: str, scores: list[Score]) -> int:
    return engine.append(RecordType.SCORES, RecordHeader(project, time.time_ns() // 1000, "sdk"), encode_scores(scores))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = Engine.open(settings_for(tmp_path))
    yield opened
    opened.close()


def test_a_scores_record_is_applied_by_the_pipeline(engine: Engine) -> None:
    project = project_in(engine.meta)
    first = append_scores(engine, project, [score("s1", 0.5), score("s2", 1.0)])
    last = append_scores(engine, project, [score("s1", 0.75)])  # the same id again replaces it
    assert stored(engine.meta, project) == {}  # durable, not applied yet
    engine.catch_up()
    assert stored(engine.meta, project) == {"s1": 0.75, "s2": 1.0}
    assert first < last == applied_lsn(engine.meta)


def test_a_record_applied_before_is_not_applied_again(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    try:
        project = project_in(db)
        batch = ScoreBatch(5, project, 1_790_000_000_000_000, [score("s1", 0.5)])
        assert apply_batches(db, [batch]) == 1
        db.write(lambda conn: conn.execute("DELETE FROM scores"))  # e.g. an erasure after it was applied
        assert apply_batches(db, [batch]) == 0  # a replay of the record: skipped, the score stays deleted
        assert stored(db, project) == {}
        assert apply_batches(db, [ScoreBatch(6, project, 1_790_000_000_000_001, [score("s2", 1.0)])]) == 1
        assert stored(db, project) == {"s2": 1.0} and applied_lsn(db) == 6
    finally:
        db.close()


def test_a_record_sqlite_refuses_is_skipped_and_the_others_applied(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    try:
        project = project_in(db)
        batches = [
            ScoreBatch(1, project, 1, [score("s1", 0.5)]),
            ScoreBatch(2, "no-such-project", 2, [score("s2", 0.5)]),  # the scores table's foreign key refuses it
            ScoreBatch(3, project, 3, [score("s3", 0.5)]),
        ]
        assert apply_batches(db, batches) == 2
        assert stored(db, project) == {"s1": 0.5, "s3": 0.5} and applied_lsn(db) == 3
        assert db.read("SELECT count(*) FROM scores")[0][0] == 2
    finally:
        db.close()


def test_a_wal_that_lost_its_tail_gives_no_new_record_an_lsn_taken_for_applied(tmp_path: Path) -> None:
    # meta.db has applied scores up to LSN 50 while the WAL holds nothing (a restored backup, a lost tail): the next
    # record is numbered 1 again, and must not be skipped as applied (its acknowledged scores would be lost).
    db = MetaDB(tmp_path / "meta.db")
    project = project_in(db)
    apply_batches(db, [ScoreBatch(50, project, 1, [score("old", 0.5)])])
    db.close()
    engine = Engine.open(settings_for(tmp_path))
    try:
        assert append_scores(engine, project, [score("new", 1.0)]) == 1
        engine.catch_up()
        assert stored(engine.meta, project) == {"old": 0.5, "new": 1.0} and applied_lsn(engine.meta) == 1
    finally:
        engine.close()


def test_a_failure_to_apply_reads_the_step_again_and_loses_no_span(engine: Engine) -> None:
    project = project_in(engine.meta)
    real = engine.pipeline.appliers[RecordType.SCORES]
    calls: list[int] = []

    def fails_once(items: list[Any]) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            raise OSError("disk full")
        real(items)

    engine.pipeline.appliers[RecordType.SCORES] = fails_once
    header = RecordHeader(project, time.time_ns() // 1000, "sdk")
    engine.append(RecordType.EVENTS, header, events(project, 8))
    append_scores(engine, project, [score("s1", 0.5)])
    engine.append(RecordType.EVENTS, header, events(project, 8, start=8))  # one step: spans, scores, spans
    with pytest.raises(OSError):
        engine.catch_up()
    engine.catch_up()
    assert calls == [1, 1] and stored(engine.meta, project) == {"s1": 0.5}
    counted = engine.query.run(SpanScope(project), "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM spans")
    assert counted.to_pylist() == [{"n": 16, "d": 16}]


def test_the_wait_for_a_record_ends_when_the_pipeline_processed_it(engine: Engine) -> None:
    import asyncio

    project = project_in(engine.meta)
    lsn = append_scores(engine, project, [score("s1", 0.5)])

    async def waits() -> tuple[bool, bool]:
        missed = await engine.wait_processed(lsn, 0.05)  # nothing processes it here
        await asyncio.to_thread(engine.catch_up)
        return missed, await engine.wait_processed(lsn, 5.0)

    assert asyncio.run(waits()) == (False, True)


def test_whatever_a_record_decodes_to_is_stored(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A score the decoder accepts must store: any other error would stop the pipeline on that record for good."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from lynex_box.scores import decode_scores
    from tests.scores.test_record import _JSON, _WHOLE

    db = MetaDB(tmp_path_factory.mktemp("scores") / "meta.db")
    project = project_in(db)
    lsn = iter(range(1, 10**6))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(sorted(_WHOLE["scores"][0])), _JSON)
    def store(field: str, value: object) -> None:
        scores, _ = decode_scores(orjson.dumps({"scores": [{**_WHOLE["scores"][0], field: value}]}))
        assert apply_batches(db, [ScoreBatch(next(lsn), project, 1, scores)]) == 1

    try:
        store()
    finally:
        db.close()
