"""Fuzz targets: one function per decoder, taking arbitrary bytes and asserting the decoder's contract.

The contract: for any input a decoder returns a value or raises its own declared error type (ApiError with a 4xx
status, OtlpDecodeError, InvalidBatch, FrameError, PayloadError, ScoreRecordError, ConfigError), never KeyError,
TypeError, RecursionError, UnicodeDecodeError or the like; and whatever ingest accepts, the pipeline decodes without
raising. Any other exception escapes the target: that is the finding. Shared by the hypothesis tests in the normal
run (tests/*/test_fuzz_*.py, bounded) and by `bench/fuzz.py` for long coverage-guided campaigns with atheris.
"""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import zstandard

from lynex_box.api.errors import ApiError
from lynex_box.api.ingest.events import parse_events
from lynex_box.api.jsonbody import parse_json
from lynex_box.api.params import decode_cursor
from lynex_box.config import ConfigError, IngestSettings, load_settings
from lynex_box.scores import ScoreRecordError, decode_scores, encode_scores, parse_score
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.langfuse import InvalidBatch, plan_batch
from lynex_box.sources.otlp.check import check_traces
from lynex_box.sources.otlp.decode import (
    decode_logs_json,
    decode_logs_protobuf,
    decode_traces_json,
    decode_traces_protobuf,
)
from lynex_box.sources.otlp.records import OtlpDecodeError
from lynex_box.wal.format import FrameError, WalRecord, compress_payload, decode_record_at, encode_record
from lynex_box.wal.records import PayloadError, RecordHeader, RecordType, decode_payload, encode_payload

LIMITS = IngestSettings(max_body_bytes=1 << 20, max_events_per_request=1000, max_field_bytes=4096)
WINDOW = TimeWindow.at(LIMITS, 1_790_000_000_000_000)
PROJECT = "p-fuzz"


def client_error(exc: ApiError) -> None:
    """An ApiError is the declared refusal only when it is a 4xx."""
    assert 400 <= exc.status < 500, f"{exc.status} {exc.code}: {exc.message}"


def _encoded(data: bytes) -> tuple[bytes, str]:
    """The first byte picks a Content-Encoding, so the decompressors are fuzzed too (and framed bodies reach them)."""
    if not data:
        return data, "identity"
    choice, rest = data[0] % 8, data[1:]
    if choice == 5:
        return gzip.compress(rest, 1), "gzip"
    if choice == 6:
        return zstandard.ZstdCompressor(level=1).compress(rest), "zstd"
    if choice == 7:
        return rest, ("gzip", "deflate", "zstd")[len(rest) % 3]  # raw bytes sent as compressed
    return data, "identity"


@functools.cache
def _batch_decoder() -> Any:
    from lynex_box.sources.native.batch import NativeBatchDecoder

    return NativeBatchDecoder(threads=1, memory_limit_mb=128)


def native_body(body: bytes, encoding: str = "identity") -> None:
    """A native events request body, as the route parses it; what it accepts must decode in the pipeline."""
    from lynex_box.schema.span import spans_to_table
    from lynex_box.sources.native.decoder import decode_events

    try:
        stored, total, rejected = parse_events(body, encoding, LIMITS, WINDOW)
    except ApiError as exc:
        client_error(exc)
        return
    assert 0 <= len(rejected) <= total
    if total == len(rejected):
        return
    header = RecordHeader(PROJECT, 1_790_000_000_000_000, "sdk", skip=tuple(r["index"] for r in rejected))
    record = WalRecord(lsn=7, type=1, payload=b"")
    reference = spans_to_table(decode_events(record, header, memoryview(stored)))
    fast = _batch_decoder()([(record, header, memoryview(stored))])
    assert reference.num_rows == fast.num_rows == total - len(rejected)
    for column in ("input", "output", "tool_calls", "attributes"):
        for text in reference.column(column).to_pylist():
            if text is not None:  # what the query API parses back and answers must encode again
                orjson.dumps({"items": [{"spans": [{column: orjson.loads(text)}]}]})


def native(data: bytes) -> None:
    native_body(*_encoded(data))


def otlp(data: bytes) -> None:
    """OTLP traces and logs, protobuf and JSON (the first byte picks), as the route checks them; what it accepts
    must decode in the pipeline (the same decoders, mapping and fold) and encode as an answer."""
    from lynex_box.schema.span import spans_to_table
    from lynex_box.sources.otlp.decoder import decode_otlp_logs, decode_otlp_traces
    from lynex_box.sources.otlp.fold import fold_log_events

    if not data:
        return
    kind, body = data[0] % 4, data[1:]
    as_json = kind % 2 == 1
    try:
        if kind < 2:
            checked = check_traces(body, as_json, 4096, WINDOW)
            spans = decode_traces_json(body) if as_json else decode_traces_protobuf(body)
            assert len(checked.skip) <= len(spans)
        else:
            checked = None
            decode_logs_json(body) if as_json else decode_logs_protobuf(body)
    except OtlpDecodeError:
        return
    skip = tuple(checked.skip) if checked is not None else ()
    content_type = "application/json" if as_json else "application/x-protobuf"
    header = RecordHeader(PROJECT, 1_790_000_000_000_000, "otlp", skip, content_type)
    record = WalRecord(lsn=9, type=2 if kind < 2 else 3, payload=b"")
    decoded = (decode_otlp_traces if kind < 2 else decode_otlp_logs)(record, header, memoryview(body))
    rows = decoded if isinstance(decoded, list) else spans_to_table(decoded).to_pylist()
    if kind >= 2:
        rows = fold_log_events([dict(row) for row in rows])
    orjson.dumps(rows, default=str, option=orjson.OPT_NON_STR_KEYS)


def langfuse_doc(doc: Any) -> None:
    """A parsed Langfuse batch: planned or refused; what is planned is stored and decodes in the pipeline."""
    from lynex_box.sources.langfuse.decoder import LangfuseDecoder

    try:
        plan = plan_batch(doc, WINDOW)
    except InvalidBatch:
        return
    if plan.scores:  # as the route writes their SCORES record: the pipeline gets back every one
        assert decode_scores(encode_scores(plan.scores)) == (plan.scores, [])
    if not plan.events:
        return
    body = orjson.dumps({"batch": plan.events})  # as the route writes the WAL record
    header = RecordHeader(PROJECT, 1_790_000_000_000_000, "langfuse")
    rows = LangfuseDecoder()(WalRecord(lsn=3, type=5, payload=b""), header, memoryview(body))
    for row in rows:
        orjson.dumps(row, default=str)


def langfuse(data: bytes) -> None:
    try:
        doc = parse_json(data, LIMITS.max_json_depth)
    except ApiError as exc:
        client_error(exc)
        return
    langfuse_doc(doc)


def wal(data: bytes) -> None:
    """Framing and payload decoding: records or FrameError/PayloadError, at every offset and with a valid CRC."""
    offset = 0
    while offset < len(data):
        try:
            record, offset = decode_record_at(data, offset, None)
        except FrameError:
            break
        _payload(record)
    if len(data) >= 2:  # the same bytes framed with a correct checksum reach the decompressors and the payload
        flags, body = data[0] & 0x03, data[1:]
        framed = encode_record(5, 1 + data[0] % 5, body, 0 if flags == 0x03 else flags)
        try:
            record, end = decode_record_at(framed, 0, 5)
        except FrameError:
            return
        assert end == len(framed)
        _payload(record)


def _payload(record: WalRecord) -> None:
    try:
        header, body = decode_payload(record.payload)
    except PayloadError:
        return
    assert isinstance(header.project_id, str) and len(body) <= len(record.payload)
    if record.type == RecordType.SCORES:  # what the pipeline's score applier decodes
        try:
            decode_scores(body)
        except ScoreRecordError:
            return


@functools.cache
def _config_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="lynex-fuzz-config-"))


def config_text(text: bytes, env: dict[str, str] | None = None) -> None:
    """A lynex.toml file's bytes (and LYNEX_* variables): Settings or ConfigError, nothing else."""
    path = _config_dir() / f"lynex-{os.getpid()}.toml"
    path.write_bytes(text)
    try:
        load_settings(path, env=env or {})
    except ConfigError:
        return


def config(data: bytes) -> None:
    head, _, rest = data.partition(b"\n\n")
    env = {}
    for line in head.decode("utf-8", "replace").splitlines():  # the first block: NAME=VALUE lines
        name, _, value = line.partition("=")
        env["LYNEX_" + name.upper()] = value.replace("\x00", "")
    config_text(rest, env)


def cursor(data: bytes) -> None:
    """Query parameters and cursors: values or a 4xx; what is accepted builds SQL without raising."""
    from lynex_box.api.query import filters as qp
    from lynex_box.query import sql as qs

    text = data.decode("utf-8", "replace")
    keys = ("cursor", "limit", "from", "to", "interval", "group_by", "top", "top_by", "min_cost", "q", "name")
    params = dict(zip(keys, text.split("&"), strict=False))
    parsers: tuple[Callable[[], Any], ...] = (
        lambda: decode_cursor(params.get("cursor")),
        lambda: qp.parse_limit(params),
        lambda: qp.parse_interval(params),
        lambda: qp.parse_group(params),
        lambda: qp.parse_top(params),
        lambda: qp.parse_filters(params),
    )
    values = []
    for parse in parsers:
        try:
            values.append(parse())
        except ApiError as exc:
            client_error(exc)
            return
    page, limit, interval, group, (top, top_by), filters = values
    qs.spans_sql(filters, page, limit)
    qs.trace_starts_sql(filters, page, 1_790_000_000_000_000, limit)
    qs.grouped_last_sql("user_id", filters, page, limit)
    qs.metrics_sql(filters, interval, group, top, top_by)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "native": native,
    "otlp": otlp,
    "langfuse": langfuse,
    "wal": wal,
    "config": config,
    "cursor": cursor,
}


def seeds(target: str) -> list[bytes]:
    """A few valid inputs per target: where coverage-guided fuzzing starts, and what the mutation tests mutate."""
    from tests.sources.otlp.builders import json_trace_body, log_request, make_span, trace_request

    event = {"event_id": "e1", "trace_id": "t1", "name": "chat", "type": "llm", "start_time": "2026-11-27T10:00:00Z",
             "end_time": 1_790_000_000_500, "model": "gpt-4o", "usage": {"input_tokens": 3, "output_tokens": 5},
             "cost": {"total": 0.01}, "tags": ["a"], "metadata": {"k": [1, {"x": None}]}, "prompt": {"version": 2},
             "input": [{"role": "user", "content": 'hi \u00e9 "q" \\'}], "output": {"text": "[{]}"}}  # fmt: skip
    messages = '[{"role": "user", "content": "x"}]'
    attributes = {"gen_ai.request.model": "m", "gen_ai.input.messages": messages, "llm.input_messages.0.x.role": 1}
    span = make_span(attributes, events=[("gen_ai.choice", {"index": 0})])
    langfuse_batch = {"batch": [
        {"id": "1", "type": "trace-create", "timestamp": "2026-11-27T10:00:00Z", "body": {"id": "t", "name": "n"}},
        {"id": "2", "type": "generation-create", "body": {"id": "g", "traceId": "t", "model": "gpt-4o",
         "usage": {"input": 3}, "input": {"messages": [{"role": "user", "content": "x"}]}}},
        {"id": "3", "type": "score-create", "body": {"traceId": "t", "name": "s", "value": 1}},
    ]}  # fmt: skip
    payload = encode_payload(RecordHeader(PROJECT, 1, "sdk", (1,)), orjson.dumps({"events": [event]}))
    score = parse_score({"id": "s1", "trace_id": "t1", "name": "q", "value": 0.5, "metadata": {"k": 1}})
    scores = encode_payload(RecordHeader(PROJECT, 1, "sdk"), encode_scores([score]))
    toml = Path(__file__).parents[1].joinpath("lynex.toml").read_bytes()
    found = {
        "native": [b"\x00" + orjson.dumps({"events": [event, {"name": "x"}]}), b"\x05" + orjson.dumps({"events": []})],
        "otlp": [
            b"\x00" + trace_request([span], resource={"service.name": "s"}).SerializeToString(),
            b"\x01" + json_trace_body([span]),
            b"\x02" + log_request([{"event_name": "gen_ai.choice", "body": {"index": 0}}]).SerializeToString(),
        ],
        "langfuse": [orjson.dumps(langfuse_batch)],
        "wal": [
            encode_record(1, 1, payload, 0),
            b"\x00" + payload,
            b"\x02" + compress_payload(payload)[0],
            encode_record(2, RecordType.SCORES, scores, 0),
        ],
        "config": [b"server_port=4319\ningest_max_json_depth=50\n\n" + toml],
        "cursor": [b"WzE3OTAwMDAwMDAwMDAwMDAsICJ4Il0&50&2026-01-01T00:00:00Z&1790000000000&5m&model&3&count&0.5&q&n"],
    }
    return found[target]
