"""OTLP decoding in the worker process gives what decoding in the server gives; a killed worker loses no record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pyarrow as pa
import pytest

from lynex_box.engine import Engine
from lynex_box.pipeline.runner import rows_to_table
from lynex_box.query.engine import SpanScope
from lynex_box.schema.span import spans_to_table
from lynex_box.sources.otlp import conventions
from lynex_box.sources.otlp.decode_process import DecodeProcess
from lynex_box.sources.otlp.decoder import otlp_decoders
from lynex_box.sources.otlp.worker_protocol import RemoteDecodeError
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType, decode_payload, encode_payload
from tests.segments.test_store import settings_for
from tests.sources.otlp.builders import json_trace_body, log_request, trace_request
from tests.sources.otlp.test_mapping_equivalence import _no_none, generated_spans

LOCAL = otlp_decoders()
PROTOBUF = "application/x-protobuf"


def protobuf_spans(count: int, seed: int = 7) -> list[Any]:
    """Generated spans of every convention the mapping knows, minus what a protobuf request cannot carry."""
    spans = []
    for span in generated_spans(count, seed=seed):
        if span.parent_span_id is not None and len(span.parent_span_id) % 2:
            continue
        span.attributes = _no_none(span.attributes)
        for event in span.events:
            event.attributes = _no_none(event.attributes)
        spans.append(span)
    return spans


SPANS = protobuf_spans(600)
HINTED = set(conventions.INT_SOURCES["_cache_write_tokens"])
PLAIN = [span for span in SPANS if HINTED.isdisjoint(span.attributes)]
LOGS = [
    {"event_name": "gen_ai.user.message", "body": {"content": "hello"}, "attributes": {"gen_ai.system": "openai"}},
    {"event_name": "gen_ai.choice", "body": {"index": 0, "message": {"content": "hi", "role": "assistant"}}},
    {"event_name": "not.genai", "body": "skipped"},
    {"event_name": "gen_ai.tool.message", "body": {"content": "42", "id": "c1"}, "span_id": "00f067aa0ba902b7"},
]


def wal_record(
    lsn: int, rtype: RecordType, body: bytes, content_type: str = PROTOBUF, skip: tuple[int, ...] = ()
) -> WalRecord:
    header = RecordHeader("proj", 1_700_000_000_000_001 + lsn, "otlp", skip, content_type)
    return WalRecord(lsn, rtype, encode_payload(header, body))


JSON_LOG = {
    "traceId": "0af7651916cd43dd8448eb211c80319c",
    "spanId": "b7ad6b7169203331",
    "timeUnixNano": "1700000000000000000",
    "eventName": "gen_ai.user.message",
    "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "from json"}}]}},
}
JSON_LOGS = {"resourceLogs": [{"scopeLogs": [{"logRecords": [JSON_LOG]}]}]}
RECORDS = {
    "columns": wal_record(1, RecordType.OTLP_TRACES, trace_request(PLAIN).SerializeToString()),
    "rows with a cost hint": wal_record(2, RecordType.OTLP_TRACES, trace_request(SPANS).SerializeToString()),
    "skip": wal_record(3, RecordType.OTLP_TRACES, trace_request(PLAIN).SerializeToString(), skip=(0, 3, 10, 11)),
    "json": wal_record(4, RecordType.OTLP_TRACES, json_trace_body(PLAIN[:50]), "application/json"),
    "logs": wal_record(5, RecordType.OTLP_LOGS, log_request(LOGS).SerializeToString()),
    "json logs": wal_record(6, RecordType.OTLP_LOGS, orjson.dumps(JSON_LOGS), "application/json"),
}


def decode(decoder: Any, record: WalRecord) -> Any:
    header, body = decode_payload(record.payload)
    return decoder(record, header, body)


def as_table(part: Any) -> pa.Table:
    return rows_to_table(part) if isinstance(part, list) else spans_to_table(part)


@pytest.fixture
def process() -> Iterator[DecodeProcess]:
    decoding = DecodeProcess(otlp_decoders())
    yield decoding
    decoding.close()


def assert_same(remote: Any, local: Any) -> None:
    assert isinstance(remote, list) is isinstance(local, list)  # rows stay rows (the cost hint), columns columns
    if isinstance(local, list):
        assert remote == local
    assert as_table(remote).equals(as_table(local))


@pytest.mark.parametrize("name", list(RECORDS))
def test_the_worker_decodes_like_the_server(process: DecodeProcess, name: str) -> None:
    record = RECORDS[name]
    remote = decode(process.decoders()[record.type], record)
    local = decode(LOCAL[record.type], record)
    assert_same(remote, local)
    assert as_table(local).num_rows >= (1 if "logs" in name else 40)
    assert process.pids != [] and os.getpid() not in process.pids


def test_a_body_the_decoder_refuses_raises_in_the_server_too(process: DecodeProcess) -> None:
    record = wal_record(9, RecordType.OTLP_TRACES, b"\xff\xff not protobuf")
    with pytest.raises(Exception, match="OtlpDecodeError"):  # the pipeline logs it and stores nothing, as before
        decode(process.decoders()[record.type], record)
    with pytest.raises(RemoteDecodeError):
        decode(process.decoders()[record.type], record)
    assert_same(
        decode(process.decoders()[RecordType.OTLP_LOGS], RECORDS["logs"]),
        decode(LOCAL[RecordType.OTLP_LOGS], RECORDS["logs"]),
    )


def test_the_worker_logs_through_the_server(process: DecodeProcess, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="lynex.pipeline"):
        decode(process.decoders()[RecordType.OTLP_TRACES], RECORDS["columns"])  # the generator makes some bad ids
    assert any("otlp spans not mapped lsn=1" in r.getMessage() for r in caplog.records)


def test_a_killed_worker_is_replaced_and_the_record_decoded(process: DecodeProcess) -> None:
    record = RECORDS["columns"]
    decoder = process.decoders()[record.type]
    local = decode(LOCAL[record.type], record)
    assert_same(decode(decoder, record), local)
    [first] = process.pids
    os.kill(first, signal.SIGKILL)
    psutil.Process(first).wait(10)
    assert_same(decode(decoder, record), local)  # between records
    assert process.pids not in ([], [first]) and process.starts == 2

    big = wal_record(20, RecordType.OTLP_TRACES, trace_request(protobuf_spans(3000, seed=3)).SerializeToString())
    expected = decode(LOCAL[big.type], big)
    for _ in range(3):  # during a decode (the kill lands while the worker reads or maps the record)
        started = process.starts
        [victim] = process.pids
        killer = threading.Timer(0.02, os.kill, (victim, signal.SIGKILL))
        killer.start()
        assert_same(decode(decoder, big), expected)
        killer.join()
        if process.starts > started:
            break
    assert process.starts > started and process.pids != [victim]


def test_records_sent_ahead_are_answered_in_order(process: DecodeProcess) -> None:
    records = list(RECORDS.values()) * 2
    sent = [process.submit(record) for record in records]  # all queued before the first answer is read
    for record, future in zip(records, sent, strict=True):
        header, body = decode_payload(record.payload)
        assert_same(process.decode(record, header, body, future), decode(LOCAL[record.type], record))
    assert process.starts == 1


def test_a_worker_killed_with_records_sent_ahead_loses_none(process: DecodeProcess) -> None:
    bodies = [trace_request(protobuf_spans(1500, seed=seed)).SerializeToString() for seed in (11, 12, 13, 14)]
    records = [wal_record(30 + i, RecordType.OTLP_TRACES, body) for i, body in enumerate(bodies)]
    expected = [decode(LOCAL[r.type], r) for r in records]
    decode(process.decoders()[RecordType.OTLP_LOGS], RECORDS["logs"])  # a worker is running
    [victim] = process.pids
    sent = [process.submit(record) for record in records]
    os.kill(victim, signal.SIGKILL)  # while it owes every answer
    for record, future, local in zip(records, sent, expected, strict=True):
        header, body = decode_payload(record.payload)
        assert_same(process.decode(record, header, body, future), local)
    assert process.starts == 2 and process.pids not in ([], [victim])


def test_records_sent_from_two_threads_at_once_each_get_their_own_answer(process: DecodeProcess) -> None:
    logs = log_request(LOGS).SerializeToString()
    records = [wal_record(100 + i, RecordType.OTLP_LOGS, logs) for i in range(80)]  # event ids carry the lsn
    sent: dict[int, Any] = {}

    def send(mine: list[WalRecord]) -> None:
        for record in mine:
            sent[record.lsn] = process.submit(record)

    threads = [threading.Thread(target=send, args=(records[k::2],)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for record in records:
        header, body = decode_payload(record.payload)
        assert_same(process.decode(record, header, body, sent[record.lsn]), decode(LOCAL[record.type], record))


def test_two_workers_take_records_in_turn_and_answers_keep_their_order() -> None:
    decoding = DecodeProcess(otlp_decoders(), workers=2)
    try:
        records = [wal_record(40 + i, RecordType.OTLP_TRACES, trace_request(PLAIN[i::5]).SerializeToString())
                   for i in range(5)] + [RECORDS["logs"], RECORDS["json"]]  # fmt: skip
        sent = [decoding.submit(record) for record in records]
        assert len(set(decoding.pids)) == 2 and os.getpid() not in decoding.pids
        for record, future in zip(records, sent, strict=True):
            header, body = decode_payload(record.payload)
            assert_same(decoding.decode(record, header, body, future), decode(LOCAL[record.type], record))

        victim = decoding.pids[1]
        bodies = [trace_request(protobuf_spans(1500, seed=seed)).SerializeToString() for seed in (21, 22, 23, 24)]
        big = [wal_record(50 + i, RecordType.OTLP_TRACES, body) for i, body in enumerate(bodies)]
        expected = [decode(LOCAL[r.type], r) for r in big]
        sent = [decoding.submit(record) for record in big]
        os.kill(victim, signal.SIGKILL)  # one of the two dies owing answers; the other goes on
        for record, future, local in zip(big, sent, expected, strict=True):
            header, body = decode_payload(record.payload)
            assert_same(decoding.decode(record, header, body, future), local)
        assert decoding.starts == 3 and victim not in decoding.pids
    finally:
        decoding.close()
    assert decoding.pids == []


def test_close_leaves_no_process(process: DecodeProcess) -> None:
    decode(process.decoders()[RecordType.OTLP_LOGS], RECORDS["logs"])
    worker = psutil.Process(process.pids[0])
    process.close()
    assert process.pids == []
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    # a record after close (there should be none) is still decoded, here, and starts no process
    assert_same(
        decode(process.decoders()[RecordType.OTLP_LOGS], RECORDS["logs"]),
        decode(LOCAL[RecordType.OTLP_LOGS], RECORDS["logs"]),
    )
    assert process.pids == []


CHILD = """
import os, sys
from tests.sources.otlp.test_decode_process import RECORDS, decode
from lynex_box.sources.otlp.decode_process import DecodeProcess
from lynex_box.sources.otlp.decoder import otlp_decoders
from lynex_box.sources.otlp.worker_protocol import RemoteDecodeError
process = DecodeProcess(otlp_decoders())
decode(process.decoders()[RECORDS["logs"].type], RECORDS["logs"])
print(process.pids[0], flush=True)
sys.stdin.read()
"""


def test_the_worker_exits_when_the_server_dies() -> None:
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=root
    ) as server:  # closes its pipes
        try:
            assert server.stdout is not None
            worker = psutil.Process(int(server.stdout.readline()))
            assert worker.ppid() == server.pid
            server.kill()  # no close(): the worker sees EOF on its socket when the kernel closes the dead one's end
            server.wait(10)
            deadline = time.monotonic() + 10
            while worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
        finally:
            server.kill()


def test_the_engine_loses_no_record_when_the_worker_is_killed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert settings.pipeline.otlp_decode_process  # the default
    bodies = [trace_request(PLAIN[i::4]).SerializeToString() for i in range(4)]
    per_round = sum(
        as_table(decode(LOCAL[RecordType.OTLP_TRACES], wal_record(0, RecordType.OTLP_TRACES, b))).num_rows
        for b in bodies
    )
    assert settings.pipeline.otlp_decode_workers == 2  # the default: records go to two workers in turn
    engine = Engine.open(settings)
    workers = []
    try:
        engine.pipeline.batch_records = 1
        process = getattr(engine.pipeline.decoders[RecordType.OTLP_TRACES], "process")  # noqa: B009
        for round_no in range(3):  # a project per round: the same spans again are not duplicates
            for body in bodies:
                header = RecordHeader(f"proj-{round_no}", 1_700_000_000_000_000, "otlp", (), PROTOBUF)
                engine.append(RecordType.OTLP_TRACES, header, body)
            if round_no == 1:
                os.kill(process.pids[0], signal.SIGKILL)  # the next record finds it dead
                psutil.Process(process.pids[0]).wait(10)
            engine.catch_up()
            workers.append(psutil.Process(process.pids[0]))
            assert len(set(process.pids)) == 2
        assert workers[0].pid != workers[2].pid and process.starts == 3
        for round_no in range(3):
            counted = engine.query.run(
                SpanScope(f"proj-{round_no}"), "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM spans"
            )
            assert counted.to_pylist()[0] == {"n": per_round, "ids": per_round}
    finally:
        engine.close()
    assert not workers[2].is_running()  # closed and reaped with the engine
    assert process.pids == []
