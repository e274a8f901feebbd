"""The usage_day_closed topic in a cluster (docs/plugins.md, docs/format/cluster.md "Usage days"): two real
`lynex-box run` nodes on one bucket prefix of the real moto S3 server, each with the webhook-events plugin
subscribed to the topic and posting to one real receiver. Spans of yesterday go in through both nodes; once the
grace delay ends, the receiver gets exactly one event for the project (from the `retention` lease holder), counting
the spans of both nodes (the shared segments), and the bucket's mark names the day and that holder."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import httpx

from lynex_box.objstore import S3Store
from tests.alerts.receiver import Receiver
from tests.e2e.cluster import cluster_env, live_holders, status
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixture used here

PREFIX = "deploy"
CLOSE_AFTER_S = 75  # from before the nodes start: time to start two nodes, send spans, flush and share them


def test_one_node_of_the_cluster_emits_each_closed_day_over_every_nodes_spans(
    moto_server: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    name = f"usage-{os.getpid()}"
    moto_server.create_bucket(name)
    receiver = Receiver().start()
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = (midnight - dt.timedelta(days=1)).date().isoformat()
    config = tmp_path / "lynex.toml"
    config.write_text(f"""
[plugins]
enabled = ["webhook-events"]
usage_close_delay_s = {(now - midnight).total_seconds() + CLOSE_AFTER_S}
usage_close_check_s = 0.5
[plugins.webhook-events]
url = "{receiver.url}/usage"
topics = ["usage_day_closed"]
""")
    nodes: dict[str, RunningServer] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for node_id in ("node-a", "node-b"):
            envs[node_id] = {**cluster_env(moto_server, name, node_id, PREFIX, flush_age_s="1.0"),
                             "LYNEX_CONFIG": str(config)}  # fmt: skip
            nodes[node_id] = RunningServer(tmp_path / node_id, env=envs[node_id], credentials=node_id == "node-a")
            nodes[node_id].start(90)
        a = nodes["node-a"]
        key, project = a.creds["api_key"], a.project
        # no event ids: each node names its events by their WAL places, which start at the same LSN on both nodes,
        # so the ids carry the node's id (or the readers' deduplication would merge the two nodes' events)
        for i, server in enumerate(nodes.values()):
            events = [
                {"type": "llm", "start_time": f"{day}T1{n}:00:00Z", "model": "m",
                 "usage": {"input_tokens": 10, "output_tokens": 1}}
                for n in range(i + 2)
            ]  # fmt: skip
            answer = httpx.post(f"{server.url}/v1/projects/{project}/events", json={"events": events},
                                headers={"Authorization": f"Bearer {key}"}, timeout=10)  # fmt: skip
            assert answer.status_code == 202, answer.text
        left = CLOSE_AFTER_S - (time.time() - now.timestamp())
        assert left > 5, f"the nodes took too long to start: the day closes in {left:.0f} s"
        assert receiver.on("/usage") == []
        got = receiver.wait_for("/usage", lambda r: True, timeout=left + 60)
        event = got.json()["event"]
        assert (event["project_id"], event["day"], event["spans"], event["llm_calls"]) == (project, day, 5, 5)
        assert event["input_tokens"] == 50
        time.sleep(3)
        assert len(receiver.on("/usage")) == 1, "more than one node emitted the day"
        holder = live_holders(status(envs["node-a"]))["retention"]
        store = S3Store(moto_server.settings(name))
        mark = json.loads(store.get(f"{PREFIX}/cluster/usage/closed.json").data)
        assert (mark["day"], mark["holder"]) == (day, holder)
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
        receiver.stop()
