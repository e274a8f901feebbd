"""Deleting an end user (the GDPR erasure) removes every trace and session of theirs, child spans included.

Child spans rarely carry `user_id` or `session_id`, yet they hold the user's prompts. The data here looks like
what SDKs send: the root span names the user and the session, children name neither (or only the session),
a later turn of a session names no user, and one trace of the user has a span naming another user. The spans
are spread over a bucket segment, a local segment and the head. The files are read directly to prove no row
of the user's traces and sessions remains, and that every span of other users does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from lynex_box.lifecycle.deletion import pending
from lynex_box.wal.records import RecordHeader, RecordType
from tests.lifecycle.conftest import DAY_MS, directory_bucket, now_ms, rows

ALL = "SELECT event_id, trace_id, session_id, user_id, input FROM spans ORDER BY event_id"


def span(event: str, trace: str, start_ms: int, *, user: str | None = None, session: str | None = None,
         prompt: str = "") -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {
        "event_id": event, "trace_id": trace, "span_id": event, "name": "step", "type": "llm", "model": "gpt-4o",
        "start_time": start_ms, "end_time": start_ms + 100, "usage": {"input_tokens": 3, "output_tokens": 1},
        "input": [{"role": "user", "content": prompt or f"prompt of {event}"}],
    }  # fmt: skip
    if user is not None:
        out["user_id"] = user
    if session is not None:
        out["session_id"] = session
    return out


def send(engine: Any, spans: list[dict[str, Any]], flush: bool = True) -> None:
    body = orjson.dumps({"events": spans})
    engine.append(RecordType.EVENTS, RecordHeader("p1", time.time_ns() // 1000, "sdk"), body)
    engine.catch_up()
    if flush:
        engine.flush()


def dataset(t0: int) -> tuple[list[list[dict[str, Any]]], set[str]]:
    """Three batches (old, recent, head) and the event ids that must disappear when user `alice` is deleted."""
    old = [
        # alice's first trace: root names her and her session, children name nobody
        span("a1-root", "ta1", t0, user="alice", session="s-alice"),
        span("a1-tool", "ta1", t0 + 10, prompt="alice's home address"),
        span("a1-llm", "ta1", t0 + 20, prompt="alice's medical question"),
        # bob, same shape, his own session: untouched
        span("b1-root", "tb1", t0 + 30, user="bob", session="s-bob"),
        span("b1-llm", "tb1", t0 + 40),
        # an anonymous trace in no session: untouched
        span("n1", "tn1", t0 + 50),
    ]
    recent = [
        # a later turn of alice's session whose spans name no user
        span("a2-root", "ta2", t0 + DAY_MS, session="s-alice"),
        span("a2-llm", "ta2", t0 + DAY_MS + 10, prompt="alice again"),
        # alice's trace where only a child names the session: that session is hers too
        span("a3-root", "ta3", t0 + DAY_MS + 20, user="alice"),
        span("a3-llm", "ta3", t0 + DAY_MS + 30, session="s-alice-2"),
        span("a4-root", "ta4", t0 + DAY_MS + 40, session="s-alice-2"),  # another trace in that session
        span("a4-llm", "ta4", t0 + DAY_MS + 50),
        # a trace of alice with a span that names bob: bob's span stays
        span("m-root", "tm", t0 + DAY_MS + 60, user="alice"),
        span("m-bob", "tm", t0 + DAY_MS + 70, user="bob"),
        span("m-llm", "tm", t0 + DAY_MS + 80),
        span("b2-root", "tb2", t0 + DAY_MS + 90, user="bob", session="s-bob"),
    ]
    head = [
        span("a5-root", "ta5", now_ms() - 1000, user="alice", session="s-alice"),
        span("a1-late", "ta1", now_ms() - 900),  # a late child of her first trace
        span("b3-root", "tb3", now_ms() - 800, user="bob"),
        span("b3-llm", "tb3", now_ms() - 700),
    ]
    gone = {
        "a1-root", "a1-tool", "a1-llm", "a2-root", "a2-llm", "a3-root", "a3-llm", "a4-root", "a4-llm",
        "m-root", "m-llm", "a5-root", "a1-late",
    }  # fmt: skip
    return [old, recent, head], gone


def stored_files(engine: Any, bucket_dir: Path) -> list[Path]:
    """Every Parquet file on local disk and in the (directory) bucket, whether a catalog row names it or not."""
    return sorted((engine.data_dir / "segments").rglob("*.parquet")) + sorted(bucket_dir.rglob("*.parquet"))


def file_rows(paths: list[Path]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    out: list[dict[str, Any]] = []
    for path in paths:
        out += pq.read_table(path, columns=["event_id", "trace_id", "user_id", "input"]).to_pylist()
    return out


def test_deleting_a_user_removes_their_traces_and_sessions_and_nothing_of_other_users(
    open_engine: Any, tmp_path: Path
) -> None:
    bucket_dir = tmp_path / "bucket"
    engine = open_engine(bucket=directory_bucket(bucket_dir), offload={"hot_window_s": 3 * 86_400})
    (old, recent, head), gone = dataset(now_ms() - 10 * DAY_MS)
    send(engine, old)
    assert engine.lifecycle.offload() == 1  # the old batch is in the bucket
    send(engine, recent)
    send(engine, head, flush=False)  # still in the head
    everything = rows(engine, sql=ALL)
    assert len(everything) == 20
    survivors = [r for r in everything if r["event_id"] not in gone]

    _, complete = engine.lifecycle.delete("p1", "user", "alice", None)
    assert complete
    assert rows(engine, sql=ALL) == survivors  # at once, before any file changes
    inputs = " ".join(str(r["input"]) for r in file_rows(stored_files(engine, bucket_dir)))
    assert "alice's home address" in inputs and "alice again" in inputs  # the files still hold them

    assert engine.lifecycle.purge_deletions() == 3  # the bucket file, the local one and the flushed head
    assert pending(engine.meta) == []
    engine.lifecycle.clean(grace_s=0)
    engine.lifecycle.apply_retention()  # sweeps the bucket's replaced objects too (no backup names them)
    found = file_rows(stored_files(engine, bucket_dir))
    assert sorted(r["event_id"] for r in found) == sorted(r["event_id"] for r in survivors)
    assert not any("alice" in str(r["input"]) for r in found)
    assert all(r["user_id"] != "alice" for r in found)
    assert rows(engine, sql=ALL) == survivors  # dropping the tombstone changed nothing visible


def test_the_scope_found_later_is_hidden_too_and_purged(open_engine: Any) -> None:
    """The user's root span was acknowledged before the request but not processed yet: the purge finds its
    trace and removes the child stored earlier."""
    engine = open_engine()
    send(engine, [span("c-llm", "tc", now_ms() - 5000)])  # a child, stored before its root
    root = orjson.dumps({"events": [span("c-root", "tc", now_ms() - 6000, user="carol")]})
    engine.append(RecordType.EVENTS, RecordHeader("p1", time.time_ns() // 1000, "sdk"), root)  # durable only
    engine.lifecycle.delete("p1", "user", "carol", None)
    assert [r["event_id"] for r in rows(engine, sql=ALL)] == ["c-llm"]  # nothing names carol yet
    engine.catch_up()  # the pipeline processes the root: hidden at once, as it names carol; its trace is
    assert [r["event_id"] for r in rows(engine, sql=ALL)] == ["c-llm"]  # found by the purge's second look
    assert engine.lifecycle.purge_deletions() == 2  # flushes the head, finds the trace, rewrites both files
    engine.lifecycle.clean(grace_s=0)
    assert rows(engine, sql=ALL) == []
    assert file_rows(sorted((engine.data_dir / "segments").rglob("*.parquet"))) == []


def test_deleting_a_session_removes_every_trace_in_it(open_engine: Any) -> None:
    engine = open_engine()
    t0 = now_ms() - 60_000
    send(engine, [
        span("r1", "t1", t0, user="dave", session="s1"), span("c1", "t1", t0 + 1),
        span("r2", "t2", t0 + 2, user="dave", session="s2"), span("c2", "t2", t0 + 3),
    ])  # fmt: skip
    engine.lifecycle.delete("p1", "session", "s1", None)
    assert [r["event_id"] for r in rows(engine, sql=ALL)] == ["c2", "r2"]
    engine.lifecycle.purge_deletions()
    engine.lifecycle.clean(grace_s=0)
    found = file_rows(sorted((engine.data_dir / "segments").rglob("*.parquet")))
    assert sorted(r["event_id"] for r in found) == ["c2", "r2"]


def test_a_user_with_many_traces_is_hidden_through_a_hash_join_with_the_same_result(open_engine: Any) -> None:
    engine = open_engine()
    t0 = now_ms() - 60_000
    many = [span(f"e{i}", f"t{i // 2}", t0 + i, user="erin" if i % 2 == 0 else None) for i in range(300)]
    send(engine, [*many, span("f0", "tf", t0, user="frank"), span("f1", "tf", t0 + 1)])
    engine.lifecycle.delete("p1", "user", "erin", None)
    condition = engine.lifecycle.visibility.restrict("p1").condition
    assert condition is not None and "unnest" in condition  # 150 traces: past INLINE_VALUES
    assert [r["event_id"] for r in rows(engine, sql=ALL)] == ["f0", "f1"]
