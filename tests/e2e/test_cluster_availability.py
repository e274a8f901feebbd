"""Ingest availability with a node lost and brought back (issue #14, item 6): three real `lynex-box run` nodes on one
bucket of the real moto S3 server; a client that rotates over them, and retries a batch on the next node when one
cannot be reached or answers 5xx, sends batches of unique spans while one node is killed with SIGKILL and later
restarted on its data dir. Every batch must be acknowledged in the end, and once the restarted node has replayed its
WAL and published it, every node must return every span exactly once (no loss, no duplicate). The victim runs with
a flush age longer than the test until its kill, so every batch it acknowledged is in its WAL only: the restart's
replay (with the usual flush age) is what brings them back.

A retry after a connection cut by the kill may send a batch the dead node had already made durable: the restarted
node replays it and the other node stores it too. Both copies carry the same `event_id`, and queries deduplicate by
`event_id`, so the span is still counted once; the test prints how many such raw copies it found in the bucket.

The joined nodes get the founding node's accounts from the metadata snapshot at their start.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow.parquet as pq

from lynex_box.objstore import PrefixedStore, S3Store
from tests.e2e.cluster import cluster_env
from tests.e2e.server import RunningServer
from tests.e2e.test_cluster_segments import wait_for
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixture used here

BATCH = 20
MIN_BATCHES = 60
PAUSE_S = 0.05  # between batches: the run spans the kill and the restart
FLUSH_AGE_S = 1.0
POLL_S = 0.5
NODES = ("node-a", "node-b", "node-c")
VICTIM = "node-b"
SKIP_S = 1.0  # a node that failed is passed over this long
VICTIM_FLUSH_AGE_S = 60.0  # until it is killed: nothing it acknowledged is flushed


@dataclass
class RotatingClient:
    """Sends each batch to the next node in turn; a failure (no connection, a timeout, 5xx) moves it to the next,
    and the failed node is passed over for `SKIP_S` (a load balancer's passive health check does the same)."""

    urls: list[str]
    path: str
    headers: dict[str, str]
    attempts: int = 0
    failures: list[str] = field(default_factory=list)
    acked: int = 0
    acked_by: dict[int, int] = field(default_factory=dict)  # node index -> batches it acknowledged
    unacked: list[int] = field(default_factory=list)
    _next: int = 0
    _skip_until: dict[int, float] = field(default_factory=dict)

    def _pick(self) -> int:
        now = time.monotonic()
        for _ in range(len(self.urls)):
            node = self._next % len(self.urls)
            self._next += 1
            if self._skip_until.get(node, 0) <= now:
                return node
        return self._next % len(self.urls)  # every node failed lately: try the next one anyway

    def _failed(self, number: int, node: int, why: str) -> None:
        self.failures.append(f"batch {number} node {node}: {why}")
        self._skip_until[node] = time.monotonic() + SKIP_S

    def send(self, number: int, events: list[dict[str, Any]], give_up_s: float = 30) -> None:
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            node = self._pick()
            self.attempts += 1
            try:
                answer = self._clients[node].post(self.path, json={"events": events})
            except httpx.HTTPError as error:
                self._failed(number, node, type(error).__name__)
                continue
            if answer.status_code == 202:
                assert answer.json()["accepted"] == len(events), answer.text
                self.acked += 1
                self.acked_by[node] = self.acked_by.get(node, 0) + 1
                return
            # 4xx is the client's fault: retrying elsewhere would not help, and the test must say so
            assert answer.status_code >= 500, f"batch {number} node {node}: {answer.status_code} {answer.text}"
            self._failed(number, node, str(answer.status_code))
            time.sleep(0.05)
        self.unacked.append(number)

    def __post_init__(self) -> None:
        self._clients = [httpx.Client(base_url=url, headers=self.headers, timeout=5) for url in self.urls]

    def close(self) -> None:
        for client in self._clients:
            client.close()


def batch(number: int, at_ms: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"b{number:04d}-{i:02d}",
            "trace_id": f"b{number:04d}",
            "span_id": f"b{number:04d}-{i:02d}",
            "name": "chat",
            "type": "llm",
            "model": "gpt-4o",
            "start_time": at_ms + i,
            "end_time": at_ms + i + 50,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }
        for i in range(BATCH)
    ]


def exported_span_ids(url: str, path: str, headers: dict[str, str]) -> list[str]:
    answer = httpx.get(f"{url}{path}/export", params={"format": "jsonl"}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return [json.loads(line)["span_id"] for line in answer.text.splitlines() if line.strip()]


def raw_copies(moto: MotoServer, bucket: str) -> tuple[int, int]:
    """(rows, distinct event ids) over every segment the nodes' manifests list."""
    store = PrefixedStore(S3Store(moto.settings(bucket)), "deploy")
    rows, ids = 0, set()
    for node in NODES:
        manifest = json.loads(store.get(f"cluster/manifests/{node}.json").data)
        for segment in manifest["segments"]:
            table = pq.read_table(io.BytesIO(store.get(segment["key"]).data), columns=["event_id"])
            rows += table.num_rows
            ids.update(table.column("event_id").to_pylist())
    return rows, len(ids)


def test_a_rotating_client_loses_nothing_while_a_node_is_killed_and_every_span_is_stored_once(
    moto_server: MotoServer,  # noqa: F811
    tmp_path: Any,
) -> None:
    bucket = f"avail-{os.getpid()}"
    moto_server.create_bucket(bucket)
    nodes: dict[str, RunningServer] = {}
    client: RotatingClient | None = None
    began = time.monotonic()
    try:
        for node_id in NODES:
            # the victim holds what it acknowledges in its WAL and head until it is killed: its restart must replay
            flush_age = VICTIM_FLUSH_AGE_S if node_id == VICTIM else FLUSH_AGE_S
            env = cluster_env(moto_server, bucket, node_id, flush_age_s=str(flush_age), poll_interval_s=str(POLL_S))
            nodes[node_id] = RunningServer(tmp_path / node_id, env=env, credentials=node_id == "node-a")
        nodes["node-a"].start(90)  # founds the cluster; the two others join it at once, side by side
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda node_id: nodes[node_id].start(90), NODES[1:]))
        started_s = time.monotonic() - began
        founder = nodes["node-a"]
        key, path = founder.creds["api_key"], f"/v1/projects/{founder.project}"
        headers = founder.headers(key)
        urls = [nodes[n].url for n in NODES]
        for url in urls:  # the joined nodes loaded the founder's key from the snapshot
            wait_for(lambda u=url: httpx.get(f"{u}{path}/traces", headers=headers).status_code == 200, 20)

        client = RotatingClient(urls, f"{path}/events", headers)
        ready_s = time.monotonic() - began
        restarted, sent = threading.Event(), [0]
        at_ms = int(time.time() * 1000) - 3_600_000  # an hour ago: batch n at +n*100 ms

        def run_client() -> None:
            assert client is not None
            number = 0
            # keep sending until MIN_BATCHES and 15 batches after the restart: every phase sees traffic
            while number < MIN_BATCHES or not restarted.is_set() or number < sent_at_restart[0] + 15:
                client.send(number, batch(number, at_ms + number * 100))
                number += 1
                sent[0] = number
                time.sleep(PAUSE_S)

        sent_at_restart = [10**9]
        sender = threading.Thread(target=run_client, daemon=True)
        started = time.monotonic()
        sender.start()
        wait_for(lambda: sent[0] >= 15, 30)
        nodes[VICTIM].kill()  # SIGKILL: its WAL holds every batch it acknowledged (none flushed yet)
        killed_at, acked_by_victim = sent[0], client.acked_by.get(NODES.index(VICTIM), 0)
        assert acked_by_victim > 0
        wait_for(lambda: sent[0] >= killed_at + 15, 30)  # the others carry the load meanwhile
        nodes[VICTIM].env["LYNEX_CLUSTER_FLUSH_AGE_S"] = str(FLUSH_AGE_S)
        down_at = time.monotonic()
        nodes[VICTIM].start(timeout=60)  # same data dir and port: replays its WAL, then flushes and publishes
        down_s = time.monotonic() - down_at
        sent_at_restart[0] = sent[0]
        restarted.set()
        sender.join(timeout=120)
        assert not sender.is_alive(), "the client did not finish"
        elapsed = time.monotonic() - started

        total = sent[0] * BATCH
        availability = 1 - len(client.failures) / client.attempts
        print(
            f"\n{sent[0]} batches of {BATCH} in {elapsed:.1f} s, killed after {killed_at}, restarted after "
            f"{sent_at_restart[0]} ({acked_by_victim} acknowledged by {VICTIM} before the kill, in its WAL only); "
            f"{client.attempts} requests, {len(client.failures)} failed "
            f"(client-side availability per request {availability:.2%}, per batch "
            f"{client.acked / sent[0]:.2%}): {client.failures[:8]}"
        )
        assert client.unacked == [], f"batches never acknowledged: {client.unacked}"
        assert client.acked == sent[0]

        settle_at = time.monotonic()
        expected = sorted(f"b{n:04d}-{i:02d}" for n in range(sent[0]) for i in range(BATCH))
        for node_id, url in zip(NODES, urls, strict=True):
            wait_for(lambda u=url: len(exported_span_ids(u, path, headers)) >= total, 30)
            ids = exported_span_ids(url, path, headers)
            assert len(ids) == total, (node_id, len(ids), total)  # every span once: none lost, none twice
            assert sorted(ids) == expected, node_id
            window = {"from": at_ms - 1000, "to": at_ms + 3_600_000}
            metrics = httpx.get(f"{url}{path}/metrics", params=window, headers=headers, timeout=30)
            assert metrics.status_code == 200, metrics.text
            assert metrics.json()["series"][0]["points"][0]["count"] == total, node_id
        settled_s = time.monotonic() - settle_at
        print(
            f"nodes started in {started_s:.1f} s, ready in {ready_s:.1f} s, restart took {down_s:.1f} s, "
            f"settled in {settled_s:.1f} s"
        )
        rows, distinct = raw_copies(moto_server, bucket)
        print(f"bucket: {rows} stored rows for {distinct} event ids ({rows - distinct} copies from retries)")
        assert distinct == total
    finally:
        if client is not None:
            client.close()
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
