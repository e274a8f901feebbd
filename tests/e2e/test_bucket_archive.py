"""The bucket as an open archive (issue #14, item 7; docs/format/bucket.md "Reading the bucket directly"): two real
`lynex-box run` nodes of one cluster on the real moto S3 server take known spans; `lynex-box archive` lists the
project's live objects from the cluster manifests and prints the DuckDB SQL of the `spans` view; a standalone
DuckDB in this process runs the documented queries over those objects and gets the appliance's own answers (counts,
tokens and cost per model, one trace's spans).

DuckDB reads the objects from a local copy of the prefix, not over S3: its `httpfs` extension is downloaded on
`INSTALL httpfs`, which this offline machine cannot do. The SQL is the one the command prints, with `--base` pointing
at the copy instead of `s3://<bucket>/<prefix>`; the keys, the deduplication and the queries are the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import duckdb
import httpx
import pytest

from lynex_box.objstore import PrefixedStore, S3Store
from tests.e2e.cluster import cluster_env
from tests.e2e.server import RunningServer
from tests.e2e.test_cluster_segments import wait_for
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixture used here

PREFIX = "deploy"
AT_MS = int(time.time() * 1000) - 7_200_000  # two hours ago
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022")

# docs/format/bucket.md: counts, tokens and cost per model over the view `spans`
PER_MODEL = """
SELECT model, count(*) AS spans, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(total_cost) AS cost
FROM spans
WHERE start_time >= make_timestamp($from_us) AND start_time < make_timestamp($to_us)
GROUP BY model ORDER BY model NULLS FIRST
"""
TRACE = "SELECT span_id, parent_span_id, name, model FROM spans WHERE trace_id = $trace_id ORDER BY start_time, span_id"


def trace(trace_id: str, n: int, at_ms: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"event_id": f"{trace_id}-r", "trace_id": trace_id, "span_id": f"{trace_id}-r", "name": "agent",
         "type": "agent", "start_time": at_ms, "end_time": at_ms + 500}
    ]  # fmt: skip
    for i in range(n):
        events.append(
            {"event_id": f"{trace_id}-{i}", "trace_id": trace_id, "span_id": f"{trace_id}-{i}",
             "parent_span_id": f"{trace_id}-r", "name": "chat", "type": "llm", "model": MODELS[i % len(MODELS)],
             "provider": "anthropic" if MODELS[i % len(MODELS)].startswith("claude") else "openai",
             "start_time": at_ms + 10 * i + 1, "end_time": at_ms + 10 * i + 200,
             "usage": {"input_tokens": 100 + i, "output_tokens": 10 + i}}
        )  # fmt: skip
    return events


def manifest_keys_with_boto3(moto: MotoServer, bucket: str, project: str) -> list[str]:
    """The key list as docs/format/bucket.md builds it without the appliance (boto3 and the manifests)."""
    s3 = boto3.client(
        "s3", endpoint_url=moto.endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/cluster/manifests/"):
        for item in page.get("Contents", []):
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            keys += [s["key"] for s in manifest["segments"] if s["project_id"] == project]
    return sorted(keys)


def archive_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lynex_box", "archive", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_standalone_duckdb_over_the_manifests_objects_answers_as_the_appliance(
    moto_server: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    bucket = f"archive-{os.getpid()}"
    moto_server.create_bucket(bucket)
    nodes: dict[str, RunningServer] = {}
    try:
        for node_id in ("node-a", "node-b"):
            env = cluster_env(moto_server, bucket, node_id, PREFIX, flush_age_s="1", poll_interval_s="0.5")
            nodes[node_id] = RunningServer(tmp_path / node_id, env=env, credentials=node_id == "node-a").start(90)
        a = nodes["node-a"]
        key, path = a.creds["api_key"], f"/v1/projects/{a.project}"
        clients = {
            n: httpx.Client(base_url=f"{s.url}{path}", headers=s.headers(key), timeout=30) for n, s in nodes.items()
        }
        wait_for(
            lambda: clients["node-b"].get("/traces").status_code == 200, 20
        )  # b loaded the founder's key from the snapshot

        expected_traces = []
        for k in range(6):  # three traces through each node, in separate flushes
            node = ("node-a", "node-b")[k % 2]
            trace_id = f"arch-{k}"
            answer = clients[node].post("/events", json={"events": trace(trace_id, 4 + k, AT_MS + 60_000 * k)})
            assert answer.status_code == 202, answer.text
            expected_traces.append(trace_id)
            time.sleep(0.3)
        total = sum(5 + k for k in range(6))
        window = {"from": AT_MS - 1000, "to": AT_MS + 3_600_000}

        def everywhere() -> bool:
            for client in clients.values():
                points = client.get("/metrics", params=window).json()["series"]
                if not points or points[0]["points"][0]["count"] != total:
                    return False
            return True

        wait_for(everywhere, 30)  # flushed, uploaded and published by both nodes (the manifests list it all)
        objects = json.loads(archive_cli(a.env, "--project", a.project, "--json"))["objects"]
        assert {o["node_id"] for o in objects} == {"node-a", "node-b"}
        assert sum(o["row_count"] for o in objects) == total
        assert all(o["url"] == f"s3://{bucket}/{PREFIX}/{o['key']}" for o in objects)
        assert manifest_keys_with_boto3(moto_server, bucket, a.project) == sorted(o["key"] for o in objects)

        copy = tmp_path / "copy"  # what httpfs would read in place (see the module docstring)
        store = PrefixedStore(S3Store(moto_server.settings(bucket)), PREFIX)
        for o in objects:
            target = copy / o["key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get(o["key"]).data)
        sql = archive_cli(a.env, "--project", a.project, "--sql", "--base", str(copy))

        con = duckdb.connect()  # standalone: nothing of the appliance's engine
        con.execute("SET TimeZone = 'UTC'")
        con.execute(sql)
        params = {"from_us": window["from"] * 1000, "to_us": window["to"] * 1000}
        rows = con.execute(PER_MODEL, params).fetchall()

        answer = clients["node-b"].get("/metrics", params={**window, "group_by": "model"})
        assert answer.status_code == 200, answer.text
        appliance = {
            s["group"]: (p["count"], p["input_tokens"], p["output_tokens"], p["total_cost"])
            for s in answer.json()["series"]
            for p in s["points"]
        }
        direct = {model or "(none)": (n, inp or 0, out or 0, cost or 0.0) for model, n, inp, out, cost in rows}
        assert set(direct) == set(appliance) == {"(none)", *MODELS}  # the API names spans without a model so
        assert direct["gpt-4o"][3] > 0  # priced: the cost sums compare real numbers
        for model, (n, inp, out, cost) in direct.items():
            want = appliance[model]
            assert (n, inp, out) == want[:3], model
            assert cost == pytest.approx(want[3] or 0.0, rel=1e-9, abs=1e-12), model

        for trace_id in ("arch-0", "arch-5"):
            detail = clients["node-a"].get(f"/traces/{trace_id}")
            assert detail.status_code == 200, detail.text
            via_api = sorted(
                (s["span_id"], s.get("parent_span_id"), s["name"], s.get("model")) for s in detail.json()["spans"]
            )
            via_duckdb = sorted(con.execute(TRACE, {"trace_id": trace_id}).fetchall())
            assert via_duckdb == via_api
        for client in clients.values():
            client.close()
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
