"""Smaller rules: ids, backoff and Retry-After, the stream stand-in for streams that cannot be patched, and a
forked child that starts with its own queue (the parent's events are sent once, by the parent)."""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import lynex
import pytest
from conftest import Api
from lynex._ids import uuid7
from lynex._json import dumps, dumps_stdlib
from lynex._sender import backoff_delay
from lynex._transport import parse_retry_after
from lynex.integrations._common import Accumulator, Call, watch_stream
from sdk_support import FlakyProxy

from tests.e2e.server import RunningServer


def test_uuid7_is_a_time_ordered_uuid() -> None:
    ids = [uuid7() for _ in range(1000)]
    assert len(set(ids)) == 1000
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert abs((parsed.int >> 80) - time.time() * 1000) < 5000
    random.seed(1)  # the application's seed does not make ids repeat
    a = uuid7()
    random.seed(1)
    assert uuid7() != a


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(n, 30, None, rng) for n in range(10)]
    assert 0.25 <= delays[0] <= 0.5 and 15 <= delays[-1] <= 30
    assert len({round(d, 6) for d in delays}) == 10
    assert 7 <= backoff_delay(0, 0.5, 7, rng) <= 7 * 1.2


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (parse_retry_after(later) or 0) <= 30


class _Texts(Accumulator):
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, item: Any) -> None:
        self.parts.append(item)

    def fields(self) -> dict[str, Any]:
        return {"output": "".join(self.parts)}


class _OpaqueStream:
    """A stream whose iterator is not in `_iterator`: the wrapper must fall back to a stand-in."""

    def __init__(self) -> None:
        self.closed = False
        self.response = "the response"

    def __iter__(self) -> Iterator[str]:
        yield from ["a", "b", "c"]

    def close(self) -> None:
        self.closed = True


def test_a_stream_that_cannot_be_patched_is_recorded_through_a_stand_in(
    make_client: Callable[..., lynex.Lynex], api: Api
) -> None:
    lx = make_client()
    with lx.trace("opaque") as root:
        stream = _OpaqueStream()
        watched = watch_stream(stream, Call(lx, "opaque-llm", {"model": "m"}), _Texts())
        assert watched.response == "the response"  # everything else is the stream's
        with watched:
            assert list(watched) == ["a", "b", "c"]
        assert stream.closed
    assert lx.flush(timeout=20)
    span = next(s for s in api.wait_spans(root.trace_id, 2) if s["name"] == "opaque-llm")
    assert span["output"] == "abc"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_sends_its_own_events_only(
    make_client: Callable[..., lynex.Lynex], api: Api, server: RunningServer
) -> None:
    trace = uuid.uuid4().hex
    with FlakyProxy(server.url) as proxy:
        lx = make_client(base_url=proxy.url, flush_interval=30)
        parent_id = lx.log_event({"trace_id": trace, "span_id": "parent"})
        pid = os.fork()
        if pid == 0:  # the child: its queue starts empty, its sender thread is its own
            code = 1
            try:
                child_id = lx.log_event({"trace_id": trace, "span_id": "child"})
                code = 0 if lx.flush(timeout=20) and child_id else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lx.flush(timeout=20)
        sent = proxy.event_ids_sent()
    assert sent.count(parent_id) == 1 and len(sent) == 2
    assert sorted(s["span_id"] for s in api.wait_spans(trace, 2)) == ["child", "parent"]


def test_an_on_error_that_raises_is_contained(make_client: Callable[..., lynex.Lynex]) -> None:
    def broken(error: lynex.LynexError) -> None:
        raise RuntimeError("callback bug")

    lx = make_client(on_error=broken)
    assert lx.log_event({"type": "banana"}) is None  # reported, the callback's error logged, nothing raised
    assert lx.stats()["invalid"] == 1


@pytest.mark.parametrize("dump", [dumps, dumps_stdlib], ids=["default", "stdlib"])
def test_json_writing_with_or_without_orjson(dump: Callable[[Any], bytes]) -> None:
    """Both writers give the same JSON for what the SDK records, and convert what JSON cannot hold."""
    import dataclasses
    import datetime as dt

    @dataclasses.dataclass
    class Point:
        x: int

    value = {
        "text": "é ✓",
        "nan": float("nan"),
        "inf": [float("inf")],
        "big": 2**70,
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "point": Point(1),
        "set": {1},
        1: "int key",
        "opaque": object,
    }
    parsed = json.loads(dump(value))
    assert parsed["text"] == "é ✓" and parsed["nan"] is None and parsed["inf"] == [None]
    assert parsed["big"] == 2**70 and parsed["point"] == {"x": 1} and parsed["set"] == [1]
    assert parsed["when"].startswith("2026-01-02T03:04:05") and parsed["1"] == "int key"
    assert parsed["opaque"] == repr(object)
    assert json.loads(dump({"s": "a\udcffb"})) == {"s": "a?b"}  # a lone surrogate: the server wants UTF-8
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError):
        dump({"c": cycle})
    with pytest.raises(TypeError):
        dump({("a", "b"): 1})
