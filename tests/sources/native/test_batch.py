"""The DuckDB batch decoder of native events gives the same spans as the Python reference decoder."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.sources.native.batch import NativeBatchDecoder, reference_table
from lynex_box.sources.native.validate import validate_event
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType
from tests.sources.native.test_validate import events as fuzzed_events

JSON_COLUMNS = ("input", "output", "tool_calls", "attributes", "pii")
DECODER = NativeBatchDecoder(threads=1)

REALISTIC = [
    {"event_id": "e1", "trace_id": "t1", "span_id": "s1", "name": "chat", "type": "llm", "model": "gpt-4o",
     "provider": "openai", "start_time": "2026-11-27T10:00:00.123456Z", "end_time": 1795773600500,
     "usage": {"input_tokens": 10, "output_tokens": 5, "cached_tokens": 2}, "cost": {"input": 0.1, "output": 0.2},
     "input": [{"role": "user", "content": "héllo \"quoted\" \n newline"}], "output": "plain string",
     "tags": ["a", "b"], "metadata": {"k": [1, 2.5, None, True]}, "prompt": {"name": "p", "version": 3},
     "tool_calls": [{"id": "c1", "name": "f", "arguments": {"x": 1}}], "user_id": "u", "session_id": "s"},
    {"trace_id": "t2", "type": "generation", "status": "error", "error": {"type": "Timeout", "message": "slow"},
     "start_time": "2026-11-27T12:00:00+02:00", "input": {"query": "x"}, "output": 42},
    {"name": "bare"},
]  # fmt: skip


def record(lsn: int, events: list[Any], skip: tuple[int, ...] = ()) -> tuple[WalRecord, RecordHeader, memoryview]:
    body = orjson.dumps({"events": events})
    header = RecordHeader("proj", 1_795_000_000_000_000 + lsn, "sdk", skip)
    return WalRecord(lsn, RecordType.EVENTS, body), header, memoryview(body)


def canonical(table: pa.Table) -> list[dict[str, Any]]:
    rows = sorted(table.to_pylist(), key=lambda r: r["event_id"])
    for row in rows:
        for key in JSON_COLUMNS:
            if row[key] is not None:
                row[key] = orjson.loads(row[key])
    return rows


def assert_same(items: list[tuple[WalRecord, RecordHeader, memoryview]]) -> None:
    fallbacks = DECODER.fallbacks
    batch = DECODER(items)
    assert DECODER.fallbacks == fallbacks, "the fast path failed and the reference decoded the step"
    reference = pa.concat_tables([reference_table(*item) for item in items])
    assert batch.schema.equals(reference.schema, check_metadata=False)
    assert canonical(batch) == canonical(reference)


def test_realistic_events_decode_the_same() -> None:
    assert_same([record(1, REALISTIC), record(2, [*REALISTIC[:1], {"name": "skipped"}], skip=(1,))])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared 2-core box
@given(st.lists(st.lists(fuzzed_events(), min_size=1, max_size=4), min_size=1, max_size=3))
def test_any_accepted_events_decode_the_same(requests: list[list[dict[str, Any]]]) -> None:
    items = []
    for lsn, events in enumerate(requests, start=1):
        skip = tuple(i for i, e in enumerate(events) if validate_event(e, 10_000) is not None)
        items.append(record(lsn, events, skip))
    assert_same(items)


EDGE_CASES = [
    {"event_id": "n1", "start_time": 1795773600500, "end_time": 1795773600500.5},  # epoch ms, whole and fractional
    {"event_id": "n2", "start_time": 1795773600000.0005, "end_time": 0},  # rounds half to even; the epoch itself
    {"event_id": "t1", "start_time": "2026-11-27T10:00:00Z", "end_time": "2026-11-27T10:00:00.1234567+01:00"},
    {"event_id": "t2", "start_time": " 2026-11-27T10:00:00Z", "end_time": "2026-11-27T10:00:00\u002eZ"},
    {"event_id": "e1", "error": {}, "metadata": {}, "status_message": ""},  # empty objects count as absent
    {"event_id": "e2", "error": {"code": 7}, "status": ""},  # an error without type or message still errs
    {"event_id": "e3", "error": {"type": "", "message": "m"}, "metadata": {"a": {}}, "status": "ok"},
    {"event_id": "io", "input": [{"role": "user"}, {"content": "no role"}], "output": [{"role": None}], "type": ""},
    {"event_id": "io2", "input": [], "output": [1, {"role": "x"}], "tool_calls": [], "type": "workflow"},
    {"event_id": "u1", "usage": {"output_tokens": 3}, "cost": {"output": 0.5}},
    {"event_id": "", "trace_id": "", "span_id": "", "parent_span_id": "", "usage": {"total_tokens": 9}},
]


def test_edge_cases_decode_the_same() -> None:
    escaped = b'{"events": [{"event_id": "esc", "start_time": "2026-11-27T10:00:00\\u005a"}]}'  # JSON escape in a time
    header = RecordHeader("proj", 1_795_000_000_000_009, "sdk", ())
    raw = (WalRecord(9, RecordType.EVENTS, escaped), header, memoryview(escaped))
    assert_same([record(7, EDGE_CASES), record(8, [{"start_time": "2026-11-27T10:00:00,5Z"}]), raw])


def test_events_without_ids_are_named_by_their_wal_place_after_the_prefix() -> None:
    """In cluster mode the node's id starts the fallback id (LSNs count per node): the batch decoder, its reference
    fallback and the per-record decoder give the same ids."""
    items = [record(7, [{"type": "llm", "name": "a"}, {"type": "llm", "name": "b"}])]
    prefixed = NativeBatchDecoder(threads=1, id_prefix="node-a-")
    batch = prefixed(items)
    reference = reference_table(*items[0], "node-a-")
    assert batch.column("event_id").to_pylist() == ["node-a-000000000007-00000", "node-a-000000000007-00001"]
    assert reference.column("event_id").to_pylist() == batch.column("event_id").to_pylist()
    assert batch.column("trace_id").to_pylist() == batch.column("event_id").to_pylist()
    assert DECODER(items).column("event_id").to_pylist() == ["000000000007-00000", "000000000007-00001"]
