"""Review findings on the OTLP decode workers: a failure to start a worker (here EMFILE from socketpair, a real
errno a busy server meets) must not cost a record.

Both tests fail on the code as reviewed (strict xfail: remove the marks with the fix): the record is skipped
(the pipeline's cursor is not reset when the first `_send_ahead` of a call raises), or decoded to nothing
(`decode` lets the resubmit's OSError out instead of decoding in this process; `Pipeline._decode` turns it
into []).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from lynex_box.engine import Engine
from lynex_box.pipeline import decode_process
from lynex_box.pipeline.decode_process import DecodeProcess
from lynex_box.pipeline.otlp_decoders import otlp_decoders
from lynex_box.query.engine import SpanScope
from lynex_box.wal.format import RecordType
from lynex_box.wal.records import RecordHeader, decode_payload
from tests.otlp.builders import trace_request
from tests.pipeline.test_decode_process import (
    LOCAL,
    PLAIN,
    PROTOBUF,
    RECORDS,
    as_table,
    assert_same,
    decode,
    wal_record,
)
from tests.segments.test_store import settings_for


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
    psutil.Process(worker.proc.pid).wait(10)
    deadline = time.monotonic() + 10
    while not worker.lost and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.lost


@pytest.mark.xfail(
    strict=True, reason="review: the first _send_ahead of a call raising leaves the cursor past the record"
)
def test_a_worker_that_cannot_start_skips_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.open(settings_for(tmp_path))
    try:
        engine.pipeline.batch_records = 1
        body = trace_request(PLAIN[:20]).SerializeToString()
        per_record = as_table(decode(LOCAL[RecordType.OTLP_TRACES], wal_record(0, RecordType.OTLP_TRACES, body)))
        _emfile_once(monkeypatch)  # the first worker start meets a full fd table
        engine.append(RecordType.OTLP_TRACES, RecordHeader("proj-a", 1_700_000_000_000_000, "otlp", (), PROTOBUF), body)
        with contextlib.suppress(OSError):  # as reviewed it raises; the server's pipeline task logs it and retries
            engine.catch_up()
        engine.catch_up()  # the retry
        counted = engine.query.run(SpanScope("proj-a"), "SELECT count(*) AS n FROM spans")
        assert counted.to_pylist()[0]["n"] == per_record.num_rows  # fails: 0, the record was skipped
    finally:
        engine.close()


@pytest.mark.xfail(strict=True, reason="review: decode lets the resubmit's OSError out; the pipeline yields []")
def test_a_resubmit_that_cannot_start_a_worker_decodes_here(monkeypatch: pytest.MonkeyPatch) -> None:
    process = DecodeProcess(otlp_decoders(), workers=1)
    try:
        record = RECORDS["columns"]
        header, body = decode_payload(record.payload)
        local = decode(LOCAL[record.type], record)
        assert_same(process.decode(record, header, body), local)  # a worker runs
        victim = process.pid
        assert victim is not None
        os.kill(victim, signal.SIGSTOP)  # it takes the request but does not answer
        sent = process.submit(record)
        os.kill(victim, signal.SIGKILL)  # it dies owing the answer: the resubmit starts a new worker
        _wait_lost(process, 0)
        _emfile_once(monkeypatch)
        # fails: OSError escapes (Pipeline._decode logs it and yields [] for the record) instead of a local decode
        assert_same(process.decode(record, header, body, sent), local)
    finally:
        process.close()
