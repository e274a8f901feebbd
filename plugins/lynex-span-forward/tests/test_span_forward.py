"""The span-forward plugin: spans sent through a real server's ingest API reach a real HTTP receiver as signed,
gzipped JSON batches with the stored values; batches close by count, bytes and delay; a failing receiver is retried
with backoff (5xx) or not (4xx), and counted; the alerts' outbound address policy applies; the projects filter and
a bad table are handled."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest
from lynex_span_forward import SpanForward, create

from lynex_box.alerts.targets import TargetPolicy
from lynex_box.pipeline.runner import rows_to_table
from lynex_box.plugins.batcher import PluginConfigError
from lynex_box.plugins.context import PluginContext
from tests.alerts.receiver import Received, Receiver
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

OPEN = TargetPolicy(allow_private=True)  # as `[alerts] allow_private_targets = true`: the receiver is on loopback
T0 = 1_764_583_200_000_000  # 2025-12-01T10:00:00Z in epoch microseconds


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _spans(n: int, project: str = "p1", text: str = "") -> pa.Table:
    rows = [
        {"project_id": project, "trace_id": "t1", "span_id": f"s{i}", "event_id": f"e{i}", "name": f"call {i}",
         "kind": "llm", "model": "gpt-4o", "input_tokens": 10 + i, "output_tokens": 3, "start_time": T0 + i,
         "end_time": T0 + i + 1500, "input": text or None, "ingested_at": T0 + 10_000_000}
        for i in range(n)
    ]  # fmt: skip
    return rows_to_table(rows)


def _plugin(url: str, policy: TargetPolicy | None = OPEN, **config: Any) -> SpanForward:
    plugin = create({"url": url, **config})
    plugin.lynex_started(context=PluginContext(node_id="", data_dir=Path("/nonexistent"), target_policy=policy))
    return plugin


def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _body(got: Received) -> dict[str, Any]:
    raw = gzip.decompress(got.body) if got.headers.get("content-encoding") == "gzip" else got.body
    return dict(orjson.loads(raw))


def test_batches_by_count_are_signed_gzipped_json_of_the_stored_columns(receiver: Receiver) -> None:
    plugin = _plugin(f"{receiver.url}/spans", secret="s3cret", gzip=True, batch_size=3, batch_delay_s=60)
    plugin.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(7), "lsn_from": 1, "lsn_to": 1})
    _until(lambda: len(receiver.on("/spans")) == 2)  # two full batches at once; the 7th waits for its delay
    time.sleep(0.3)
    assert len(receiver.on("/spans")) == 2
    plugin.batcher.close()  # a close sends what is queued
    batches = receiver.on("/spans")
    assert [len(_body(b)["spans"]) for b in batches] == [3, 3, 1]
    spans = [s for b in batches for s in _body(b)["spans"]]
    assert [(s["span_id"], s["name"], s["model"], s["input_tokens"]) for s in spans] == [
        (f"s{i}", f"call {i}", "gpt-4o", 10 + i) for i in range(7)
    ]
    assert spans[2]["start_time"] == T0 + 2 and spans[2]["end_time"] == T0 + 1502  # epoch microseconds
    assert set(spans[0]) == set(_spans(1).column_names)
    first = batches[0]
    assert first.headers["content-encoding"] == "gzip" and first.headers["x-lynex-event"] == "spans"
    raw = gzip.decompress(first.body)
    mac = hmac.new(b"s3cret", first.headers["x-lynex-timestamp"].encode() + b"." + raw, hashlib.sha256)
    assert first.headers["x-lynex-signature"] == f"sha256={mac.hexdigest()}"
    assert plugin.counters() | {"last_error": ""} == {
        "sent": 7, "failed": 0, "dropped": 0, "queued": 0, "batches": 3, "retried": 0, "last_error": ""
    }  # fmt: skip


def test_a_batch_goes_after_its_delay_and_within_its_bytes(receiver: Receiver) -> None:
    plugin = _plugin(f"{receiver.url}/late", batch_size=1000, batch_delay_s=0.3)
    started = time.monotonic()
    plugin.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(2)})
    _until(lambda: len(receiver.on("/late")) == 1)
    assert time.monotonic() - started >= 0.25
    assert len(_body(receiver.on("/late")[0])["spans"]) == 2
    small = _plugin(f"{receiver.url}/small", batch_size=1000, batch_bytes=2048, batch_delay_s=60)
    small.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(6, text="x" * 600)})
    _until(lambda: sum(len(_body(b)["spans"]) for b in receiver.on("/small")) >= 4)
    assert all(len(_body(b)["spans"]) <= 3 for b in receiver.on("/small"))  # about 700 bytes a span
    small.batcher.close()
    assert sum(len(_body(b)["spans"]) for b in receiver.on("/small")) == 6


def test_server_errors_are_retried_with_backoff_and_client_errors_are_not(receiver: Receiver) -> None:
    flaky = _plugin(f"{receiver.url}/flaky/2/x", batch_delay_s=0.01, backoff_s=0.05)
    flaky.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(3)})
    _until(lambda: flaky.counters()["sent"] == 3)
    assert len(receiver.on("/flaky/2/x")) == 3 and flaky.counters()["retried"] == 2
    refused = _plugin(f"{receiver.url}/status/400/x", batch_delay_s=0.01, backoff_s=0.05)
    refused.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(2)})
    _until(lambda: refused.counters()["failed"] == 2)
    time.sleep(0.3)
    assert len(receiver.on("/status/400/x")) == 1 and "answered 400" in str(refused.counters()["last_error"])
    down = _plugin(f"{receiver.url}/status/503/x", batch_delay_s=0.01, backoff_s=0.05, retries=2)
    down.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(1)})
    _until(lambda: down.counters()["failed"] == 1)
    assert len(receiver.on("/status/503/x")) == 3  # the try and 2 retries


def test_the_outbound_address_policy_refuses_loopback_unless_opened(receiver: Receiver) -> None:
    plugin = _plugin(f"{receiver.url}/never", policy=None, batch_delay_s=0.01)  # the default: global addresses only
    plugin.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(2)})
    _until(lambda: plugin.counters()["failed"] == 2)
    assert receiver.on("/never") == [] and plugin.counters()["retried"] == 0
    assert "allow_private_targets" in str(plugin.counters()["last_error"])


def test_only_the_projects_configured_are_forwarded_and_the_queue_is_bounded(receiver: Receiver) -> None:
    plugin = _plugin(f"{receiver.url}/some", projects=["p2"], omit=["input", "output"], batch_delay_s=0.01)
    plugin.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(2, "p1")})
    plugin.lynex_spans_stored(event={"project_id": "p2", "spans": _spans(1, "p2", text="secret prompt")})
    _until(lambda: plugin.counters()["sent"] == 1)
    [span] = _body(receiver.on("/some")[0])["spans"]
    assert span["project_id"] == "p2" and "input" not in span and "output" not in span
    full = _plugin(f"{receiver.url}/full", queue_max=3, batch_delay_s=60, batch_size=1000)
    full.lynex_spans_stored(event={"project_id": "p1", "spans": _spans(5)})
    # slices of at most queue_max rows ([3, 2]): the oldest slice goes whole
    assert full.counters()["dropped"] == 3 and full.counters()["queued"] == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "url = None must be an http(s) URL"),
        ({"url": "http://x/", "batch_size": 0}, "batch_size = 0 must be a number in [1, 100000]"),
        ({"url": "http://x/", "omit": ["nope"]}, "omit: ['nope'] are not span columns"),
        ({"url": "http://x/", "gzip": "yes"}, "gzip = 'yes' must be true or false"),
        ({"url": "http://x/", "projects": "p1"}, "projects = 'p1' must be a list of strings"),
        ({"url": "http://x/", "sample": 1}, "unknown key(s) ['sample']"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PluginConfigError) as info:
        create(config)
    assert message in str(info.value)


def test_spans_sent_through_the_api_reach_the_receiver(tmp_path: Path, receiver: Receiver) -> None:
    config = tmp_path / "lynex.toml"
    config.write_text(f"""
[alerts]
allow_private_targets = true
[plugins]
enabled = ["span-forward"]
[plugins.span-forward]
url = "{receiver.url}/from-server"
secret = "s3cret"
gzip = true
batch_delay_s = 0.2
""")
    server = RunningServer(tmp_path / "data", env={"LYNEX_CONFIG": str(config)}).start()
    web = Browsers(server)
    try:
        events = [
            {"trace_id": "fwd-1", "span_id": f"sp{i}", "name": f"chat {i}", "type": "llm", "model": "gpt-4o-mini",
             "usage": {"input_tokens": 100 + i, "output_tokens": 7}, "start_time": "2026-12-01T10:00:00Z",
             "end_time": "2026-12-01T10:00:02Z"}
            for i in range(5)
        ]  # fmt: skip
        r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": events},
                       headers=server.headers())  # fmt: skip
        assert r.status_code == 202, r.text
        _until(lambda: sum(len(_body(b)["spans"]) for b in receiver.on("/from-server")) >= 5, 30)
        spans = sorted((s for b in receiver.on("/from-server") for s in _body(b)["spans"]), key=lambda s: s["span_id"])
        assert [(s["project_id"], s["trace_id"], s["span_id"], s["name"], s["model"]) for s in spans] == [
            (server.project, "fwd-1", f"sp{i}", f"chat {i}", "gpt-4o-mini") for i in range(5)
        ]
        assert [(s["input_tokens"], s["output_tokens"]) for s in spans] == [(100 + i, 7) for i in range(5)]
        assert spans[0]["start_time"] == 1_796_119_200_000_000 and spans[0]["duration_ms"] == 2000
        assert spans[0]["total_cost"] is not None  # priced by the pipeline before the plugin sees it
        got = receiver.on("/from-server")[0]
        mac = hmac.new(b"s3cret", got.headers["x-lynex-timestamp"].encode() + b"." + gzip.decompress(got.body),
                       hashlib.sha256)  # fmt: skip
        assert got.headers["x-lynex-signature"] == f"sha256={mac.hexdigest()}"
        plugins = {p["name"]: p for p in web.admin().get("/v1/plugins").json()["items"]}
        mine = plugins["span-forward"]
        assert mine["state"] == "loaded" and mine["hooks"] == ["lynex_spans_stored", "lynex_started"]
        assert mine["counters"]["sent"] == 5 and mine["counters"]["failed"] == 0
    finally:
        web.close()
        server.stop()
