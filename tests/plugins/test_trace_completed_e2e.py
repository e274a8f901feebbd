"""`trace_completed` through the real server: a test plugin subscribed to it (installed for the server only) gets one
event per trace sent over OTLP, once the trace got no span for `[plugins] trace_idle_s`, with its counts, times
and root name, and `read_trace` in its context reads the trace's spans; a span sent after the event yields a
second event for the same trace; /metrics counts the events and the traces still open."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.plugins.test_plugins_e2e import _server

# Records each event, with the span names `read_trace` returned for it, as a JSON line in its own directory.
TEST_PLUGIN = """
import json
from lynex_box.plugins.hookspecs import hookimpl

class Recorder:
    def __init__(self):
        self.context = None

    @hookimpl
    def lynex_started(self, context):
        self.context = context
        context.data_dir.mkdir(parents=True, exist_ok=True)

    @hookimpl
    def lynex_trace_completed(self, event):
        table = self.context.read_trace(event["project_id"], event["trace_id"])
        line = dict(event, read_names=sorted(table.column("name").to_pylist()))
        with open(self.context.data_dir / "events.jsonl", "a") as f:
            f.write(json.dumps(line) + "\\n")

recorder = Recorder()
"""


def _install(root: Path) -> Path:
    root.mkdir()
    (root / "lynex_test_traces.py").write_text(TEST_PLUGIN)
    info = root / "lynex_test_traces-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lynex-test-traces\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[lynex_box.plugins]\ntest-traces = lynex_test_traces:recorder\n")
    return root


def _span(trace: str, span: str, parent: str, name: str, start_ns: int, error: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "traceId": trace, "spanId": span, "name": name, "kind": 1,
        "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + 1_000_000),
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
    }  # fmt: skip
    if parent:
        item["parentSpanId"] = parent
    if error:
        item["status"] = {"code": 2, "message": "failed"}
    return item


def _send(client: httpx.Client, spans: list[dict[str, Any]]) -> None:
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    r = client.post("/v1/traces", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def _events(path: Path, n: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            lines = [orjson.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if len(lines) >= n:
                return lines
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} trace_completed events in {path} after {timeout_s} s")


def test_trace_completed_reaches_a_plugin_after_the_idle_time(tmp_path: Path) -> None:
    config = '[plugins]\nenabled = ["test-traces"]\ntrace_idle_s = 1.5\n'
    server = _server(tmp_path / "data", config, _install(tmp_path / "site"))
    out = tmp_path / "data" / "plugins" / "test-traces" / "events.jsonl"
    t1, t2 = "a1" * 16, "b2" * 16
    base = 1_796_000_000_000_000_000
    try:
        with httpx.Client(base_url=server.url, headers=server.headers(), timeout=30) as client:
            sent_at = time.monotonic()
            _send(client, [_span(t1, "1" * 16, "", "agent", base), _span(t2, "3" * 16, "", "other", base)])
            time.sleep(0.5)  # t1 gets more spans: it completes after t2
            _send(client, [_span(t1, "2" * 16, "1" * 16, "chat gpt", base + 5_000_000, error=True)])
            first, second = _events(out, 2)
            assert time.monotonic() - sent_at >= 1.5  # not before the idle time
            assert first["trace_id"] == t2 and second["trace_id"] == t1
            assert second == {
                "project_id": server.project, "trace_id": t1, "span_count": 2, "error_count": 1,
                "start_us": base // 1000, "end_us": (base + 6_000_000) // 1000, "root_name": "agent",
                "early": False, "read_names": ["agent", "chat gpt"],
            }  # fmt: skip
            # a late span of t1: a second event, counting only what came after the first
            _send(client, [_span(t1, "4" * 16, "1" * 16, "late eval", base + 9_000_000)])
            third = _events(out, 3)[2]
            assert (third["trace_id"], third["span_count"], third["root_name"]) == (t1, 1, None)
            assert third["read_names"] == ["agent", "chat gpt", "late eval"]
            metrics = client.get("/metrics")  # from loopback
            assert metrics.status_code == 200, metrics.text
            families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
            done = {s.labels["reason"]: s.value for s in families["lynex_traces_completed"].samples
                    if s.name == "lynex_traces_completed_total"}  # fmt: skip
            assert done == {"idle": 3.0, "early": 0.0}
            assert families["lynex_traces_open"].samples[0].value == 0
    finally:
        server.stop()
