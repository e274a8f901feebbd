"""Platform alerts end to end: a real server watches itself and notifies a real webhook receiver on 127.0.0.1.

The condition is driven for real: with `[ingest] max_backlog_bytes` at its 1 MiB minimum, one 1.6 MB batch that
waits in the head (head max_age_s) makes the server refuse every further ingest with 503 `overloaded` until the head
is flushed. Low thresholds (`for_s` 1 s, a 3 s error window, a 512 KiB WAL backlog) make `http_5xx_rate` and
`wal_backlog` fire while that lasts, and resolve once the flush has published the backlog and requests are answered
202 again. GET /v1/platform-alerts shows the states to an org owner and refuses an API key.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.alerts.receiver import Received, Receiver
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer

HEAD_AGE_S = 10  # how long the big batch stays in the head: the window in which ingest is refused
ENV = {
    "LYNEX_PLATFORM_ALERTS_ENABLED": "true",
    "LYNEX_PLATFORM_ALERTS_INTERVAL_S": "0.5",
    "LYNEX_PLATFORM_ALERTS_FOR_S": "1",
    "LYNEX_PLATFORM_ALERTS_RESOLVE_AFTER_S": "1",
    "LYNEX_PLATFORM_ALERTS_ERROR_WINDOW_S": "3",
    "LYNEX_PLATFORM_ALERTS_ERROR_RATE": "0.5",
    "LYNEX_PLATFORM_ALERTS_ERROR_MIN_RPS": "1",
    "LYNEX_PLATFORM_ALERTS_WAL_BACKLOG_BYTES": str(512 * 1024),
    "LYNEX_PLATFORM_ALERTS_DISABLE": "disk_free",  # the test machine's free disk is not this test's business
    "LYNEX_INGEST_MAX_BACKLOG_BYTES": str(1024 * 1024),
    "LYNEX_HEAD_MAX_AGE_S": str(HEAD_AGE_S),
    "LYNEX_ALERTS_ALLOWED_TARGET_NETWORKS": "127.0.0.1/32",  # the receiver, and nothing else
    "LYNEX_ALERTS_DELIVERY_BACKOFF_S": "0.05",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def arrived(receiver: Receiver, event: str, condition: str) -> list[Received]:
    return [
        r for r in receiver.on("/admin")
        if r.json()["type"] == f"platform_alert.{event}" and r.json()["platform"]["condition"] == condition
    ]  # fmt: skip


def head_rows(server: RunningServer) -> float:
    """`lynex_head_rows` from GET /metrics (loopback may read it)."""
    for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text):
        if family.name == "lynex_head_rows":
            return float(family.samples[0].value)
    raise AssertionError("lynex_head_rows missing")


def states(client: httpx.Client) -> dict[str, dict[str, Any]]:
    r = client.get("/v1/platform-alerts")
    assert r.status_code == 200, r.text
    return {c["condition"]: c for c in r.json()["conditions"]}


def test_a_real_5xx_burst_and_wal_backlog_fire_and_resolve_at_the_admin_webhook(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {**ENV, "LYNEX_PLATFORM_ALERTS_WEBHOOK_URL": f"{receiver.url}/admin"}
    server = RunningServer(tmp_path / "data", env=env).start()
    web = Browsers(server)
    try:
        owner = web.admin()
        assert httpx.get(f"{server.url}/v1/platform-alerts", headers=server.headers()).status_code == 403
        shown = owner.get("/v1/platform-alerts").json()
        assert shown["enabled"] and shown["channels"][0]["type"] == "webhook" and shown["cluster"] is False
        url, headers = f"{server.url}/v1/projects/{server.project}/events", server.headers()
        small = {"events": [{"name": "small", "status": "ok"}]}
        # the head's buffer is as old as its last flush: once a first batch is flushed, the next waits HEAD_AGE_S
        assert httpx.post(url, json=small, headers=headers).status_code == 202
        flushed_by = time.monotonic() + HEAD_AGE_S + 20
        while head_rows(server) > 0:
            assert time.monotonic() < flushed_by, "the first batch was never flushed"
            time.sleep(0.1)
        big = {"events": [{"name": "big", "input": secrets.token_hex(50_000)} for _ in range(16)]}
        assert httpx.post(url, json=big, headers=headers, timeout=30).status_code == 202
        answered: list[int] = []
        seen_firing: dict[str, Any] = {}
        deadline = time.monotonic() + HEAD_AGE_S + 40
        with httpx.Client(headers=headers, timeout=10) as sender:
            while time.monotonic() < deadline:
                answered.append(sender.post(url, json=small).status_code)
                if not seen_firing and all(arrived(receiver, "firing", c) for c in ("http_5xx_rate", "wal_backlog")):
                    seen_firing = states(owner)
                if seen_firing and all(arrived(receiver, "resolved", c) for c in ("http_5xx_rate", "wal_backlog")):
                    break
                time.sleep(0.05)
        assert 503 in answered and answered[-1] == 202, answered
        assert seen_firing, f"no firing arrived; got {[r.json()['summary'] for r in receiver.on('/admin')]}"
        assert seen_firing["http_5xx_rate"]["state"] == "firing" and seen_firing["wal_backlog"]["state"] == "firing"
        for condition in ("http_5xx_rate", "wal_backlog"):
            [fired] = arrived(receiver, "firing", condition)  # once, however long it held
            [resolved] = arrived(receiver, "resolved", condition)
            doc = fired.json()
            node = doc["platform"]["node_id"]
            assert (
                node
                and node in doc["summary"]
                and doc["platform"]["hint"]
                and doc["platform"]["scope"] == "single node"
            )
            assert doc["value"] is not None and doc["platform"]["threshold"] is not None
            assert resolved.json()["firing"]["started_at"] == doc["firing"]["started_at"]
        assert arrived(receiver, "firing", "wal_backlog")[0].json()["value"] > 1024 * 1024
        after = states(owner)
        assert after["http_5xx_rate"]["state"] == "ok" and after["wal_backlog"]["state"] == "ok"
        delivered = owner.get("/v1/platform-alerts").json()["deliveries"]
        assert {(d["condition"], d["event"], d["status"]) for d in delivered} >= {
            ("http_5xx_rate", "firing", "delivered"), ("wal_backlog", "resolved", "delivered"),
        }  # fmt: skip
    finally:
        web.close()
        server.stop()
