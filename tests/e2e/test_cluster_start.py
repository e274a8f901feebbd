"""Cluster mode's start and membership end to end: real `lynex-box run` processes on 127.0.0.1, each with its own
data dir, one bucket prefix on the real moto S3 server (docs/format/cluster.md, steps 1 and the server's wiring).

The first node founds the cluster (and prints the first start's credentials), the next ones join without creating
any account; `GET /v1/cluster` and `lynex-box cluster status` list every node with its heartbeat and leases, each
lease held by one node; a second process with a node id in use refuses to start; the leases of a node killed with
SIGKILL move to another node within about `lease_ttl_s`. Starts that must not happen (a store that ignores
conditional writes, a data dir of another cluster or with accounts of its own) end with an error that says why.
The three-node tests share one cluster (module scope) and run in file order: the last one kills a node.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lynex_box.cluster import JOBS, cluster_status
from lynex_box.objstore import ObjectStore, RetryingStore, S3Store
from tests.e2e.accounts import Browsers
from tests.e2e.cluster import SKEW_S, TTL_S, cluster_env, live_holders, refused_start, status
from tests.e2e.s3_proxy import ConditionStrippingProxy
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, bucket, moto_server  # noqa: F401 - fixtures used here

_buckets = itertools.count()


@dataclass
class Trio:
    moto: MotoServer
    bucket: str
    root: Path
    nodes: dict[str, RunningServer]

    def env(self, node_id: str) -> dict[str, str]:
        return cluster_env(self.moto, self.bucket, node_id)

    def store(self) -> ObjectStore:
        return RetryingStore(S3Store(self.moto.settings(self.bucket, prefix="deploy")), attempts=2)


@pytest.fixture(scope="module")
def trio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:  # noqa: F811
    name = f"cluster-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("trio")
    found = Trio(moto_server, name, root, {})
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            first = node_id == "node-a"  # the founding node: the only one that creates credentials
            server = RunningServer(root / node_id, env=found.env(node_id), credentials=first)
            found.nodes[node_id] = server.start(timeout=90)
        yield found
    finally:
        for server in found.nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def users(data_dir: Path) -> list[dict[str, object]]:
    listed = subprocess.run(
        [sys.executable, "-m", "lynex_box", "users", "list", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: list[dict[str, object]] = json.loads(listed.stdout)
    return found


def test_the_first_node_founds_the_cluster_and_the_others_join_with_its_accounts(trio: Trio) -> None:
    """The joined nodes create no credentials of their own: their accounts are the founder's, from the metadata
    snapshot (step 3)."""
    a = trio.nodes["node-a"]
    assert a.creds["api_key"] and a.creds["admin_email"]  # the founding node's first start
    founders = users(a.data_dir)
    assert [u["email"] for u in founders] == [a.creds["admin_email"]]
    for joined in ("node-b", "node-c"):
        assert users(trio.nodes[joined].data_dir) == founders
        assert not (trio.nodes[joined].data_dir / "credentials.json").exists()

    state = status(trio.env("node-a"))
    assert state["founder"] == "node-a" and state["cluster_id"].startswith("cl-")
    assert [(n["node_id"], n["alive"]) for n in state["nodes"]] == [
        ("node-a", True), ("node-b", True), ("node-c", True),
    ]  # fmt: skip
    assert {n["node_id"]: n["address"] for n in state["nodes"]} == {k: s.url for k, s in trio.nodes.items()}


def test_get_cluster_lists_every_node_and_each_lease_is_held_by_exactly_one_node(trio: Trio) -> None:
    a = trio.nodes["node-a"]
    browsers = Browsers(a)
    try:
        owner = browsers.admin()
        answer = owner.get("/v1/cluster")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        refused = httpx.get(f"{a.url}/v1/cluster", headers=a.headers(), timeout=10)
    finally:
        browsers.close()
    assert body["enabled"] is True and body["node_id"] == "node-a"
    assert body["cluster_id"] == status(trio.env("node-b"))["cluster_id"]
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert sorted(nodes) == ["node-a", "node-b", "node-c"]
    for node in nodes.values():
        assert node["alive"] is True and node["heartbeat_at"] > 0 and node["age_s"] < TTL_S
        assert node["version"] and node["incarnation"]
    holders = live_holders(body)
    assert sorted(holders) == sorted(JOBS)  # every singleton job has a live lease ...
    held = [job for node in nodes.values() for job in node["leases"]]
    assert sorted(held) == sorted(JOBS)  # ... listed under exactly one node, its holder
    assert all(job in nodes[holders[job]]["leases"] for job in JOBS)
    assert refused.status_code == 403 and "org owner" in refused.json()["error"]["message"]


def test_a_second_process_with_a_node_id_in_use_refuses_to_start(trio: Trio) -> None:
    before = {n["node_id"]: n["incarnation"] for n in status(trio.env("node-a"))["nodes"]}
    stderr = refused_start(trio.root / "copy-of-b", trio.env("node-b"))
    assert "another process runs as node 'node-b'" in stderr and trio.nodes["node-b"].url in stderr
    assert "hint:" in stderr and "Traceback" not in stderr
    after = {n["node_id"]: (n["incarnation"], n["alive"]) for n in status(trio.env("node-a"))["nodes"]}
    assert after["node-b"] == (before["node-b"], True)  # the running node-b is untouched
    assert trio.nodes["node-b"].proc is not None and trio.nodes["node-b"].proc.poll() is None


def test_the_leases_of_a_killed_holder_move_to_another_node_within_the_lease_ttl(trio: Trio) -> None:
    store = trio.store()
    holder = live_holders(cluster_status(store, lease_ttl_s=TTL_S).as_dict())["alerts"]
    trio.nodes[holder].kill()
    killed_at = time.monotonic()
    taken: dict[str, str] = {}
    while time.monotonic() - killed_at < TTL_S + SKEW_S + 20:
        taken = live_holders(cluster_status(store, lease_ttl_s=TTL_S).as_dict())
        if sorted(taken) == sorted(JOBS) and holder not in taken.values():
            break
        time.sleep(0.1)
    took_s = time.monotonic() - killed_at
    print(f"leases taken over {took_s:.2f} s after SIGKILL (lease_ttl_s={TTL_S}, max_clock_skew_s={SKEW_S})")
    assert sorted(taken) == sorted(JOBS) and holder not in taken.values(), taken
    # a lease expires at most lease_ttl_s after its last renewal and is taken max_clock_skew_s later, at the next
    # tick (lease_ttl_s / 6); the margin is for a loaded 2-core machine
    assert took_s < TTL_S + SKEW_S + 3.0

    # its heartbeat counts as down lease_ttl_s after its last beat, which may be a little after its leases moved
    # (a lease was last renewed up to lease_ttl_s / 3 before the kill, the heartbeat up to heartbeat_s before it)
    def alive() -> bool:
        state = cluster_status(store, lease_ttl_s=TTL_S).as_dict()
        return bool({n["node_id"]: n["alive"] for n in state["nodes"]}[holder])

    deadline = killed_at + TTL_S + SKEW_S + 3.0
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(), f"{holder} still counted alive {time.monotonic() - killed_at:.2f} s after SIGKILL"
    trio.nodes[holder].start(timeout=90)  # back with the same data dir: a member again, with a new incarnation
    state = status(trio.env(holder))
    assert {n["node_id"]: n["alive"] for n in state["nodes"]}[holder] is True
    assert live_holders(state) == taken  # the leases stay where they went


def test_a_store_that_ignores_conditional_writes_is_refused(
    moto_server: MotoServer,  # noqa: F811
    bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    with ConditionStrippingProxy(moto_server.endpoint) as proxy:
        stderr = refused_start(tmp_path / "data", cluster_env(proxy.endpoint, bucket, "node-p"))
    assert f"the object store at {proxy.endpoint}" in stderr
    assert "let a second create-only write (If-None-Match: *) replace an existing object" in stderr
    assert "hint: cluster mode needs a store that honours If-None-Match" in stderr and "Traceback" not in stderr
    assert S3Store(moto_server.settings(bucket, prefix="deploy")).list("cluster") == []  # the probe was removed


def test_a_data_dir_of_another_cluster_or_with_accounts_of_its_own_is_refused(
    moto_server: MotoServer,  # noqa: F811
    bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    ids = {}
    for node_id, prefix in (("node-x", "one"), ("node-y", "two")):
        env = cluster_env(moto_server, bucket, node_id, prefix=prefix)
        RunningServer(tmp_path / node_id, env=env).start(timeout=90).stop()
        ids[prefix] = status(env)["cluster_id"]

    stderr = refused_start(tmp_path / "node-x", cluster_env(moto_server, bucket, "node-x", prefix="two"))
    assert f"the data dir belongs to cluster {ids['one']}" in stderr and f"of cluster {ids['two']}" in stderr
    assert "hint: to join this cluster start the node with an empty data dir" in stderr

    stderr = refused_start(tmp_path / "node-x", cluster_env(moto_server, bucket, "node-x", prefix="three"))
    assert f"the data dir belongs to cluster {ids['one']} but the bucket has no cluster/cluster.json" in stderr
    assert "hint: check [bucket] bucket and prefix" in stderr

    own = tmp_path / "own"
    subprocess.run([sys.executable, "-m", "lynex_box", "init", "--data-dir", str(own), "--json"], check=True,
                   capture_output=True)  # fmt: skip
    stderr = refused_start(own, cluster_env(moto_server, bucket, "node-own", prefix="one"))
    assert "the data dir has users or projects of its own and belongs to no cluster" in stderr
    assert ids["one"] in stderr and "Traceback" not in stderr


def test_a_node_whose_heartbeat_another_process_writes_stops_with_an_error_and_keeps_its_events(
    moto_server: MotoServer,  # noqa: F811
    bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = cluster_env(moto_server, bucket, "node-f")
    node = RunningServer(tmp_path / "data", env=env).start(timeout=90)
    event = {"event_id": "f-1", "trace_id": "f", "span_id": "f-1", "name": "kept", "start_time": 1_795_000_000_000}
    sent = httpx.post(
        f"{node.url}/v1/projects/{node.project}/events",
        json={"events": [event]},
        headers=node.headers(),
        timeout=10,
    )
    assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text
    store = S3Store(moto_server.settings(bucket, prefix="deploy"))
    key = "cluster/nodes/node-f.json"
    mine = store.get(key).data.decode()
    incarnation = json.loads(mine)["incarnation"]
    store.put(key, mine.replace(incarnation, "01OTHERPROCESSOFNODEF000000").encode())  # a copied data dir, say

    assert node.proc is not None
    rc = node.proc.wait(timeout=60)
    node.kill()  # closes its pipes (the process has exited)
    log = node.log_path.read_text()
    assert rc == 1 and "this node was fenced and stopped" in log and "01OTHERPROCESSOFNODEF000000" in log
    # its leases were dropped without a write (the bucket is no longer its to write): they expire on their own
    deadline = time.monotonic() + TTL_S + 5
    while live_holders(cluster_status(store, lease_ttl_s=TTL_S).as_dict()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_holders(cluster_status(store, lease_ttl_s=TTL_S).as_dict()) == {}

    # the event was flushed before the exit: the node comes back (once the other heartbeat aged) and has it
    node.start(timeout=90)
    found = httpx.get(f"{node.url}/v1/projects/{node.project}/traces/f", headers=node.headers(), timeout=10)
    assert found.status_code == 200 and [s["name"] for s in found.json()["spans"]] == ["kept"]
    node.stop()
