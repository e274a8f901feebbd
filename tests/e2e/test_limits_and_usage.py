"""Ingest rate limits (per project from its settings, per key from lynex.toml) and usage metering per day."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.accounts import Browsers, wait_for_trace
from tests.e2e.server import RunningServer


@pytest.fixture
def web(server: RunningServer) -> Iterator[Browsers]:
    browsers = Browsers(server)
    yield browsers
    browsers.close()


def post(server: RunningServer, events: list[dict[str, object]], key: str | None = None) -> httpx.Response:
    url = f"{server.url}/v1/projects/{server.project}/events"
    return httpx.post(url, json={"events": events}, headers=server.headers(key))


def test_a_project_limit_set_in_its_settings_answers_429_with_retry_after(server: RunningServer, web: Browsers) -> None:
    admin = web.admin()
    settings = f"/api/projects/{server.project}/settings"
    r = admin.patch(settings, json={"limits": {"events_per_s": 5, "events_burst": 10}})
    assert r.status_code == 200, r.text
    assert r.json()["effective_limits"]["events_per_s"] == 5 and r.json()["limits"]["bytes_per_s"] is None
    assert post(server, [{"trace_id": f"r{i}"} for i in range(10)]).status_code == 202
    refused = post(server, [{"trace_id": "r-over"}] * 5)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    time.sleep(int(refused.headers["retry-after"]))
    assert post(server, [{"trace_id": f"r-late{i}"} for i in range(5)]).status_code == 202
    assert admin.patch(settings, json={"limits": {"events_per_s": None, "events_burst": None}}).status_code == 200
    assert post(server, [{"trace_id": f"free{i}"} for i in range(50)]).status_code == 202
    bad = admin.patch(settings, json={"limits": {"events_per_s": -1}})
    assert bad.status_code == 400 and "events_per_s" in bad.json()["error"]["message"]
    assert admin.patch(settings, json={"limits": {"evnts_per_s": 1}}).status_code == 400
    changes = admin.get(f"/api/projects/{server.project}/audit", params={"action": "project.settings_changed"})
    assert len(changes.json()["items"]) == 2


def test_a_project_byte_limit(server: RunningServer, web: Browsers) -> None:
    admin = web.admin()
    limits = {"bytes_per_s": 2000, "bytes_burst": 2000}
    assert admin.patch(f"/api/projects/{server.project}/settings", json={"limits": limits}).status_code == 200
    assert post(server, [{"trace_id": "big", "input": "x" * 3000}]).status_code == 202  # a full bucket lets it pass
    r = post(server, [{"trace_id": "small"}])
    assert r.status_code == 429 and "bytes" in r.json()["error"]["message"]


def test_key_limits_from_lynex_toml_are_per_key(tmp_path: Path) -> None:
    env = {"LYNEX_LIMITS_KEY_EVENTS_PER_S": "1", "LYNEX_LIMITS_KEY_EVENTS_BURST": "3"}
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        other = server.cli("keys", "create", "--project", server.project, "--scope", "ingest")["api_key"]
        time.sleep(2.5)  # the key ring refreshes every 2 s
        assert post(server, [{"trace_id": "k1"}] * 3).status_code == 202
        assert post(server, [{"trace_id": "k1b"}]).status_code == 429
        assert post(server, [{"trace_id": "k2"}] * 3, key=other).status_code == 202
    finally:
        server.stop()


def test_usage_per_day_counts_events_spans_tokens_and_cost(server: RunningServer, web: Browsers) -> None:
    def llm(trace: str, day: str, tokens: int, cost: float) -> dict[str, object]:
        return {
            "trace_id": trace,
            "type": "llm",
            "start_time": f"{day}T10:00:00Z",
            "model": "m",
            "usage": {"input_tokens": tokens, "output_tokens": 1},
            "cost": {"total": cost},
        }

    events: list[dict[str, object]] = [
        llm("u1", "2026-03-01", 10, 0.5),
        llm("u1", "2026-03-01", 20, 0.25),
        {"trace_id": "u1", "type": "event", "name": "clicked", "start_time": "2026-03-01T11:00:00Z"},
        llm("u2", "2026-03-03", 5, 1.0),
        llm("u3", "2026-04-01", 7, 2.0),
    ]
    assert post(server, events).status_code == 202
    wait_for_trace(server, server.project, server.creds["api_key"], "u3")
    admin = web.admin()
    r = admin.get(f"/api/projects/{server.project}/usage", params={"from": "2026-03-01", "to": "2026-03-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-31")
    days = {d["day"]: d for d in body["days"]}
    assert sorted(days) == ["2026-03-01", "2026-03-03"]
    first = days["2026-03-01"]
    assert (first["events"], first["spans"], first["traces"], first["input_tokens"]) == (3, 2, 1, 30)
    assert first["total_cost"] == pytest.approx(0.75)
    assert body["totals"]["events"] == 4 and body["totals"]["total_cost"] == pytest.approx(1.75)
    bad = admin.get(f"/api/projects/{server.project}/usage", params={"from": "soon"})
    assert bad.status_code == 400
    key_view = httpx.get(
        f"{server.url}/api/projects/{server.project}/usage",
        params={"from": "2026-04-01", "to": "2026-04-01"},
        headers=server.headers(),
    )
    assert [d["day"] for d in key_view.json()["days"]] == ["2026-04-01"]
