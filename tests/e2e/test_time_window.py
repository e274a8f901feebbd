"""End to end: a real server refuses span times outside the ingest window ([ingest] min_time, max_future_s) item
by item, in each API's style, and stores the rest; a plain export of the project stays quick."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import orjson

from tests.e2e.server import RunningServer

YEAR_2199_MS = 7_258_032_000_000
YEAR_2199_NS = YEAR_2199_MS * 1_000_000


def otlp_span(span_id: str, start_ns: int, end_ns: int) -> dict[str, Any]:
    return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "name": span_id, "kind": 1,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns)}  # fmt: skip


def otlp_body(spans: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]})


def visible(server: RunningServer) -> set[str]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/spans", params={"limit": 100}, headers=server.headers())
    return {item["event_id"] for item in r.json()["items"]}


def test_times_outside_the_window_are_refused_per_item_by_every_ingest_api(server: RunningServer) -> None:
    now_ms = time.time_ns() // 1_000_000
    now_ns = now_ms * 1_000_000
    url = f"{server.url}/v1/projects/{server.project}"

    # native: listed in `rejected`, the rest stored
    events = [{"event_id": "n-ok", "start_time": now_ms}, {"event_id": "n-far", "start_time": YEAR_2199_MS},
              {"event_id": "n-old", "start_time": "1970-01-02T00:00:00Z"}]  # fmt: skip
    r = httpx.post(f"{url}/events", json={"events": events}, headers=server.headers())
    assert r.status_code == 202 and r.json()["accepted"] == 1
    rejected = {item["index"]: item["error"] for item in r.json()["rejected"]}
    assert set(rejected) == {1, 2} and "start_time: 2199-12-31T00:00:00Z is more than 86400 s ahead" in rejected[1]
    assert "before 2000-01-01T00:00:00Z" in rejected[2]

    # OTLP traces: partial_success, and 400 when no span is left
    headers = {**server.headers(), "Content-Type": "application/json"}
    body = otlp_body([otlp_span("eee19b7ec3c1b174", now_ns, now_ns + 1), otlp_span("fff19b7ec3c1b174", YEAR_2199_NS,
                                                                                   YEAR_2199_NS + 1)])  # fmt: skip
    r = httpx.post(f"{server.url}/v1/traces", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "start time 2199-12-31" in r.json()["partialSuccess"]["errorMessage"]
    r = httpx.post(f"{server.url}/v1/traces", content=otlp_body([otlp_span("aaa19b7ec3c1b174", 1, 2)]), headers=headers)
    assert r.status_code == 400 and "none of the 1 spans can be stored" in r.json()["message"]

    # OTLP logs: the same for a log record's time
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": str(YEAR_2199_NS), "traceId":
            "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "eventName": "gen_ai.user.message",
            "body": {"stringValue": "hi"}}]}]}]}  # fmt: skip
    r = httpx.post(f"{server.url}/v1/logs", content=orjson.dumps(logs), headers=headers)
    assert r.status_code == 400 and "log record 0: time 2199-12-31" in r.json()["message"]

    # Langfuse: its per-event errors in the 207
    token = base64.b64encode(f"{server.project}:{server.creds['api_key']}".encode()).decode()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    batch = [{"id": "lf-ok", "type": "trace-create", "timestamp": stamp, "body": {"id": "lf-t1", "timestamp": stamp}},
             {"id": "lf-far", "type": "span-create", "timestamp": stamp,
              "body": {"id": "lf-s1", "traceId": "lf-t1", "startTime": "2199-12-31T00:00:00Z"}}]  # fmt: skip
    r = httpx.post(f"{server.url}/api/public/ingestion", json={"batch": batch},
                   headers={"Authorization": f"Basic {token}"})  # fmt: skip
    assert r.status_code == 207
    assert [s["id"] for s in r.json()["successes"]] == ["lf-ok"]
    [error] = r.json()["errors"]
    assert error["id"] == "lf-far" and error["status"] == 400 and "body.startTime: 2199-12-31" in error["message"]

    deadline = time.monotonic() + 10
    while len(visible(server)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    stored = visible(server)
    assert {"n-ok", "lf-ok"} <= stored and len(stored) == 3  # and the OTLP span, under its trace:span id
    began = time.monotonic()
    r = httpx.get(f"{url}/export", params={"format": "jsonl"}, headers=server.headers(), timeout=60)
    assert r.status_code == 200 and len(r.text.splitlines()) == 3 and time.monotonic() - began < 20
