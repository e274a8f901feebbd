"""The otlp-export plugin: spans sent to a real server A reach a second real server B through B's OTLP/HTTP
receiver (/v1/traces, B's API key in the configured headers), and B's API shows them with A's ids, names, model,
tokens, times, messages and service; the mapping keeps what it can of rows whose ids are not OTLP hex; a bad
table is refused naming the key."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from lynex_otlp_export import create
from lynex_otlp_export.mapping import export_request, otlp_id, span_of

from lynex_box.plugins.batcher import PluginConfigError
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, CHILD = "00f067aa0ba902b7", "00f067aa0ba902b8"
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Weather in Paris?"}]
ANSWER = [{"role": "assistant", "content": "Sunny."}]


def _until(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def _trace(server: RunningServer, trace_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}", headers=server.headers())
    return dict(r.json()) if r.status_code == 200 else None


def _span(server: RunningServer, trace_id: str, span_id: str) -> dict[str, Any]:
    url = f"{server.url}/v1/projects/{server.project}/traces/{trace_id}/spans/{span_id}"
    r = httpx.get(url, headers=server.headers())
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_spans_sent_to_one_server_arrive_at_another_through_otlp(tmp_path: Path) -> None:
    b = RunningServer(tmp_path / "b").start()
    a: RunningServer | None = None
    web: Browsers | None = None
    try:
        config = tmp_path / "a.toml"
        config.write_text(f"""
[alerts]
allow_private_targets = true
[plugins]
enabled = ["otlp-export"]
[plugins.otlp-export]
endpoint = "{b.url}/v1/traces"
headers = {{ Authorization = "Bearer {b.creds["api_key"]}" }}
service_name = "checkout"
resource_attributes = {{ "deployment.region" = "eu-west-1" }}
gzip = true
batch_delay_s = 0.2
""")
        a = RunningServer(tmp_path / "a", env={"LYNEX_CONFIG": str(config)}).start()
        web = Browsers(a)
        events = [
            {"trace_id": TRACE, "span_id": ROOT, "name": "answer question", "type": "chain",
             "start_time": "2026-12-01T10:00:00Z", "end_time": "2026-12-01T10:00:03Z", "session_id": "sess-1"},
            {"trace_id": TRACE, "span_id": CHILD, "parent_span_id": ROOT, "name": "chat gpt-4o", "type": "llm",
             "provider": "openai", "model": "gpt-4o", "usage": {"input_tokens": 120, "output_tokens": 30},
             "start_time": "2026-12-01T10:00:00.250Z", "end_time": "2026-12-01T10:00:02.750Z",
             "input": MESSAGES, "output": ANSWER, "status": "error", "status_message": "rate limited"},
        ]  # fmt: skip
        r = httpx.post(f"{a.url}/v1/projects/{a.project}/events", json={"events": events}, headers=a.headers())
        assert r.status_code == 202, r.text
        got = _until(lambda: (t := _trace(b, TRACE)) is not None and len(t["spans"]) == 2 and t)
        sent = _trace(a, TRACE)
        assert sent is not None

        def key(s: dict[str, Any]) -> tuple[Any, ...]:
            return (s["trace_id"], s["span_id"], s["parent_span_id"], s["name"], s["kind"], s["model"],
                    s["provider"], s["input_tokens"], s["output_tokens"], s["start_time"], s["end_time"],
                    s["duration_ms"], s["status"], s["session_id"])  # fmt: skip

        assert sorted(map(key, got["spans"])) == sorted(map(key, sent["spans"]))
        child_a, child_b = _span(a, TRACE, CHILD), _span(b, TRACE, CHILD)
        assert child_b["input"] == child_a["input"] == {"messages": MESSAGES}  # (the API parses JSON columns)
        assert child_b["output"]["messages"] == child_a["output"]["messages"] == ANSWER
        assert child_b["status_message"] == "rate limited"
        assert child_b["attributes"]["service.name"] == "checkout"
        mine = {p["name"]: p for p in web.admin().get("/v1/plugins").json()["items"]}["otlp-export"]
        assert mine["state"] == "loaded" and mine["counters"]["sent"] == 2
        assert mine["counters"]["failed"] == mine["counters"]["rejected"] == 0
    finally:
        if web is not None:
            web.close()
        if a is not None:
            a.stop()
        b.stop()


def test_ids_that_are_not_otlp_hex_are_hashed_and_kept_as_attributes() -> None:
    row = {"trace_id": "order-42", "span_id": "step-1", "parent_span_id": None, "name": "n", "kind": "tool",
           "start_time": 1_000_000, "end_time": 1_500_000, "attributes": '{"service.name": "api", "k": 1}',
           "input": '{"query": "x"}', "total_cost": 0.25}  # fmt: skip
    key, span = span_of(row, "fallback")
    assert key == ("api", None, None)
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert span.trace_id == otlp_id("order-42", 16)[0] and len(span.span_id) == 8
    assert attrs["lynex.trace_id"].string_value == "order-42" and attrs["lynex.span_id"].string_value == "step-1"
    assert attrs["openinference.span.kind"].string_value == "TOOL" and attrs["k"].int_value == 1
    assert attrs["input.value"].string_value == '{"query": "x"}' and attrs["gen_ai.usage.cost"].double_value == 0.25
    assert "service.name" not in attrs and span.end_time_unix_nano - span.start_time_unix_nano == 500_000_000
    request = export_request([(key, span), span_of({**row, "attributes": None}, "fallback")], {"team": "x"})
    resources = [{kv.key: kv.value.string_value for kv in rs.resource.attributes} for rs in request.resource_spans]
    services = sorted(r["service.name"] for r in resources)
    assert services == ["api", "fallback"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "endpoint = None must be an http(s) URL"),
        ({"endpoint": "http://x/v1/traces", "headers": {"k": 1}}, "headers must be a table of strings"),
        ({"endpoint": "http://x/v1/traces", "retries": -1}, "retries = -1 must be a number in [0, 100]"),
        ({"endpoint": "http://x/v1/traces", "protocol": "grpc"}, "unknown key(s) ['protocol']"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PluginConfigError) as info:
        create(config)
    assert message in str(info.value)
