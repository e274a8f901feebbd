"""Shared segments end to end (docs/format/cluster.md, step 2): three real `lynex-box run` processes on one bucket
prefix of the real moto S3 server. Events ingested through each node come back from every node: the same traces,
the same counts and metrics, within about `flush_age_s + poll_interval_s`; and a node stopped cleanly publishes
what its head held, so the others keep seeing its events while it is down.

The joined nodes start with empty data dirs and get the founding node's accounts from the metadata snapshot
(step 3), so the founder's key works on every node.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import cluster_env
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixtures used here

FLUSH_AGE_S = 1.0
POLL_S = 0.5
BASE_MS = 1_795_000_000_000
_buckets = itertools.count()


@dataclass
class Trio:
    nodes: dict[str, RunningServer]
    key: str
    project: str

    def client(self, node: str) -> httpx.Client:
        server = self.nodes[node]
        return httpx.Client(base_url=f"{server.url}/v1/projects/{self.project}", headers=server.headers(self.key))


@pytest.fixture(scope="module")
def trio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:  # noqa: F811
    name = f"shared-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("shared")
    nodes: dict[str, RunningServer] = {}
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            env = cluster_env(moto_server, name, node_id, flush_age_s=str(FLUSH_AGE_S), poll_interval_s=str(POLL_S))
            nodes[node_id] = RunningServer(root / node_id, env=env, credentials=node_id == "node-a").start(90)
        a = nodes["node-a"]
        trio = Trio(nodes, a.creds["api_key"], a.project)
        assert all(_answers(trio, node) for node in nodes)  # the joined nodes loaded the founder's key at start
        yield trio
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def _answers(trio: Trio, node: str) -> bool:
    with trio.client(node) as client:
        return client.get("/traces").status_code == 200


def spans(trace_id: str, n: int, at_ms: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{trace_id}-{i}",
            "trace_id": trace_id,
            "span_id": f"{trace_id}-{i}",
            "parent_span_id": f"{trace_id}-0" if i else None,
            "name": "chat" if i else "agent",
            "type": "llm" if i else "agent",
            "model": "gpt-4o" if i else None,
            "start_time": at_ms + i,
            "end_time": at_ms + i + 100,
            "usage": {"input_tokens": 10 * i, "output_tokens": i} if i else None,
            "user_id": f"user-{trace_id}",
        }
        for i in range(n)
    ]


def send(trio: Trio, node: str, events: list[dict[str, Any]]) -> None:
    with trio.client(node) as client:
        body = {"events": [{k: v for k, v in e.items() if v is not None} for e in events]}
        answer = client.post("/events", json=body)
    assert answer.status_code == 202 and answer.json()["accepted"] == len(events), answer.text


def trace_ids(client: httpx.Client) -> list[str]:
    answer = client.get("/traces", params={"limit": 500})
    assert answer.status_code == 200, answer.text
    return sorted(item["trace_id"] for item in answer.json()["items"])


def totals(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/metrics", params={"from": BASE_MS, "to": BASE_MS + 3_600_000})
    assert answer.status_code == 200, answer.text
    point = answer.json()["series"][0]["points"][0]
    return {k: point[k] for k in ("count", "errors", "input_tokens", "output_tokens")}


def wait_for(check: Any, timeout_s: float) -> float:
    """Seconds until `check()` is true (AssertionError after `timeout_s`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not true after {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_events_ingested_through_each_node_are_seen_through_every_node(trio: Trio) -> None:
    expected = []
    for at, node in enumerate(trio.nodes):
        for k in range(2):
            trace_id = f"{node}-{k}"
            send(trio, node, spans(trace_id, 3, BASE_MS + 60_000 * at + 1000 * k))
            expected.append(trace_id)
    clients = {node: trio.client(node) for node in trio.nodes}
    try:
        for client in clients.values():
            wait_for(lambda c=client: trace_ids(c) == sorted(expected), FLUSH_AGE_S + POLL_S + 15)
        for node, client in clients.items():
            for trace_id in expected:
                detail = client.get(f"/traces/{trace_id}")
                assert detail.status_code == 200, (node, trace_id, detail.text)
                assert sorted(s["span_id"] for s in detail.json()["spans"]) == [f"{trace_id}-{i}" for i in range(3)]
        answers = {node: totals(client) for node, client in clients.items()}
        assert answers["node-a"] == {"count": 18, "errors": 0, "input_tokens": 180, "output_tokens": 18}
        assert answers["node-a"] == answers["node-b"] == answers["node-c"]
    finally:
        for client in clients.values():
            client.close()


def test_an_event_acknowledged_on_one_node_is_visible_on_another_within_flush_age_and_poll(trio: Trio) -> None:
    """Ack on one node -> visible on the next one, ~30 times; prints p50/p95 (settings: flush_age_s, poll_s)."""
    order = list(trio.nodes)
    delays = []
    clients = {node: trio.client(node) for node in order}
    try:
        for i in range(30):
            sender, reader = order[i % 3], order[(i + 1) % 3]
            trace_id = f"vis-{uuid.uuid4().hex[:8]}"
            send(trio, sender, spans(trace_id, 1, BASE_MS + 1_800_000 + i))
            acked = time.monotonic()
            client, path = clients[reader], f"/traces/{trace_id}"
            wait_for(lambda c=client, p=path: c.get(p).status_code == 200, FLUSH_AGE_S + POLL_S + 15)
            delays.append(time.monotonic() - acked)
    finally:
        for client in clients.values():
            client.close()
    p50 = statistics.median(delays)
    p95 = statistics.quantiles(delays, n=20)[-1]
    print(f"ack -> visible on another node: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(delays):.2f} s "
          f"(flush_age_s={FLUSH_AGE_S}, poll_interval_s={POLL_S}, n={len(delays)})")  # fmt: skip
    # flush age + a poll, plus the publish pass, an upload and a download: generous for a loaded 2-core machine
    assert p95 < FLUSH_AGE_S + POLL_S + 5


def test_a_node_stopped_cleanly_publishes_its_head_and_stays_readable_while_down(trio: Trio) -> None:
    c = trio.nodes["node-c"]
    send(trio, "node-c", spans("last-words", 2, BASE_MS + 2_400_000))
    assert c.stop() == 0  # at once: the head still holds the spans
    with trio.client("node-a") as client:
        wait_for(lambda: client.get("/traces/last-words").status_code == 200, POLL_S + 10)
        assert "node-c-0" in trace_ids(client)  # the stopped node's segments stay queryable
    c.start(timeout=90)
