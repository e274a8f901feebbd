"""The usage_day_closed topic through the real server: spans sent timestamped yesterday, a grace delay that ends a
few seconds after the test starts, and the webhook-events plugin subscribed to the topic; the real HTTP receiver
gets one event for the project with yesterday's usage as the query engine computes it, and a restarted server
(same data dir) does not emit the day again."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.alerts.receiver import Receiver
from tests.e2e.accounts import wait_for_trace
from tests.e2e.server import RunningServer

# the day closes this long after the test computes its delay: time enough to start the server and send the spans
CLOSE_AFTER_S = 25


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _yesterday_and_delay() -> tuple[dt.date, float]:
    """Yesterday (UTC) and a grace delay that makes it due `CLOSE_AFTER_S` seconds from now."""
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - dt.timedelta(days=1)).date(), (now - midnight).total_seconds() + CLOSE_AFTER_S


def test_yesterdays_usage_is_emitted_once_per_project_after_the_grace_delay(tmp_path: Path, receiver: Receiver) -> None:
    yesterday, delay_s = _yesterday_and_delay()
    config = f"""
[plugins]
enabled = ["webhook-events"]
usage_close_delay_s = {delay_s}
usage_close_check_s = 0.5
[plugins.webhook-events]
url = "{receiver.url}/usage"
topics = ["usage_day_closed"]
"""
    path = tmp_path / "lynex.toml"
    path.write_text(config)
    server = RunningServer(tmp_path / "data", env={"LYNEX_CONFIG": str(path)}).start()
    try:
        day = yesterday.isoformat()
        events = [
            {"trace_id": "t1", "type": "llm", "start_time": f"{day}T10:00:00Z", "model": "m",
             "usage": {"input_tokens": 100, "output_tokens": 20}, "cost": {"total": 0.25}},
            {"trace_id": "t1", "type": "llm", "start_time": f"{day}T10:00:01Z", "model": "m", "status": "error",
             "usage": {"input_tokens": 10, "output_tokens": 2}, "cost": {"total": 0.5}},
            {"trace_id": "t2", "type": "tool", "name": "search", "start_time": f"{day}T23:59:59Z"},
            {"trace_id": "t3", "type": "tool", "name": "today", "start_time": dt.datetime.now(dt.UTC).isoformat()},
        ]  # fmt: skip
        url = f"{server.url}/v1/projects/{server.project}/events"
        assert httpx.post(url, json={"events": events}, headers=server.headers()).status_code == 202
        wait_for_trace(server, server.project, server.creds["api_key"], "t3")
        assert receiver.on("/usage") == [], "the day closed before its grace delay ended"
        got = receiver.wait_for("/usage", lambda r: True, timeout=CLOSE_AFTER_S + 30)
        doc = got.json()
        assert doc["topic"] == "usage_day_closed"
        event = doc["event"]
        start_us = int(dt.datetime.combine(yesterday, dt.time(), dt.UTC).timestamp()) * 1_000_000
        assert event == {
            "project_id": server.project, "day": day, "start_us": start_us, "end_us": start_us + 86_400_000_000,
            "traces": 2, "spans": 3, "llm_calls": 2, "errors": 1, "input_tokens": 110, "output_tokens": 22,
            "total_tokens": 132, "cost_usd": pytest.approx(0.75),
        }  # fmt: skip
        time.sleep(2)
        assert len(receiver.on("/usage")) == 1  # one project had data: one event
        assert server.stop() == 0
        server.start()
        time.sleep(4)  # eight turns of the check
        assert len(receiver.on("/usage")) == 1, "a restart emitted the closed day again"
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
