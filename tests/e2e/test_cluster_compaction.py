"""Cross-node compaction end to end (docs/format/cluster.md "Cross-node compaction"): three real `lynex-box run`
processes on one bucket of the real moto S3 server, each flushing every half second, so that each holds several
small segments. Each node hands its flushed segments over once `compactable_after_s` old; the `compaction` lease
holder merges them into segments of its own and the owners drop theirs: the segments listed in the manifests go
down, and every node answers exactly as before (same traces, counts and tokens: no duplicate, no loss). Killed with
SIGKILL, the holder's lease moves to another node within about `lease_ttl_s`, which goes on merging.

The joined nodes get the founding node's accounts from the metadata snapshot.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lynex_box.cluster import cluster_status
from lynex_box.cluster.compactor import read_manifests
from lynex_box.objstore import ObjectStore, RetryingStore, S3Store
from tests.e2e.cluster import SKEW_S, TTL_S, cluster_env, live_holders
from tests.e2e.server import RunningServer
from tests.e2e.test_cluster_segments import BASE_MS, spans
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixtures used here

FLUSH_AGE_S = 0.5
POLL_S = 0.5
AFTER_S = 2.0  # [cluster] compactable_after_s
EVERY_S = 1.0  # [cluster] compaction_interval_s
_buckets = itertools.count()


@dataclass
class Trio:
    nodes: dict[str, RunningServer]
    key: str
    project: str
    store: ObjectStore

    def client(self, node: str) -> httpx.Client:
        server = self.nodes[node]
        return httpx.Client(base_url=f"{server.url}/v1/projects/{self.project}", headers=server.headers(self.key))

    def alive(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.proc is not None and s.proc.poll() is None]


@pytest.fixture(scope="module")
def trio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:  # noqa: F811
    name = f"xcompact-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("xcompact")
    nodes: dict[str, RunningServer] = {}
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            env = cluster_env(
                moto_server, name, node_id, flush_age_s=str(FLUSH_AGE_S), poll_interval_s=str(POLL_S),
                compactable_after_s=str(AFTER_S), compaction_interval_s=str(EVERY_S),
            )  # fmt: skip
            env["LYNEX_COMPACTION_MIN_SEGMENTS"] = "2"
            nodes[node_id] = RunningServer(root / node_id, env=env, credentials=node_id == "node-a").start(90)
        a = nodes["node-a"]
        store = RetryingStore(S3Store(moto_server.settings(name, prefix="deploy")), attempts=2)
        trio = Trio(nodes, a.creds["api_key"], a.project, store)
        wait_for(lambda: all(_answers(trio, node) for node in nodes), 20)  # the joined nodes loaded the founder's key
        yield trio
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def _answers(trio: Trio, node: str) -> bool:
    with trio.client(node) as client:
        return client.get("/traces").status_code == 200


def wait_for(check: Any, timeout_s: float, what: str = "") -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not true after {timeout_s} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def send(trio: Trio, node: str, trace_id: str, at_ms: int) -> None:
    events = spans(trace_id, 3, at_ms)
    with trio.client(node) as client:
        body = {"events": [{k: v for k, v in e.items() if v is not None} for e in events]}
        answer = client.post("/events", json=body)
    assert answer.status_code == 202 and answer.json()["accepted"] == 3, answer.text


def ingest(trio: Trio, nodes: list[str], tag: str, batches: int) -> list[str]:
    """`batches` traces through each node, each flushed into a segment of its own (a pause over the flush age)."""
    sent = []
    for b in range(batches):
        for at, node in enumerate(nodes):
            trace_id = f"{tag}-{node}-{b}"
            send(trio, node, trace_id, BASE_MS + 60_000 * b + 1000 * at)
            sent.append(trace_id)
        time.sleep(FLUSH_AGE_S * 2.5)
    return sent


def answers(client: httpx.Client) -> dict[str, Any]:
    """The node's traces (ids, span counts) and totals over the hour of BASE_MS."""
    got = client.get("/traces", params={"limit": 500})
    assert got.status_code == 200, got.text
    traces = sorted((t["trace_id"], t.get("span_count")) for t in got.json()["items"])
    metrics = client.get("/metrics", params={"from": BASE_MS, "to": BASE_MS + 3_600_000})
    assert metrics.status_code == 200, metrics.text
    point = metrics.json()["series"][0]["points"][0]
    return {"traces": traces, **{k: point[k] for k in ("count", "input_tokens", "output_tokens")}}


def listed(trio: Trio, nodes: list[str] | None = None) -> list[dict[str, Any]]:
    """The segments the manifests list (of `nodes`, default all)."""
    manifests = read_manifests(trio.store)
    return [s for n, m in manifests.items() if nodes is None or n in nodes for s in m.segments]


def settled(trio: Trio, expected: dict[str, Any]) -> bool:
    """Every live node answers `expected`, and at most one segment of level 0 is listed: every other one was merged
    and dropped (a merge takes at least [compaction] min_segments = 2, so the last one to be handed over may wait for
    a next one)."""
    if sum(s["level"] == 0 for s in listed(trio)) > 1:
        return False
    for node in trio.alive():
        with trio.client(node) as client:
            if answers(client) != expected:
                return False
    return True


def test_the_lease_holder_merges_every_nodes_segments_and_answers_stay_the_same(trio: Trio) -> None:
    nodes = list(trio.nodes)
    sent = ingest(trio, nodes, "x", 3)
    expected = {"traces": sorted((t, 3) for t in sent), "count": 27, "input_tokens": 270, "output_tokens": 27}
    with trio.client("node-b") as client:
        wait_for(lambda: answers(client)["count"] == 27, 20, "all ingested events visible on node-b")
    seen = [len(listed(trio))]  # merges may have begun already: the most segments listed at once, sampled

    def merged() -> bool:
        seen.append(len(listed(trio)))
        return settled(trio, expected)

    took = wait_for(merged, AFTER_S + EVERY_S + 40, "merged")
    before, after = max(seen), listed(trio)
    holder = live_holders(cluster_status(trio.store, lease_ttl_s=TTL_S).as_dict())["compaction"]
    print(f"{before} segments -> {len(after)} within {took:.1f} s of the check (holder {holder})")
    assert len(after) < before
    assert sum(s["key"].startswith(f"segments/{holder}/") for s in after) >= len(after) - 1
    wait_for(lambda: trio.store.list("cluster/replaced/") == [], 20, "every owner answered")
    for node in nodes:
        with trio.client(node) as client:
            assert answers(client) == expected, node
            detail = client.get(f"/traces/{sent[0]}")
            assert sorted(s["span_id"] for s in detail.json()["spans"]) == [f"{sent[0]}-{i}" for i in range(3)]


def test_a_killed_holder_s_lease_moves_and_the_new_holder_goes_on_merging(trio: Trio) -> None:
    holder = live_holders(cluster_status(trio.store, lease_ttl_s=TTL_S).as_dict())["compaction"]
    with trio.client(next(n for n in trio.alive() if n != holder)) as client:
        expected = answers(client)
    trio.nodes[holder].kill()
    killed_at = time.monotonic()

    def taken() -> bool:
        now = live_holders(cluster_status(trio.store, lease_ttl_s=TTL_S).as_dict()).get("compaction")
        return now is not None and now != holder

    wait_for(taken, TTL_S + SKEW_S + 20, "the compaction lease taken over")
    took = time.monotonic() - killed_at
    print(f"compaction lease taken over {took:.2f} s after SIGKILL (lease_ttl_s={TTL_S})")
    assert took < TTL_S + SKEW_S + 5  # expiry, the skew, a keeper tick: generous on a loaded 2-core box

    survivors = trio.alive()
    sent = ingest(trio, survivors, "y", 3)
    expected = {
        "traces": sorted(expected["traces"] + [(t, 3) for t in sent]),
        "count": expected["count"] + 3 * len(sent),
        "input_tokens": expected["input_tokens"] + 30 * len(sent),
        "output_tokens": expected["output_tokens"] + 3 * len(sent),
    }
    new_holder = live_holders(cluster_status(trio.store, lease_ttl_s=TTL_S).as_dict())["compaction"]
    wait_for(lambda: settled(trio, expected), AFTER_S + EVERY_S + 40, "merged again")
    merged = [s for s in listed(trio, [new_holder]) if s.get("replaces")]
    assert merged and all(s["key"].startswith(f"segments/{new_holder}/") for s in merged)
    wait_for(lambda: trio.store.list("cluster/replaced/") == [], 20, "every owner answered")
    for node in trio.alive():
        with trio.client(node) as client:
            assert answers(client) == expected, node
