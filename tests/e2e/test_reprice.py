"""Repricing against the real server: change a custom price, reprice a range through the API and the CLI, read
the new costs back through the query API; spans outside the range and reported costs do not change."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.e2e.server import RunningServer
from tests.e2e.test_otlp import wait_trace
from tests.sources.otlp.builders import make_span, trace_request

HOUR_NS = 3_600 * 10**9
GPT4O = (2.5, 10.0)  # genai-prices, USD per million input / output tokens


def cost(price: tuple[float, float]) -> float:
    return (1000 * price[0] + 100 * price[1]) / 1e6


def send_spans(server: RunningServer, trace_id: str, start_ns: int, reported: bool = False) -> None:
    """Two GenAI chat spans (1000 input, 100 output tokens) of gpt-4o over OTLP, one second apart."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
    }
    if reported:
        attributes["gen_ai.usage.cost"] = 0.5
    spans = [
        make_span(attributes, trace_id=trace_id, span_id=f"{i + 1:016x}", parent=None,
                  start=start_ns + i * 10**9, end=start_ns + i * 10**9 + 10**8)
        for i in range(2)
    ]  # fmt: skip
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=trace_request(spans).SerializeToString(),
        headers={**server.headers(), "Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200 and not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")


def trace_costs(server: RunningServer, trace_id: str) -> list[tuple[float | None, str | None]]:
    return [(s["total_cost"], s["cost_source"]) for s in wait_trace(server, trace_id)["spans"]]


def iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))


def put_price(server: RunningServer, input_per_mtok: float, output_per_mtok: float) -> None:
    price = {"model": "gpt-4o", "input_per_mtok": input_per_mtok, "output_per_mtok": output_per_mtok}
    r = httpx.put(
        f"{server.url}/v1/projects/{server.project}/prices", json={"prices": [price]}, headers=server.headers()
    )
    assert r.status_code == 200, r.text


def reprice_cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "lynex_box", "reprice", "--project", server.project, *args,
           "--data-dir", str(server.data_dir), "--json"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_a_changed_price_reprices_a_range_through_the_api_and_the_cli(server: RunningServer) -> None:
    now = time.time_ns()
    old, mid, reported, recent = now - 48 * HOUR_NS, now - 24 * HOUR_NS, now - 23 * HOUR_NS, now - HOUR_NS
    traces = {"old": "a1" * 16, "mid": "b2" * 16, "reported": "c3" * 16, "recent": "d4" * 16}
    for name, start in (("old", old), ("mid", mid), ("reported", reported), ("recent", recent)):
        send_spans(server, traces[name], start, reported=name == "reported")
    library = [(pytest.approx(cost(GPT4O)), "computed")] * 2
    assert trace_costs(server, traces["mid"]) == library
    assert trace_costs(server, traces["reported"]) == [(0.5, "reported")] * 2

    put_price(server, 100.0, 200.0)  # the new price: stored spans keep their old cost until repriced
    assert trace_costs(server, traces["mid"]) == library
    url = f"{server.url}/v1/projects/{server.project}/reprice"
    window = {"from": iso(mid - HOUR_NS), "to": iso(reported + HOUR_NS)}  # mid and reported, not old or recent
    r = httpx.post(url, json=window, headers=server.headers(), timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["spans_changed"] == 2 and r.json()["rewritten"] >= 1

    custom = [(pytest.approx(cost((100.0, 200.0))), "computed")] * 2
    assert trace_costs(server, traces["mid"]) == custom
    assert trace_costs(server, traces["reported"]) == [(0.5, "reported")] * 2  # reported costs stay as reported
    assert trace_costs(server, traces["old"]) == library  # outside the range
    assert trace_costs(server, traces["recent"]) == library
    audit = httpx.get(
        f"{server.url}/api/projects/{server.project}/audit?action=data.repriced", headers=server.headers()
    )
    [entry] = audit.json()["items"]
    assert entry["actor_type"] == "key" and entry["details"]["spans_changed"] == 2

    # The CLI while the server runs: the server holds the data dir, so the CLI asks it through the API.
    put_price(server, 1.0, 2.0)
    refused = reprice_cli(server, "--from", iso(old - HOUR_NS), "--to", iso(now))
    assert refused.returncode != 0 and "--api-key" in refused.stderr and "LYNEX_API_KEY" in refused.stderr
    done = reprice_cli(server, "--from", iso(old - HOUR_NS), "--to", iso(mid + HOUR_NS),
                       "--url", server.url, "--api-key", server.creds["api_key"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"spans_changed": 4' in done.stdout
    assert trace_costs(server, traces["old"]) == [(pytest.approx(cost((1.0, 2.0))), "computed")] * 2
    assert trace_costs(server, traces["mid"]) == [(pytest.approx(cost((1.0, 2.0))), "computed")] * 2
    assert trace_costs(server, traces["recent"]) == library

    # With the server stopped the CLI rewrites the segments itself; the restarted server serves the new costs.
    server.stop()
    put = subprocess.run(
        [sys.executable, "-m", "lynex_box", "prices", "set", "--project", server.project, "--model", "gpt-4o",
         "--input-per-mtok", "3", "--output-per-mtok", "4", "--data-dir", str(server.data_dir), "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert put.returncode == 0, put.stderr
    local = reprice_cli(server, "--from", iso(recent - HOUR_NS), "--to", iso(now))
    assert local.returncode == 0, local.stderr
    assert '"spans_changed": 2' in local.stdout and "reprice" in local.stderr  # the progress bar
    server.start()
    assert trace_costs(server, traces["recent"]) == [(pytest.approx(cost((3.0, 4.0))), "computed")] * 2
    assert trace_costs(server, traces["mid"]) == [(pytest.approx(cost((1.0, 2.0))), "computed")] * 2


def test_repricing_needs_an_admin_key_and_a_valid_range(server: RunningServer) -> None:
    url = f"{server.url}/v1/projects/{server.project}/reprice"
    ingest_key = server.cli("keys", "create", "--project", server.project, "--scope", "ingest")["api_key"]
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    deadline = time.monotonic() + 10
    while (status := httpx.post(url, json=window, headers=server.headers(ingest_key)).status_code) == 401:
        assert time.monotonic() < deadline, "the server never learned the new key"
        time.sleep(0.2)  # the server's key ring refreshes every 2 s
    assert status == 403
    assert httpx.post(url, json=window).status_code == 401
    for bad in ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"from": "yesterday", "to": 1},
                {"to": 1}, [1, 2]):  # fmt: skip
        r = httpx.post(url, json=bad, headers=server.headers())
        assert r.status_code == 400 and r.json()["error"]["message"], bad
    empty = httpx.post(url, json=window, headers=server.headers())
    assert empty.status_code == 200 and empty.json()["files"] == 0
