"""Synthetic monitors in cluster mode: two real nodes on one bucket prefix of the real moto S3 server. A monitor
created through either node reaches both through the metadata log, but only the node holding the `alerts` lease
runs it: its runs are recorded there and nowhere else, and the monitored app sees one run per period, not one per
node. The run's traces are visible from both nodes (shared segments)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.cluster import cluster_env, live_holders, status
from tests.e2e.monitored_app import LocalServer
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixture used here

ENV = {
    "LYNEX_ALERTS_ALLOWED_TARGET_NETWORKS": "127.0.0.1/32",
    "LYNEX_MONITORS_TICK_S": "0.2",
    "LYNEX_MONITORS_MIN_INTERVAL_S": "1",
}
_buckets = itertools.count()


def _wait(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not true after {timeout_s} s")


def test_only_the_alerts_lease_holder_runs_a_monitor(moto_server: MotoServer, tmp_path: Path) -> None:  # noqa: F811
    name = f"monitors-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    app = LocalServer().start()
    nodes: dict[str, RunningServer] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for node_id in ("node-a", "node-b"):
            envs[node_id] = cluster_env(moto_server, name, node_id, flush_age_s="1.0") | ENV
            nodes[node_id] = RunningServer(tmp_path / node_id, env=envs[node_id], credentials=node_id == "node-a")
            nodes[node_id].start(90)
        a = nodes["node-a"]
        key, project = a.creds["api_key"], a.project

        def api(node: str) -> httpx.Client:
            return httpx.Client(base_url=nodes[node].url, headers=nodes[node].headers(key), timeout=30)

        holder = _wait(lambda: live_holders(status(envs["node-a"])).get("alerts"), 30, "an alerts lease holder")
        other = "node-b" if holder == "node-a" else "node-a"
        body = {"name": "cluster health", "interval_s": 1, "target": {"type": "http", "url": f"{app.url}/cluster"}}
        with api(other) as client:  # written through the node that does not run it: forwarded to the metadata holder
            r = client.post(f"/api/projects/{project}/monitors", json=body)
        assert r.status_code == 201, r.text
        monitor = r.json()["id"]
        runs = f"/api/projects/{project}/monitors/{monitor}/runs"
        with api(holder) as h, api(other) as o:
            _wait(lambda: len(h.get(runs).json()["items"]) >= 4, 30, "four runs on the lease holder")
            assert o.get(f"/api/projects/{project}/monitors/{monitor}").status_code == 200  # replicated there
            assert o.get(runs).json()["items"] == []  # and never run there
            first = min(r["started_at"] for r in h.get(runs).json()["items"])
            time.sleep(3)
            items = h.get(runs).json()["items"]
            span_s = (max(r["started_at"] for r in items) - first) / 1e6
            # one run a second from one node (two nodes running it would double this)
            assert len(app.requests_to("/cluster")) <= span_s + 3, (len(app.requests_to("/cluster")), span_s)
            trace_id = items[0]["trace_id"]
            trace = f"/v1/projects/{project}/traces/{trace_id}"
            _wait(lambda: o.get(trace).status_code == 200, 30, "the run's trace visible on the other node")
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
        app.stop()
