"""OTLP decode workers that fail: none of it may cost a record.

A worker that cannot start (EMFILE from socketpair, a real errno a busy server meets): the record is decoded in
the server, not skipped (the pipeline's cursor goes back when a hand-off raises) nor turned into nothing (a
resubmit that cannot start a worker decodes here), and a start is tried again after a pause. A worker that stops
answering (SIGSTOP) is killed after the answer timeout and its record decoded by a new one. The first two tests
failed on the code as first written (found by review).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope
from lynex_box.sources.otlp import decode_process
from lynex_box.sources.otlp.decode_process import DecodeProcess
from lynex_box.sources.otlp.decoder import otlp_decoders
from lynex_box.wal.records import RecordHeader, RecordType, decode_payload
from tests.segments.test_store import settings_for
from tests.sources.otlp.builders import trace_request
from tests.sources.otlp.test_decode_process import (
    LOCAL,
    PLAIN,
    PROTOBUF,
    RECORDS,
    as_table,
    assert_same,
    decode,
    wal_record,
)


def _emfile_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.socketpair
    calls = {"n": 0}

    def socketpair(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real(*args)

    monkeypatch.setattr(decode_process.socket, "socketpair", socketpair)


def _wait_lost(process: DecodeProcess, slot: int) -> None:
    worker = process._workers[slot]
    assert worker is not None
    with contextlib.suppress(psutil.NoSuchProcess):  # already reaped by the decoder: gone, which is what we wait for
        psutil.Process(worker.proc.pid).wait(10)
    deadline = time.monotonic() + 10
    while not worker.lost and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.lost


def test_a_worker_that_cannot_start_skips_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.open(settings_for(tmp_path))
    try:
        engine.pipeline.batch_records = 1
        body = trace_request(PLAIN[:20]).SerializeToString()
        per_record = as_table(decode(LOCAL[RecordType.OTLP_TRACES], wal_record(0, RecordType.OTLP_TRACES, body)))
        _emfile_once(monkeypatch)  # the first worker start meets a full fd table
        engine.append(RecordType.OTLP_TRACES, RecordHeader("proj-a", 1_700_000_000_000_000, "otlp", (), PROTOBUF), body)
        engine.catch_up()  # the record is decoded here while no worker can start
        counted = engine.query.run(SpanScope("proj-a"), "SELECT count(*) AS n FROM spans")
        assert counted.to_pylist()[0]["n"] == per_record.num_rows
    finally:
        engine.close()


def test_a_resubmit_that_cannot_start_a_worker_decodes_here(monkeypatch: pytest.MonkeyPatch) -> None:
    process = DecodeProcess(otlp_decoders(), workers=1)
    try:
        record = RECORDS["columns"]
        header, body = decode_payload(record.payload)
        local = decode(LOCAL[record.type], record)
        assert_same(process.decode(record, header, body), local)  # a worker runs
        [victim] = process.pids
        os.kill(victim, signal.SIGSTOP)  # it takes the request but does not answer
        sent = process.submit(record)
        os.kill(victim, signal.SIGKILL)  # it dies owing the answer: the resubmit starts a new worker
        _wait_lost(process, 0)
        _emfile_once(monkeypatch)
        assert_same(process.decode(record, header, body, sent), local)
    finally:
        process.close()


@pytest.fixture
def process() -> Iterator[DecodeProcess]:
    decoding = DecodeProcess(otlp_decoders(), workers=1)
    yield decoding
    decoding.close()


RECORD = RECORDS["columns"]
HEADER, BODY = decode_payload(RECORD.payload)
LOCAL_RESULT = decode(LOCAL[RECORD.type], RECORD)


def decoded_here_or_there(process: DecodeProcess) -> None:
    assert_same(process.decode(RECORD, HEADER, BODY), LOCAL_RESULT)


def test_a_worker_that_stops_answering_is_replaced_and_the_record_decoded(
    process: DecodeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_process, "ANSWER_TIMEOUT_S", 1.0)
    decoded_here_or_there(process)
    [wedged] = process.pids
    os.kill(wedged, signal.SIGSTOP)  # alive, but it will never answer
    started = time.monotonic()
    decoded_here_or_there(process)  # by a new worker, after the timeout
    assert time.monotonic() - started >= 1.0
    assert process.starts == 2 and process.pids not in ([], [wedged])
    assert not psutil.pid_exists(wedged) or psutil.Process(wedged).status() == psutil.STATUS_ZOMBIE


def test_after_a_failed_start_a_worker_is_started_again_later(
    process: DecodeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_process, "RETRY_START_S", 2.0)  # long enough that a slow box decodes twice within it
    _emfile_once(monkeypatch)
    decoded_here_or_there(process)  # here: no worker could start
    assert process.pids == [] and process.starts == 0
    decoded_here_or_there(process)  # still within the pause: here again
    assert process.starts == 0
    time.sleep(2.1)
    decoded_here_or_there(process)
    assert process.starts == 1 and process.pids != []
