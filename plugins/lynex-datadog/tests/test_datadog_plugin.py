"""The datadog plugin against a Datadog-shaped local server that checks the API key and the payloads' shape: spans
sent to a real server through OTLP become metric series (counts, tokens, cost, latency percentiles) tagged with
project, model and service; an alert rule that fires and resolves on the real server becomes two Datadog events; a
wrong key is refused and counted, not retried; a bad table is refused naming the key."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from lynex_datadog import create
from lynex_datadog.metrics import percentile

from lynex_box.alerts.targets import TargetPolicy
from lynex_box.pipeline.runner import rows_to_table
from lynex_box.plugins.batcher import PluginConfigError
from lynex_box.plugins.context import PluginContext
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

API_KEY = "dd-" + secrets.token_hex(8)
ALERTS_ENV = {
    "LYNEX_ALERTS_TICK_S": "0.2",
    "LYNEX_ALERTS_MIN_INTERVAL_S": "1",
    "LYNEX_ALERTS_DELIVERY_BACKOFF_S": "0.05",
}


def _shape_errors(path: str, doc: Any) -> list[str]:
    """What Datadog's intake would refuse in a body (the parts the plugin uses)."""
    if path == "/api/v1/events":
        need = {"title": str, "text": str, "alert_type": str, "tags": list, "date_happened": int}
        return [f"{k} must be {t.__name__}" for k, t in need.items() if not isinstance(doc.get(k), t)]
    if path == "/api/v2/series":
        if not isinstance(doc.get("series"), list) or not doc["series"]:
            return ["series must be a non-empty list"]
        errors = []
        for s in doc["series"]:
            if not isinstance(s.get("metric"), str) or s.get("type") not in (0, 1, 2, 3):
                errors.append(f"bad metric or type in {s}")
            if not all(isinstance(t, str) and ":" in t for t in s.get("tags", [])):
                errors.append(f"bad tags in {s}")
            points = s.get("points")
            if not points or not all(isinstance(p["timestamp"], int) and isinstance(p["value"], int | float)
                                     for p in points):  # fmt: skip
                errors.append(f"bad points in {s}")
        return errors
    return [f"unknown path {path}"]


class Datadog:
    """A Datadog-shaped intake on 127.0.0.1: 403 without the right DD-API-KEY, 400 for a bad shape, else 202."""

    def __init__(self) -> None:
        self.got: dict[str, list[Any]] = {"/api/v1/events": [], "/api/v2/series": []}
        self.refused: list[str] = []
        intake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code, answer = 202, b'{"errors":[]}'
                if self.path not in intake.got:
                    code, answer = 200, b"{}"  # an alert rule's own webhook channel
                elif self.headers.get("DD-API-KEY") != API_KEY:
                    code, answer = 403, b'{"errors":["Forbidden"]}'
                    intake.refused.append(self.path)
                else:
                    doc = orjson.loads(body)
                    errors = _shape_errors(self.path, doc)
                    if errors:
                        code, answer = 400, orjson.dumps({"errors": errors})
                        intake.refused.append(f"{self.path}: {errors}")
                    else:
                        intake.got[self.path].append(doc)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def points(self, metric: str, *tags: str) -> list[float]:
        return [p["value"] for doc in self.got["/api/v2/series"] for s in doc["series"]
                if s["metric"] == metric and set(tags) <= set(s["tags"]) for p in s["points"]]  # fmt: skip

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dd() -> Iterator[Datadog]:
    intake = Datadog()
    yield intake
    intake.close()


def _until(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)
    return found


def _server(tmp_path: Path, dd: Datadog, env: dict[str, str] | None = None) -> RunningServer:
    config = tmp_path / "lynex.toml"
    config.write_text(f"""
[alerts]
allow_private_targets = true
[plugins]
enabled = ["datadog"]
[plugins.datadog]
api_key = "{API_KEY}"
site = "{dd.url}"
flush_interval_s = 1
tags = ["env:test"]
""")
    return RunningServer(tmp_path / "data", env={"LYNEX_CONFIG": str(config), **(env or {})}).start()


def _otlp_span(i: int, status: int, duration_ms: int) -> dict[str, Any]:
    start = 1_796_119_200_000_000_000 + i * 1_000_000
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
             "gen_ai.usage.output_tokens": 10 * (i + 1)}  # fmt: skip
    return {
        "traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": f"chat {i}", "kind": 3,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + duration_ms * 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
                       for k, v in attrs.items()],
        "status": {"code": status},
    }  # fmt: skip


def test_spans_become_metric_series_tagged_with_project_model_and_service(tmp_path: Path, dd: Datadog) -> None:
    server = _server(tmp_path, dd)
    web = Browsers(server)
    try:
        spans = [_otlp_span(i, 2 if i == 3 else 1, (i + 1) * 100) for i in range(4)]  # 100..400 ms, one error
        body = {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeSpans": [{"spans": spans}],
        }]}  # fmt: skip
        r = httpx.post(f"{server.url}/v1/traces", json=body, headers=server.headers())
        assert r.status_code == 200, r.text
        tags = (f"project:{server.project}", "model:gpt-4o", "service:checkout", "env:test")
        _until(lambda: sum(dd.points("lynex.spans", *tags)) >= 4)
        time.sleep(1.5)  # a flush more: nothing is counted twice
        assert sum(dd.points("lynex.spans", *tags)) == 4
        assert sum(dd.points("lynex.llm_calls", *tags)) == 4 and sum(dd.points("lynex.errors", *tags)) == 1
        assert sum(dd.points("lynex.tokens.input", *tags)) == 400
        assert sum(dd.points("lynex.tokens.output", *tags)) == 100
        assert sum(dd.points("lynex.cost.usd", *tags)) > 0  # gpt-4o is priced by the pipeline
        assert dd.points("lynex.latency_ms.p50", *tags) == [200.0]
        assert dd.points("lynex.latency_ms.p95", *tags) == [400.0] == dd.points("lynex.latency_ms.max", *tags)
        assert dd.refused == []
        mine = {p["name"]: p for p in web.admin().get("/v1/plugins").json()["items"]}["datadog"]
        assert mine["counters"]["spans_sent"] == 4 and mine["counters"]["spans_failed"] == 0
    finally:
        web.close()
        server.stop()


def test_an_alert_that_fires_and_resolves_becomes_two_datadog_events(tmp_path: Path, dd: Datadog) -> None:
    server = _server(tmp_path, dd, ALERTS_ENV)
    web = Browsers(server)
    try:
        admin = web.admin()
        rule = {"name": "checkout errors", "metric": "error_count", "comparison": "gte", "threshold": 2,
                "interval_s": 1, "window_s": 4, "filters": {"name": "checkout"},
                "channels": [{"type": "webhook", "url": f"{dd.url}/hook"}]}  # fmt: skip
        r = admin.post(f"/api/projects/{server.project}/alerts/rules", json=rule)
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
        events = [{"name": "checkout", "status": "error", "error": {"message": "boom"}} for _ in range(2)]
        r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": events},
                       headers=server.headers())  # fmt: skip
        assert r.status_code == 202, r.text
        fired = _until(lambda: [e for e in dd.got["/api/v1/events"] if e["alert_type"] == "error"])[0]
        assert fired["title"] == "[Lynex Box] FIRING: checkout errors" and "error_count = 2" in fired["text"]
        assert {f"project:{server.project}", f"rule:{rule_id}", "event:firing", "env:test"} <= set(fired["tags"])
        resolved = _until(lambda: [e for e in dd.got["/api/v1/events"] if e["alert_type"] == "success"], 40)[0]
        assert resolved["title"] == "[Lynex Box] RESOLVED: checkout errors"
        assert resolved["aggregation_key"] == fired["aggregation_key"] == f"lynex-alert-{rule_id}"
        mine = {p["name"]: p for p in admin.get("/v1/plugins").json()["items"]}["datadog"]
        assert mine["counters"]["events_sent"] == 2 and mine["errors"] == 0
    finally:
        web.close()
        server.stop()


def test_a_wrong_api_key_is_refused_counted_and_not_retried(dd: Datadog) -> None:
    plugin = create({"api_key": "wrong", "site": dd.url, "flush_interval_s": 1, "backoff_s": 0.01})
    plugin.lynex_started(
        context=PluginContext("", Path("/nonexistent"), target_policy=TargetPolicy(allow_private=True))
    )
    rows = [{"project_id": "p1", "trace_id": "t", "span_id": "s", "event_id": "e", "start_time": 1, "kind": "llm",
             "duration_ms": 5.0, "ingested_at": 2}]  # fmt: skip
    plugin.lynex_spans_stored(event={"project_id": "p1", "spans": rows_to_table(rows)})
    _until(lambda: plugin.counters()["spans_failed"] == 1)
    assert dd.refused == ["/api/v2/series"] and "answered 403" in str(plugin.counters()["last_error"])
    with pytest.raises(Exception, match="answered 403"):
        plugin.lynex_alert_fired(event={"project_id": "p1", "rule_id": "r1", "event": "firing", "rule": {},
                                        "value": 1, "sent_at_us": 1_000_000, "link": ""})  # fmt: skip
    assert plugin.counters()["events_failed"] == 1


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 1.0)) == (50.0, 95.0, 100.0)
    assert percentile([7.0], 0.95) == 7.0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "api_key is required"),
        ({"api_key": "k", "site": "ftp://x"}, "site = 'ftp://x' must be a Datadog site"),
        ({"api_key": "k", "flush_interval_s": 0}, "flush_interval_s = 0 must be in [1, 3600]"),
        ({"api_key": "k", "metrics": "yes"}, "metrics = 'yes' must be true or false"),
        ({"api_key": "k", "region": "eu"}, "unknown key(s) ['region']"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PluginConfigError) as info:
        create(config)
    assert message in str(info.value)


def test_only_the_hooks_switched_on_are_implemented() -> None:
    only_events = create({"api_key": "k", "metrics": False})
    assert hasattr(only_events, "lynex_alert_fired") and not hasattr(only_events, "lynex_spans_stored")
    assert only_events.datadog.site == "https://api.datadoghq.com"
    assert create({"api_key": "k", "site": "datadoghq.eu", "events": False}).datadog.site == "https://api.datadoghq.eu"
