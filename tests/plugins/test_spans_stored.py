"""The `spans_stored` topic: a real server hands the spans of each pipeline step to a plugin, here one in a worker
process (the Arrow table crosses the pipe pickled), with the values sent through the ingest API; a step of several
projects becomes one event per project, each with only its own spans."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pyarrow as pa

from lynex_box.pipeline.runner import Pipeline, rows_to_table
from tests.e2e.server import RunningServer

ENTRY_POINTS = "[lynex_box.plugins]\ntest-spans = tests.plugins.worker_plugins:spans_writer\n"


def _entry_points(root: Path) -> Path:
    info = root / "lynex_test_spans-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lynex-test-spans\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


def test_an_out_of_process_plugin_gets_the_stored_spans(tmp_path: Path) -> None:
    out = tmp_path / "spans.jsonl"
    config = tmp_path / "lynex.toml"
    config.write_text(
        f'[plugins]\nenabled = ["test-spans"]\nout_of_process = ["test-spans"]\n[plugins.test-spans]\npath = "{out}"\n'
    )
    site = _entry_points(tmp_path / "site")
    env = {"LYNEX_CONFIG": str(config), "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        events = [
            {"trace_id": "t-spans", "span_id": f"s{i}", "name": f"call {i}", "type": "llm", "model": "gpt-4o",
             "usage": {"input_tokens": 10 + i, "output_tokens": 2}, "start_time": "2026-12-01T10:00:00Z"}
            for i in range(3)
        ]  # fmt: skip
        r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": events},
                       headers=server.headers())  # fmt: skip
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 30
        while not (out.exists() and out.read_text().strip()):
            assert time.monotonic() < deadline, "no spans_stored event reached the plugin"
            time.sleep(0.05)
        [line] = [json.loads(x) for x in out.read_text().splitlines()]
        assert server.proc is not None and line["pid"] != server.proc.pid  # the worker's process, not the server's
        assert (line["project_id"], line["type"]) == (server.project, "Table")
        assert sorted(zip(line["span_ids"], line["names"], line["models"], line["input_tokens"], strict=True)) == [
            (f"s{i}", f"call {i}", "gpt-4o", 10 + i) for i in range(3)
        ]
    finally:
        server.stop()


def test_a_step_of_two_projects_is_one_event_per_project() -> None:
    emitted: list[tuple[str, dict[str, Any]]] = []
    events = SimpleNamespace(emit=lambda topic, event: emitted.append((topic, event)), wants=lambda topic: True)
    rows = [
        {"project_id": p, "trace_id": "t", "span_id": f"{p}-{i}", "event_id": f"{p}-{i}", "start_time": 1_000_000 + i,
         "ingested_at": 2_000_000}
        for p, i in (("a", 0), ("b", 1), ("a", 2))
    ]  # fmt: skip
    table = rows_to_table(rows)
    Pipeline._hand_spans(SimpleNamespace(events=events), table, 7, 9)  # type: ignore[arg-type]
    by_project = {e["project_id"]: e for topic, e in emitted if topic == "spans_stored"}
    assert sorted(by_project) == ["a", "b"] and len(emitted) == 2
    assert by_project["a"]["spans"].column("span_id").to_pylist() == ["a-0", "a-2"]
    assert by_project["b"]["spans"].column("span_id").to_pylist() == ["b-1"]
    assert isinstance(by_project["a"]["spans"], pa.Table) and by_project["a"]["lsn_from"] == 7
