"""A Langfuse observation created in one request and updated in a later one counts its usage and cost once.

The legacy ingestion stores such an update as a row of its own (`source = "langfuse-update"`, same trace and span
id). Langfuse's semantics are an upsert: the latest reported usage and the latest reported cost win. Every
aggregate (traces list, trace and outline, metrics, prompt stats, usage metering) must show the observation once,
with the update's values, from the head, after a flush into segments, after compaction and after a restart;
native spans in the same project keep their sums.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer
from tests.e2e.test_langfuse import DAY, by_name, langfuse_headers, legacy_event, wait_for

# Each request's rows become a segment of their own soon (the create and its update in different files), and
# compaction merges two or more of them within a second or two.
FAST = {
    "LYNEX_HEAD_MAX_AGE_S": "0.2",
    "LYNEX_COMPACTION_INTERVAL_S": "1",
    "LYNEX_COMPACTION_MIN_SEGMENTS": "2",
    "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0.5",
}
UPDATE = "langfuse-update"
GPT4O_IN, GPT4O_OUT = 2.5e-6, 10e-6  # USD per token: the price book's gpt-4o


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path / "data", env=FAST).start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def ingest(server: RunningServer, *events: dict[str, Any]) -> None:
    r = httpx.post(f"{server.url}/api/public/ingestion", json={"batch": list(events)}, headers=langfuse_headers(server))
    assert r.status_code == 207 and not r.json()["errors"], r.text


def get(server: RunningServer, path: str, **params: Any) -> Any:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}{path}", params=params, headers=server.headers())
    assert r.status_code == 200, r.text
    return r.json()


def stored_rows(server: RunningServer) -> int:
    series = get(server, "/metrics")["series"]
    return int(series[0]["points"][0]["count"]) if series else 0


def wait_rows(server: RunningServer, n: int) -> None:
    assert wait_for(lambda: stored_rows(server) >= n), f"fewer than {n} rows became visible"


def trace_create(trace_id: str, name: str) -> dict[str, Any]:
    body = {"id": trace_id, "name": name, "timestamp": f"{DAY}T10:00:00Z"}
    return legacy_event(f"{trace_id}-t", "trace-create", body, f"{DAY}T10:00:00Z")


def generation(kind: str, trace_id: str, item: str, at: str, **body: Any) -> dict[str, Any]:
    return legacy_event(item, f"generation-{kind}", {"id": f"{trace_id}-gen", "traceId": trace_id, **body}, at)


class Scenario:
    """Three Langfuse traces, each a generation whose update arrives in a later request, and one native trace."""

    def __init__(self) -> None:
        self.both, self.late, self.early, self.native = (uuid.uuid4().hex for _ in range(4))

    def send(self, server: RunningServer) -> None:
        start = f"{DAY}T10:00:01Z"
        # usage and cost on the create and on the update: the update's replace the create's
        ingest(
            server,
            trace_create(self.both, "both"),
            generation(
                "create",
                self.both,
                "b1",
                start,
                name="gen",
                startTime=start,
                model="gpt-4o",
                promptName="upsert-prompt",
                promptVersion=1,
                usage={"input": 10, "output": 5},
                costDetails={"input": 0.01, "output": 0.005},
            ),
        )
        # usage only on the update: priced with the model its create named
        ingest(
            server,
            trace_create(self.late, "late"),
            generation("create", self.late, "l1", start, name="gen", startTime=start, model="gpt-4o"),
        )
        # usage only on the create: the update changes only the output
        ingest(
            server,
            trace_create(self.early, "early"),
            generation(
                "create",
                self.early,
                "e1",
                start,
                name="gen",
                startTime=start,
                model="gpt-4o",
                usage={"input": 30, "output": 4},
            ),
        )
        native = {"trace_id": self.native, "span_id": "n1", "name": "native", "type": "llm", "model": "m",
                  "start_time": f"{DAY}T10:00:00Z", "usage": {"input_tokens": 1000, "output_tokens": 1},
                  "cost": {"total": 1.0}}  # fmt: skip
        r = httpx.post(f"{server.url}/v1/projects/{server.project}/events", json={"events": [native]},
                       headers=server.headers())  # fmt: skip
        assert r.status_code == 202, r.text
        wait_rows(server, 7)
        time.sleep(0.5)  # the creates reach a segment before their updates arrive
        end = f"{DAY}T10:00:03Z"
        ingest(server, generation("update", self.both, "b2", end, endTime=end, usage={"input": 12, "output": 7},
                                  costDetails={"input": 0.012, "output": 0.007}))  # fmt: skip
        ingest(server, generation("update", self.late, "l2", end, endTime=end, usage={"input": 100, "output": 20}))
        ingest(server, generation("update", self.early, "e2", end, endTime=end, output="done"))
        wait_rows(server, 10)

    def expected(self) -> dict[str, tuple[int, int, float]]:
        """(input tokens, output tokens, cost) of each trace."""
        return {
            self.both: (12, 7, 0.019),
            self.late: (100, 20, 100 * GPT4O_IN + 20 * GPT4O_OUT),
            self.early: (30, 4, 30 * GPT4O_IN + 4 * GPT4O_OUT),
            self.native: (1000, 1, 1.0),
        }

    def check(self, server: RunningServer, web: Browsers) -> None:
        expected = self.expected()
        listed = {t["trace_id"]: t for t in get(server, "/traces")["items"]}
        for trace_id, (tokens_in, tokens_out, cost) in expected.items():
            row = listed[trace_id]
            assert (row["input_tokens"], row["output_tokens"]) == (tokens_in, tokens_out), row
            assert row["total_cost"] == pytest.approx(cost)
            spans = [s for s in get(server, f"/traces/{trace_id}")["spans"] if s["input_tokens"] is not None]
            outline = [s for s in get(server, f"/traces/{trace_id}/outline")["spans"] if "input_tokens" in s]
            for span in (*spans, *outline):
                assert (span["input_tokens"], span["output_tokens"]) == (tokens_in, tokens_out), span
                assert span["total_cost"] == pytest.approx(cost)
            assert len(spans) == len(outline) == 1
        gen = by_name(get(server, f"/traces/{self.both}"))["gen"]
        assert (gen["total_tokens"], gen["cost_source"]) == (19, "reported")
        assert (gen["input_cost"], gen["output_cost"]) == (pytest.approx(0.012), pytest.approx(0.007))
        early = by_name(get(server, f"/traces/{self.early}"))["gen"]
        assert early["output"]["messages"] == [{"role": "assistant", "content": "done"}]  # the update still folds in

        total_in = sum(v[0] for v in expected.values())
        total_out = sum(v[1] for v in expected.values())
        total_cost = sum(v[2] for v in expected.values())
        point = get(server, "/metrics")["series"][0]["points"][0]
        assert (point["input_tokens"], point["output_tokens"]) == (total_in, total_out)
        assert point["total_cost"] == pytest.approx(total_cost)
        by_model = {s["group"]: s["points"][0] for s in get(server, "/metrics", group_by="model")["series"]}
        assert (by_model["gpt-4o"]["input_tokens"], by_model["m"]["input_tokens"]) == (142, 1000)

        versions = get(server, "/prompts/upsert-prompt/versions")["items"]
        assert [(v["input_tokens"], v["output_tokens"]) for v in versions] == [(12, 7)]
        assert versions[0]["total_cost"] == pytest.approx(0.019)

        r = web.admin().get(f"/api/projects/{server.project}/usage", params={"from": DAY, "to": DAY})
        assert r.status_code == 200, r.text
        totals = r.json()["totals"]
        assert (totals["input_tokens"], totals["output_tokens"]) == (total_in, total_out)
        assert totals["total_tokens"] == total_in + total_out
        assert totals["total_cost"] == pytest.approx(total_cost)


def segment_rows(server: RunningServer) -> list[list[tuple[str, str]]]:
    """(source, span id) of the rows of each segment file."""
    out = []
    for path in (server.data_dir / "segments").rglob("*.parquet"):
        try:
            table = pq.read_table(path, columns=["source", "span_id"])
        except FileNotFoundError:  # replaced by a compaction between the listing and the read
            continue
        out.append(list(zip(table.column("source").to_pylist(), table.column("span_id").to_pylist(), strict=True)))
    return out


def flushed(server: RunningServer) -> bool:
    return sum(len(rows) for rows in segment_rows(server)) == 10


def compacted(server: RunningServer) -> bool:
    """Compaction merged segments of these rows. Which ones depends on timing: the creates' files alone (into a
    level-1 file) when they were flushed in parts before their updates arrived, else a create with its update."""
    return "segments compacted" in server.log_path.read_text()


def test_a_later_update_replaces_the_usage_and_cost_of_its_create_in_every_aggregate(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", env={"LYNEX_HEAD_MAX_AGE_S": "3600"}).start()
    web = Browsers(server)
    try:
        scenario = Scenario()
        scenario.send(server)  # every row still in the in-memory head
        scenario.check(server, web)
    finally:
        web.close()
        server.stop()


def test_updates_count_once_from_segments_after_compaction_and_after_a_restart(fast_server: RunningServer) -> None:
    server = fast_server
    web = Browsers(server)
    try:
        scenario = Scenario()
        scenario.send(server)
        assert wait_for(lambda: flushed(server)), "the head was not flushed"
        scenario.check(server, web)  # every row in segments: creates and updates in different files, or compacted
        assert wait_for(lambda: compacted(server), timeout=20), f"not compacted: {segment_rows(server)}"
        scenario.check(server, web)
        server.stop()
        server.start()
        scenario.check(server, web)
    finally:
        web.close()
