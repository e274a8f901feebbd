"""Per-project plugins in a cluster (two real `lynex-box run` nodes on one bucket of the real moto S3 server): a
project's setting written through the node that does not hold the `metadata` lease is forwarded to the holder,
travels in the metadata log, and the other node's plugin host takes it from there (the periodic reload is set to an
hour, so only the log's apply can do it): spans ingested through that node reach the plugin with the project's
configuration, its secret value opened with the cluster's sealing key, and its API shows the value masked."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.alerts.receiver import Receiver
from tests.e2e.cluster import cluster_env, live_holders, status
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixtures used here
from tests.plugins.project_plugins import MASK, SIGNING, server_env

BASE_MS = 1_795_000_000_000
_buckets = itertools.count()


@pytest.fixture
def pair(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # noqa: F811
    name = f"plugins-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("pp-cluster")
    plugins = server_env(root)
    nodes: dict[str, RunningServer] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for node_id in ("node-a", "node-b"):
            envs[node_id] = {**cluster_env(moto_server, name, node_id), **plugins,
                             "LYNEX_PLUGINS_PROJECT_RELOAD_S": "3600"}  # fmt: skip
            nodes[node_id] = RunningServer(root / node_id, env=envs[node_id], credentials=node_id == "node-a").start(90)
        yield {"nodes": nodes, "envs": envs}
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def _holder(envs: dict[str, dict[str, str]]) -> str:
    deadline = time.monotonic() + 30
    while True:
        found = live_holders(status(envs["node-a"])).get("metadata")
        if found in envs:
            return str(found)
        assert time.monotonic() < deadline, "no node holds the metadata lease"
        time.sleep(0.3)


def test_a_setting_written_through_one_node_is_delivered_with_by_the_other(pair: dict[str, Any]) -> None:
    nodes, envs = pair["nodes"], pair["envs"]
    a = nodes["node-a"]
    project, headers = a.project, a.headers()
    holder = _holder(envs)
    other = next(n for n in nodes if n != holder)
    receiver = Receiver().start()
    try:
        config = {"url": f"{receiver.url}/cluster", "signing": SIGNING}
        url = f"{nodes[other].url}/api/projects/{project}/plugins/pp-recorder"
        deadline = time.monotonic() + 30
        while True:  # forwarded to the holder; a 503 while the lease settles is retried
            r = httpx.put(url, json={"enabled": True, "config": config}, headers=headers, timeout=30)
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.status_code == 200, r.text

        def masked_on_other() -> bool:
            got = httpx.get(f"{nodes[other].url}/api/projects/{project}/plugins", headers=headers, timeout=30)
            item = {p["name"]: p for p in got.json()["items"]}["pp-recorder"]
            return bool(item["enabled"]) and item["config"] == {"url": MASK, "signing": MASK}

        deadline = time.monotonic() + 15
        while not masked_on_other():
            assert time.monotonic() < deadline, "the setting did not reach the other node"
            time.sleep(0.2)
        trace = f"t-{uuid.uuid4().hex[:12]}"
        event = {"event_id": trace, "trace_id": trace, "span_id": trace, "name": "chat", "type": "llm",
                 "start_time": BASE_MS, "end_time": BASE_MS + 100}  # fmt: skip
        sent = httpx.post(f"{nodes[other].url}/v1/projects/{project}/events", json={"events": [event]},
                          headers=headers, timeout=30)  # fmt: skip
        assert sent.status_code == 202, sent.text
        got = receiver.wait_for("/cluster", lambda x: x.json()["topic"] == "span_batch_stored", timeout=30)
        assert got.json()["event"]["project_id"] == project and got.json()["event"]["config"] == config
    finally:
        receiver.stop()
