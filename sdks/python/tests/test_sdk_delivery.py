"""Delivery to the real server: events arrive with their fields, a failing server costs neither a loss nor a
duplicate, bad events are reported and never sent, a full queue drops with a counter instead of blocking."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import lynex
import pytest
from conftest import Api
from sdk_support import FlakyProxy

from tests.e2e.server import RunningServer, free_port


def test_log_event_arrives_with_its_fields(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()
    trace = uuid.uuid4().hex
    event = {
        "trace_id": trace,
        "span_id": "s-1",
        "name": "chat gpt-4o",
        "type": "llm",
        "model": "gpt-4o",
        "provider": "openai",
        "start_time": "2026-11-27T10:00:00.120Z",
        "end_time": "2026-11-27T10:00:01.870Z",
        "input": [{"role": "user", "content": "Capital of France?"}],
        "output": {"messages": [{"role": "assistant", "content": "Paris."}]},
        "usage": {"input_tokens": 21, "output_tokens": 3},
        "user_id": "u-7",
        "session_id": "chat-19",
        "tags": ["prod"],
        "metadata": {"k": "v"},
        "prompt": {"name": "qa", "version": 3},
    }
    event_id = lx.log_event(event)
    assert event_id is not None and "event_id" not in event  # generated, the caller's dict untouched
    assert lx.flush(timeout=20)
    (span,) = api.wait_spans(trace, 1)
    assert span["event_id"] == event_id
    assert (span["span_id"], span["name"], span["kind"], span["model"]) == ("s-1", "chat gpt-4o", "llm", "gpt-4o")
    assert (span["input_tokens"], span["output_tokens"], span["total_tokens"]) == (21, 3, 24)
    assert (span["user_id"], span["session_id"], span["tags"]) == ("u-7", "chat-19", ["prod"])
    assert (span["prompt_name"], span["prompt_version"]) == ("qa", "3")
    assert span["start_time"] == "2026-11-27T10:00:00.120000Z" and span["duration_ms"] == 1750
    assert span["input"] == {"messages": [{"role": "user", "content": "Capital of France?"}]}
    assert span["output"]["messages"][0]["content"] == "Paris."
    assert span["attributes"]["metadata"] == {"k": "v"}
    assert span["cost_source"] == "computed" and span["total_cost"] > 0
    assert lx.stats()["sent"] == 1


@pytest.mark.parametrize("compression", ["zstd", "gzip", None])
def test_every_compression_is_accepted(
    make_client: Callable[..., lynex.Lynex], api: Api, server: RunningServer, compression: str | None
) -> None:
    with FlakyProxy(server.url) as proxy:
        lx = make_client(base_url=proxy.url, compression=compression)
        trace = uuid.uuid4().hex
        for i in range(30):
            lx.log_event({"trace_id": trace, "span_id": f"s{i}", "input": "some text " * 20})
        assert lx.flush(timeout=20)
    assert {p["encoding"] for p in proxy.posts} == {compression}
    assert len(api.wait_spans(trace, 30)) == 30


def test_zstd_refused_with_415_falls_back_to_gzip(
    make_client: Callable[..., lynex.Lynex], api: Api, server: RunningServer
) -> None:
    with FlakyProxy(server.url) as proxy:
        proxy.refuse_encodings.add("zstd")
        lx = make_client(base_url=proxy.url, compression="zstd")
        trace = uuid.uuid4().hex
        lx.log_event({"trace_id": trace})
        assert lx.flush(timeout=20)
        lx.log_event({"trace_id": trace, "span_id": "second"})
        assert lx.flush(timeout=20)
    assert [p["encoding"] for p in proxy.posts if p["path"].endswith("/events")] == ["zstd", "gzip", "gzip"]
    assert len(api.wait_spans(trace, 2)) == 2


def test_a_failing_server_loses_and_duplicates_nothing(
    make_client: Callable[..., lynex.Lynex], api: Api, server: RunningServer
) -> None:
    """503 for a while, then answers lost after the server stored the batch: every event stored exactly once."""
    with FlakyProxy(server.url) as proxy:
        proxy.fail(4)  # refused before the server sees them
        proxy.lose(3)  # stored by the server, answered 503: the retries resend the same event ids
        lx = make_client(base_url=proxy.url, batch_events=50, max_retry_delay=0.5)
        trace = uuid.uuid4().hex
        ids = [lx.log_event({"trace_id": trace, "span_id": f"s{i}", "name": f"n{i}"}) for i in range(400)]
        assert lx.flush(timeout=60)
        stats = lx.stats()
    sent_ids = proxy.event_ids_sent()
    assert len(sent_ids) > len(set(sent_ids)), "the lost answers made the client send some events twice"
    assert stats["retries"] >= 7 and stats["sent"] == 400 and stats["dropped"] == 0
    spans = api.wait_spans(trace, 400)
    time.sleep(1)  # a duplicate would show up by now
    spans = api.spans(trace)
    assert sorted(s["event_id"] for s in spans) == sorted(ids)
    assert Counter(s["span_id"] for s in spans).most_common(1)[0][1] == 1


def test_retry_after_is_honoured(make_client: Callable[..., lynex.Lynex], api: Api, server: RunningServer) -> None:
    with FlakyProxy(server.url) as proxy:
        proxy.fail(1, status=429, retry_after="1.5")
        lx = make_client(base_url=proxy.url, max_retry_delay=0.2)  # Retry-After wins over the backoff's cap
        trace = uuid.uuid4().hex
        lx.log_event({"trace_id": trace})
        assert lx.flush(timeout=20)
    posts = [p for p in proxy.posts if p["path"].endswith("/events")]
    assert [p["answer"] for p in posts] == [429, 202]
    assert posts[1]["t"] - posts[0]["t"] >= 1.5
    api.wait_spans(trace, 1)


def test_bad_events_are_reported_and_never_sent(
    make_client: Callable[..., lynex.Lynex], api: Api, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[lynex.LynexError] = []
    with FlakyProxy(server.url) as proxy:
        lx = make_client(base_url=proxy.url, on_error=errors.append)
        trace = uuid.uuid4().hex
        with caplog.at_level(logging.WARNING, logger="lynex"):
            assert lx.log_event({"trace_id": trace, "type": "banana"}) is None
            assert lx.log_event({"trace_id": trace, "usage": {"input_tokens": -3}}) is None
            assert lx.log_event({"trace_id": trace, "metadata": {("tuple", "key"): 1}}) is None
            good = lx.log_event({"trace_id": trace, "span_id": "good"})
        assert lx.flush(timeout=20)
    assert [type(e) for e in errors] == [lynex.InvalidEvent] * 3
    assert "type: 'banana' is not one of" in str(errors[0]) and errors[0].event["type"] == "banana"  # type: ignore[attr-defined]
    assert "usage.input_tokens: -3 is less than 0" in str(errors[1])
    assert "cannot be written as JSON" in str(errors[2])
    assert sum("event not sent" in r.getMessage() for r in caplog.records) == 3
    assert proxy.event_ids_sent() == [good]
    assert [s["event_id"] for s in api.wait_spans(trace, 1)] == [good]
    assert lx.stats()["invalid"] == 3


def test_one_event_the_server_cannot_read_does_not_spoil_its_batch(
    make_client: Callable[..., lynex.Lynex], api: Api
) -> None:
    """Nesting deeper than the server's limit is a 400 for the whole request: the batch is halved until only
    that event is refused (and reported); the others are stored."""
    errors: list[lynex.LynexError] = []
    lx = make_client(on_error=errors.append, flush_interval=5)
    trace = uuid.uuid4().hex
    deep: Any = "bottom"
    for _ in range(150):
        deep = [deep]
    for i in range(8):
        lx.log_event({"trace_id": trace, "span_id": f"s{i}", "metadata": {"deep": deep} if i == 5 else None})
    assert lx.flush(timeout=30)
    assert sorted(s["span_id"] for s in api.wait_spans(trace, 7)) == [f"s{i}" for i in range(8) if i != 5]
    assert [(type(e), e.status, e.count) for e in errors] == [(lynex.EventsRejected, 400, 1)]  # type: ignore[attr-defined]


def test_events_the_server_refuses_are_reported(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    """The schema cannot say everything (the server's time window): the 202's rejections reach on_error."""
    errors: list[lynex.LynexError] = []
    lx = make_client(on_error=errors.append)
    trace = uuid.uuid4().hex
    lx.log_event({"trace_id": trace, "span_id": "old", "start_time": "1990-01-01T00:00:00Z"})
    lx.log_event({"trace_id": trace, "span_id": "ok"})
    assert lx.flush(timeout=20)
    assert [type(e) for e in errors] == [lynex.EventsRejected]
    assert errors[0].count == 1 and "#0" in errors[0].reason  # type: ignore[attr-defined]
    assert [s["span_id"] for s in api.wait_spans(trace, 1)] == ["ok"]
    assert lx.stats()["rejected"] == 1


def test_a_wrong_key_is_reported_not_retried(server: RunningServer) -> None:
    errors: list[lynex.LynexError] = []
    lx = lynex.Lynex("lx_wrong", server.url, server.project, flush_interval=0.1, on_error=errors.append)
    try:
        lx.log_event({"name": "x"})
        assert lx.flush(timeout=20)
    finally:
        lx.shutdown()
    assert [(type(e), e.status) for e in errors] == [(lynex.EventsRejected, 401)]  # type: ignore[attr-defined]


def test_a_full_queue_drops_with_a_counter_and_never_blocks() -> None:
    errors: list[lynex.LynexError] = []
    away = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    lx = lynex.Lynex("k", away, "p", max_queue_events=10, on_error=errors.append, max_retry_delay=0.2)
    try:
        started = time.monotonic()
        results = [lx.log_event({"name": f"e{i}"}) for i in range(50)]
        assert time.monotonic() - started < 2
        # the sender may have taken a batch out of the queue already: at most 10 waiting, at least 10 kept
        kept = sum(r is not None for r in results)
        assert 10 <= kept < 50
        assert lx.stats()["dropped"] == 50 - kept
        assert [type(e) for e in errors] == [lynex.EventsDropped]  # reported once, counted always
        assert not lx.flush(timeout=0.5)
    finally:
        started = time.monotonic()
        assert not lx.shutdown(timeout=1)
        assert time.monotonic() - started < 4
    assert lx.stats()["dropped"] == 50  # what was never delivered counts as dropped at the stop


def test_scores_arrive(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()
    with lx.trace("scored") as root:
        with lx.span("step") as step:
            step.score("relevance", 0.25, comment="meh")
        lx.score("thumbs", True)
        lx.score("label", "good", metadata={"by": "test"})
    assert lx.flush(timeout=20)
    api.wait_spans(root.trace_id, 2)
    scores = {s["name"]: s for s in api.scores(root.trace_id)}
    assert scores["relevance"]["value"] == 0.25 and scores["relevance"]["span_id"] == step.span_id
    assert scores["relevance"]["comment"] == "meh"
    assert (scores["thumbs"]["data_type"], scores["thumbs"]["value"], scores["thumbs"]["span_id"]) == (
        "BOOLEAN",
        1,
        None,
    )
    assert (scores["label"]["data_type"], scores["label"]["string_value"]) == ("CATEGORICAL", "good")


def test_a_score_without_a_trace_is_reported(make_client: Callable[..., lynex.Lynex]) -> None:
    errors: list[Any] = []
    lx = make_client(on_error=errors.append)
    assert lx.score("orphan", 1) is None
    assert "no trace" in str(errors[0])


def test_batches_close_by_count_and_by_age(make_client: Callable[..., lynex.Lynex], server: RunningServer) -> None:
    with FlakyProxy(server.url) as proxy:
        lx = make_client(base_url=proxy.url, batch_events=10, flush_interval=1.5)
        trace = uuid.uuid4().hex
        for i in range(25):
            lx.log_event({"trace_id": trace, "span_id": f"s{i}"})
        deadline = time.monotonic() + 20
        while len(proxy.event_ids_sent()) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        counts = [len(p["body"]["events"]) for p in proxy.posts if p["path"].endswith("/events")]
        assert counts == [10, 10]  # two full batches went at once, the rest waits for its age
        while len(proxy.event_ids_sent()) < 25 and time.monotonic() < deadline:
            time.sleep(0.02)
        counts = [len(p["body"]["events"]) for p in proxy.posts if p["path"].endswith("/events")]
        assert counts == [10, 10, 5]  # no flush() called: the age bound sent it


def test_an_api_version_mismatch_is_logged_once(
    make_client: Callable[..., lynex.Lynex], server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    import lynex._transport as transport

    with FlakyProxy(server.url) as proxy, caplog.at_level(logging.WARNING, logger="lynex"):
        transport._version_warned = False
        first = make_client(base_url=proxy.url)  # the server has no /v1/version yet (404): nothing said
        first.log_event({"name": "a"})
        assert first.flush(timeout=20)
        proxy.version = {"version": "9.0.0", "api": "2"}
        for _ in range(2):
            client = make_client(base_url=proxy.url)
            client.log_event({"name": "b"})
            assert client.flush(timeout=20)
    warnings = [r.getMessage() for r in caplog.records if "API version" in r.getMessage()]
    assert proxy.version_gets == 3
    assert len(warnings) == 1 and "server API version 2 differs" in warnings[0]
