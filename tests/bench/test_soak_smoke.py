"""The soak benchmark's bounded version (bench/soak.py --duration 20): a real server under every activity at once
answers each request as expected, stores every acknowledged span exactly once and stops cleanly; the report has
every figure the 30-minute run is read by (docs/testing.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
ACTIVITIES = {"ingest_native", "ingest_otlp", "query_metrics", "query_traces", "query_trace_view", "query_sessions",
              "export", "login", "login_wrong", "logout"}  # fmt: skip


def test_a_twenty_second_soak_has_no_error_and_a_sane_report() -> None:
    proc = subprocess.run([sys.executable, str(SOAK), "--duration", "20"], capture_output=True, text=True, timeout=240)
    report = json.loads(proc.stdout)
    assert report["errors"] == {"total": 0, "by_kind": {}, "examples": {}}, report["errors"]
    assert proc.returncode == 0 and report["pass"], proc.stderr[-2000:]
    assert report["spans"]["stored"] == report["spans"]["acknowledged"] > 1000
    assert set(report["activities"]) == ACTIVITIES
    for name, activity in report["activities"].items():
        latency = activity["latency_ms"]
        assert activity["requests"] > 0 and 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"], (
            name
        )
    assert report["activities"]["ingest_native"]["spans_per_s"] > 100
    assert 1 <= report["logins"]["wrong"] < report["logins"]["attempts"]
    rss = report["rss"]
    assert rss["judged"] is False  # 20 s are warm-up: reported, not judged
    assert len(rss["series_mb"]) >= 5 and all(50 < own <= total < 4096 for _, total, own in rss["series_mb"])
    disk = report["disk"]
    assert 0 < disk["segment_bytes_per_span"] <= disk["bytes_per_span"]
    assert disk["data_dir_bytes"] >= sum(disk["parts_bytes"].values())
