"""Built-in platform alerts (lynex_box/api/platform_alerts.py) through the real server and a real webhook receiver:
a condition that holds for `for_s` fires one POST, it resolves with another when it no longer holds, and a POST the
receiver refuses is sent again at the next check.

The query-latency condition is the one a test can drive both ways at will: with `query_p95_s = 0` every interval
that has a `GET /v1/...` breaches it, and an interval without one does not.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.alerts.receiver import Receiver
from tests.e2e.server import RunningServer

FOR_S = 1.5


def test_a_sustained_condition_fires_once_then_resolves_and_a_refused_post_is_sent_again(tmp_path: Path) -> None:
    receiver = Receiver().start()
    path = "/flaky/1/platform"  # the receiver answers 500 to the first POST, 200 after
    env = {
        "LYNEX_PLATFORM_ALERTS_WEBHOOK_URL": receiver.url + path,
        "LYNEX_PLATFORM_ALERTS_INTERVAL_S": "0.3",
        "LYNEX_PLATFORM_ALERTS_FOR_S": str(FOR_S),
        "LYNEX_PLATFORM_ALERTS_QUERY_P95_S": "0",
        "LYNEX_PLATFORM_ALERTS_DISK_FREE_RATIO": "0",
    }
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        url = f"{server.url}/v1/projects/{server.project}/traces"
        with httpx.Client(timeout=30, headers=server.headers()) as client:
            started = time.monotonic()
            while not receiver.on(path) and time.monotonic() - started < 30:  # queries in every interval
                assert client.get(url).status_code == 200
                time.sleep(0.05)
            first = receiver.wait_for(path, lambda r: True, timeout=1)
            assert time.monotonic() - started >= FOR_S, "fired before the condition held for for_s"
            firing = receiver.wait_for(path, lambda r: r.json()["state"] == "firing" and r is not first, timeout=10)
        same = {"at_us", "value"}  # sent again at the next check, with that check's reading
        assert {k: v for k, v in first.json().items() if k not in same} == {
            k: v for k, v in firing.json().items() if k not in same
        }
        event = firing.json()
        assert (event["alert"], event["threshold"]) == ("query_latency_high", 0)
        assert event["value"] > 0 and event["summary"] and event["version"]
        # no more queries: the next interval has none, the condition no longer holds
        resolved = receiver.wait_for(path, lambda r: r.json()["state"] == "resolved", timeout=15)
        assert resolved.json()["alert"] == "query_latency_high"
        time.sleep(1.0)
        states = [r.json()["state"] for r in receiver.on(path)]
        assert states == ["firing", "firing", "resolved"], states  # one firing (sent twice: the 500), one resolved
        log = server.log_path.read_text()
        assert "platform alert query_latency_high not delivered" in log and "answered 500" in log
    finally:
        server.stop()
        receiver.stop()
