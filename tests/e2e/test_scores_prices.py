"""End to end: native scores (stored under the key's project, listed, shown with their trace) and per-project
custom prices (API and CLI, applied to spans ingested afterwards while the server runs)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def new_key(server: RunningServer, project: str, scope: str) -> str:
    key = str(server.cli("keys", "create", "--project", project, "--scope", scope)["api_key"])
    url = f"{server.url}/api/public/projects"
    assert wait_for(lambda: httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200)
    return key


def send_llm(server: RunningServer, model: str, input_tokens: int, output_tokens: int) -> str:
    trace_id = uuid.uuid4().hex
    event = {"event_id": trace_id, "trace_id": trace_id, "span_id": trace_id, "name": "call", "type": "llm",
             "model": model, "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}  # fmt: skip
    r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": [event]},
                   headers=server.headers())  # fmt: skip
    assert r.status_code == 202
    return trace_id


def span_of(server: RunningServer, trace_id: str) -> dict[str, Any]:
    url = f"{server.url}/v1/projects/{server.project}/traces/{trace_id}"
    found = wait_for(lambda: (r := httpx.get(url, headers=server.headers())).status_code == 200 and r.json())
    assert found, f"trace {trace_id} not stored"
    return dict(found["spans"][0])


def test_native_scores_are_listed_filtered_paged_and_shown_with_their_trace(server: RunningServer) -> None:
    trace_id = send_llm(server, "gpt-4o", 10, 5)
    url = f"{server.url}/v1/projects/{server.project}/scores"
    scores = [
        {"trace_id": trace_id, "name": "accuracy", "value": 0.8, "timestamp": "2025-01-01T00:00:01Z"},
        {"trace_id": trace_id, "span_id": trace_id, "name": "thumbs", "value": False, "source": "annotation",
         "comment": "wrong city", "timestamp": "2025-01-01T00:00:02Z"},
        {"trace_id": trace_id, "name": "label", "value": "refund", "timestamp": "2025-01-01T00:00:03Z"},
        {"name": "orphan", "value": 1},
    ]  # fmt: skip
    r = httpx.post(url, json={"scores": scores}, headers=server.headers())
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 3 and len(body["ids"]) == 3
    assert body["rejected"] == [{"index": 3, "error": body["rejected"][0]["error"]}]
    assert "trace_id" in body["rejected"][0]["error"]

    page1 = httpx.get(url, params={"trace_id": trace_id, "limit": 2}, headers=server.headers()).json()
    assert [s["name"] for s in page1["items"]] == ["label", "thumbs"]  # newest first
    page2 = httpx.get(url, params={"trace_id": trace_id, "limit": 2, "cursor": page1["next_cursor"]},
                      headers=server.headers()).json()  # fmt: skip
    assert [s["name"] for s in page2["items"]] == ["accuracy"] and page2["next_cursor"] is None
    only = httpx.get(url, params={"name": "thumbs"}, headers=server.headers()).json()["items"]
    assert [(s["value"], s["string_value"], s["source"], s["comment"]) for s in only] == [
        (0.0, "False", "ANNOTATION", "wrong city")
    ]
    span_of(server, trace_id)
    trace = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}", headers=server.headers()).json()
    assert [s["name"] for s in trace["scores"]] == ["accuracy", "thumbs", "label"]


def test_a_score_is_always_stored_under_the_key_s_project(server: RunningServer) -> None:
    other = server.cli("projects", "create", "other")["project_id"]
    other_key = new_key(server, other, "admin")
    trace_id = send_llm(server, "gpt-4o", 1, 1)  # a trace of the first project
    own_url = f"{server.url}/v1/projects/{server.project}/scores"
    # the other project's key cannot write into the first project's path ...
    refused = httpx.post(own_url, json={"trace_id": trace_id, "name": "x", "value": 1},
                         headers={"Authorization": f"Bearer {other_key}"})  # fmt: skip
    assert refused.status_code == 403
    # ... and a score it sends for that trace id (by either API) stays in its own project
    r = httpx.post(f"{server.url}/v1/projects/{other}/scores", json={"trace_id": trace_id, "name": "x", "value": 1},
                   headers={"Authorization": f"Bearer {other_key}"})  # fmt: skip
    assert r.status_code == 202
    r = httpx.post(f"{server.url}/api/public/scores", json=[{"traceId": trace_id, "name": "y", "value": 2}],
                   headers={"Authorization": f"Bearer {other_key}"})  # fmt: skip
    assert r.status_code == 202
    assert httpx.get(own_url, params={"trace_id": trace_id}, headers=server.headers()).json()["items"] == []
    theirs = httpx.get(f"{server.url}/v1/projects/{other}/scores", params={"trace_id": trace_id},
                       headers={"Authorization": f"Bearer {other_key}"}).json()["items"]  # fmt: skip
    assert sorted(s["name"] for s in theirs) == ["x", "y"]
    span_of(server, trace_id)
    trace = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace_id}", headers=server.headers()).json()
    assert trace["scores"] == []


def test_custom_prices_through_the_api_apply_to_new_spans_only(server: RunningServer) -> None:
    url = f"{server.url}/v1/projects/{server.project}/prices"
    before = span_of(server, send_llm(server, "acme-llama-70b", 1_000_000, 500_000))
    assert (before["total_cost"], before["cost_source"]) == (None, "none")  # unknown model: no cost, never a guess

    price = {"model": "acme-llama-70b", "input_per_mtok": 1.0, "output_per_mtok": 2.0, "cache_read_per_mtok": 0.1}
    r = httpx.put(url, json={"prices": [price]}, headers=server.headers())
    assert r.status_code == 200
    assert r.json()["items"] == [{**price, "provider": None, "cache_write_per_mtok": None}]
    after = span_of(server, send_llm(server, "acme-llama-70b", 1_000_000, 500_000))
    assert (after["total_cost"], after["cost_source"]) == (pytest.approx(2.0), "computed")
    assert span_of(server, before["trace_id"])["total_cost"] is None  # stored spans keep their cost

    r = httpx.put(url, json={"prices": [{**price, "input_per_mtok": 3.0}]}, headers=server.headers())
    assert r.status_code == 200 and r.json()["items"][0]["input_per_mtok"] == 3.0  # upsert, not a second row
    assert span_of(server, send_llm(server, "acme-llama-70b", 1_000_000, 0))["total_cost"] == pytest.approx(3.0)

    r = httpx.delete(url, params={"model": "acme-llama-70b"}, headers=server.headers())
    assert r.status_code == 200 and r.json()["items"] == []
    assert httpx.delete(url, params={"model": "acme-llama-70b"}, headers=server.headers()).status_code == 404
    assert span_of(server, send_llm(server, "acme-llama-70b", 10, 10))["cost_source"] == "none"


def test_price_api_checks_scope_and_values(server: RunningServer) -> None:
    url = f"{server.url}/v1/projects/{server.project}/prices"
    read_key = new_key(server, server.project, "read")
    ingest_key = new_key(server, server.project, "ingest")
    price = {"model": "m", "input_per_mtok": 1, "output_per_mtok": 1}
    assert httpx.get(url, headers={"Authorization": f"Bearer {read_key}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {ingest_key}"}).status_code == 403
    assert httpx.put(url, json=[price], headers={"Authorization": f"Bearer {read_key}"}).status_code == 403
    assert httpx.put(url, json=[price]).status_code == 401
    for bad in ({**price, "input_per_mtok": -1}, {**price, "model": ""}, {"model": "m"}, {**price, "color": "red"}):
        r = httpx.put(url, json={"prices": [bad]}, headers=server.headers())
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_price"
    assert httpx.put(url, json={"prices": [price, price]}, headers=server.headers()).status_code == 400
    assert httpx.get(url, headers=server.headers()).json()["items"] == []


def test_prices_set_from_the_cli_take_effect_within_seconds_while_the_server_runs(server: RunningServer) -> None:
    library = span_of(server, send_llm(server, "gpt-4o", 1_000_000, 0))
    assert library["total_cost"] == pytest.approx(2.5)  # genai-prices: $2.50 per million input tokens
    shown = server.cli("prices", "set", "--project", server.project, "--model", "gpt-4o",
                       "--input-per-mtok", "1", "--output-per-mtok", "4")  # fmt: skip
    assert shown == [{"model": "gpt-4o", "provider": None, "input_per_mtok": 1.0, "output_per_mtok": 4.0,
                      "cache_read_per_mtok": None, "cache_write_per_mtok": None}]  # fmt: skip
    assert server.cli("prices", "list", "--project", server.project)[0]["input_per_mtok"] == 1.0

    def custom_applied() -> bool:
        return bool(span_of(server, send_llm(server, "gpt-4o", 1_000_000, 0))["total_cost"] == pytest.approx(1.0))

    started = time.monotonic()
    assert wait_for(custom_applied, timeout=10.0)
    assert time.monotonic() - started < 6.0
    assert span_of(server, library["trace_id"])["total_cost"] == pytest.approx(2.5)

    assert server.cli("prices", "delete", "--project", server.project, "--model", "gpt-4o")["deleted"]
    assert server.cli("prices", "list", "--project", server.project) == []
    assert wait_for(lambda: span_of(server, send_llm(server, "gpt-4o", 1_000_000, 0))["total_cost"] == 2.5)


def test_a_logged_in_admin_reads_scores_and_manages_prices_like_the_ui(server: RunningServer) -> None:
    from tests.e2e.accounts import Browsers

    browsers = Browsers(server)
    try:
        admin = browsers.admin()
        trace_id = send_llm(server, "gpt-4o", 1, 1)
        r = admin.post(f"/v1/projects/{server.project}/scores", json={"trace_id": trace_id, "name": "ok", "value": 1})
        assert r.status_code == 202
        items = admin.get(f"/v1/projects/{server.project}/scores", params={"trace_id": trace_id}).json()["items"]
        assert [s["name"] for s in items] == ["ok"]
        price = {"model": "ui-model", "input_per_mtok": 1, "output_per_mtok": 2}
        assert admin.put(f"/v1/projects/{server.project}/prices", json={"prices": [price]}).status_code == 200
        without_csrf = browsers.new(cookies=admin.cookies)
        assert without_csrf.put(f"/v1/projects/{server.project}/prices", json=[price]).status_code == 403
        assert admin.get(f"/v1/projects/{server.project}/prices").json()["items"][0]["model"] == "ui-model"
    finally:
        browsers.close()
