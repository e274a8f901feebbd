"""The pipeline hooks through the real server: an enrich plugin and two detector plugins enabled in lynex.toml change
the spans sent through the API before they are stored, as the query API then shows (the enriched column, the merged
`hallucination_risk`, the detections in `attributes`); a plugin whose enricher raises, and one whose detector
raises, lose no span and are counted in GET /v1/plugins; spans replayed from the WAL after a kill go through the
hooks too."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.accounts import Browsers, wait_for_trace
from tests.e2e.server import RunningServer

PLUGINS = """
import pyarrow as pa
import pyarrow.compute as pc
from lynex_box.plugins.hookspecs import hookimpl

def _set(table, column, values):
    return table.set_column(table.schema.get_field_index(column), column, values)

class Release:
    @hookimpl
    def lynex_enrich_spans(self, table):
        return _set(table, "release", pc.fill_null(table.column("release"), "enriched-by-plugin"))

class Refunds:
    name = "refund-mentions"

    def detect(self, table):
        hit = pc.fill_null(pc.match_substring(table.column("input"), "refund"), False).to_pylist()
        return [0.8 if h else None for h in hit], [["mentions a refund"] if h else None for h in hit]

class Everything:
    name = "baseline"

    def detect(self, table):
        return pa.array([0.1] * table.num_rows)

class Detects:
    @hookimpl
    def lynex_detectors(self):
        return [Refunds()]

class Baseline:
    @hookimpl
    def lynex_detectors(self):
        return [Everything()]

class Broken:
    name = "broken"

    def detect(self, table):
        raise RuntimeError("detector down on purpose")

class BrokenDetector:
    @hookimpl
    def lynex_detectors(self):
        return [Broken()]

class RaisingEnricher:
    @hookimpl
    def lynex_enrich_spans(self, table):
        raise RuntimeError("enricher down on purpose")

release, detects, baseline, broken, raising = Release(), Detects(), Baseline(), BrokenDetector(), RaisingEnricher()
"""
ENTRY_POINTS = """[lynex_box.plugins]
test-release = lynex_pipeline_test_plugins:release
test-refunds = lynex_pipeline_test_plugins:detects
test-baseline = lynex_pipeline_test_plugins:baseline
test-broken-detector = lynex_pipeline_test_plugins:broken
test-raising-enricher = lynex_pipeline_test_plugins:raising
"""
CONFIG = """
[plugins]
enabled = ["test-raising-enricher", "test-release", "test-broken-detector", "test-refunds", "test-baseline"]
"""


def _server(tmp_path: Path) -> RunningServer:
    site = tmp_path / "site"
    site.mkdir()
    (site / "lynex_pipeline_test_plugins.py").write_text(PLUGINS)
    info = site / "lynex_pipeline_test_plugins-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lynex-pipeline-test-plugins\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    config = tmp_path / "lynex.toml"
    config.write_text(CONFIG)
    env = {"LYNEX_CONFIG": str(config), "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return RunningServer(tmp_path / "data", env=env).start()


def _spans(server: RunningServer, trace: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/{trace}", headers=server.headers())
    assert r.status_code == 200, r.text
    return {s["span_id"]: s for s in r.json()["spans"]}


def _send(server: RunningServer, trace: str) -> None:
    events = [
        {"trace_id": trace, "span_id": "ask", "name": "llm", "input": "I want a refund for order 7"},
        {"trace_id": trace, "span_id": "plain", "name": "tool", "input": "weather in Oslo", "release": "v2"},
    ]
    url = f"{server.url}/v1/projects/{server.project}/events"
    r = httpx.post(url, json={"events": events}, headers=server.headers())
    assert r.status_code == 202, r.text
    wait_for_trace(server, server.project, server.creds["api_key"], trace)


def _check(spans: dict[str, dict[str, Any]]) -> None:
    ask, plain = spans["ask"], spans["plain"]
    assert ask["release"] == "enriched-by-plugin" and plain["release"] == "v2"  # the enricher filled only nulls
    assert ask["hallucination_risk"] == 0.8 and plain["hallucination_risk"] == 0.1  # the maximum of the detectors
    assert ask["detections"] == [
        {"detector": "refund-mentions", "code": "refund-mentions", "score": 0.8, "excerpt": "mentions a refund"},
        {"detector": "baseline", "code": "baseline", "score": 0.1, "excerpt": None},
    ]
    assert plain["detections"] == [{"detector": "baseline", "code": "baseline", "score": 0.1, "excerpt": None}]


def test_enrich_and_detector_plugins_change_spans_before_they_are_stored(tmp_path: Path) -> None:
    server = _server(tmp_path)
    web = Browsers(server)
    try:
        _send(server, "hooked")
        _check(_spans(server, "hooked"))
        found = {p["name"]: p for p in web.admin().get("/v1/plugins").json()["items"]}
        release, raising, broken = found["test-release"], found["test-raising-enricher"], found["test-broken-detector"]
        assert release["state"] == "loaded" and release["errors"] == 0
        assert release["pipeline"][0]["hook"] == "lynex_enrich_spans" and release["pipeline"][0]["calls"] >= 1
        assert raising["state"] == "loaded" and raising["errors"] >= 1
        assert "enricher down on purpose" in raising["pipeline"][0]["last_error"]
        assert broken["errors"] >= 1 and "detector down on purpose" in broken["pipeline"][0]["last_error"]
        assert found["test-refunds"]["pipeline"][0] | {"calls": 0, "seconds": 0} == {
            "hook": "lynex_detectors", "calls": 0, "errors": 0, "seconds": 0, "last_error": ""
        }  # fmt: skip
        # the same counters on GET /metrics (the test client is on loopback)
        families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)}
        events = [s for s in families["lynex_plugin_events"].samples if s.name == "lynex_plugin_events_total"]
        samples = {(s.labels["plugin"], s.labels["hook"], s.labels["outcome"]): s.value for s in events}
        assert samples[("test-raising-enricher", "lynex_enrich_spans", "errors")] >= 1
        assert samples[("test-release", "lynex_enrich_spans", "delivered")] >= 1
        # spans the WAL replays after a kill (never flushed: the head is lost) go through the hooks again
        _send(server, "replayed")
        server.kill()
        server.start()
        _check(_spans(server, "replayed"))
        _check(_spans(server, "hooked"))
    finally:
        web.close()
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
