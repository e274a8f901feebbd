"""Scores across nodes end to end (docs/format/cluster.md, "Scores across nodes"): three real `lynex-box run`
processes on one bucket prefix of the real moto S3 server (b and c join with empty data dirs). Scores posted
through different nodes are listed by every node, the trace view of any node shows a trace's scores whichever node
took them, a correction sent through another node replaces the score everywhere, and scores a node acknowledged
right before it was killed with SIGKILL reach the others exactly once after it restarts on its data dir.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import cluster_env
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixtures used here

FLUSH_AGE_S = 1.0
POLL_S = 0.5
WITHIN_S = 10.0  # a publish turn (0.5 s) and a poll (0.5 s), with room for a loaded 2-core machine
BASE_MS = 1_796_000_000_000
_buckets = itertools.count()


@dataclass
class Trio:
    nodes: dict[str, RunningServer]
    key: str
    project: str

    def url(self, node: str, path: str) -> str:
        return f"{self.nodes[node].url}/v1/projects/{self.project}{path}"

    def headers(self, node: str) -> dict[str, str]:
        return self.nodes[node].headers(self.key)

    def live(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.proc is not None and s.proc.poll() is None]

    def post_scores(self, node: str, scores: list[dict[str, Any]]) -> None:
        answer = httpx.post(self.url(node, "/scores"), headers=self.headers(node), json={"scores": scores}, timeout=30)
        assert answer.status_code == 202 and answer.json()["accepted"] == len(scores), answer.text

    def scores(self, node: str) -> list[tuple[str, Any]]:
        """Every score `node` lists, as (id, value), in the order it lists them."""
        found: list[tuple[str, Any]] = []
        params: dict[str, Any] = {"limit": 500}
        while True:
            answer = httpx.get(self.url(node, "/scores"), headers=self.headers(node), params=params, timeout=30)
            assert answer.status_code == 200, answer.text
            found.extend((item["id"], item["value"]) for item in answer.json()["items"])
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return found
            params["cursor"] = cursor


@pytest.fixture(scope="module")
def trio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:  # noqa: F811
    name = f"scores-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("scores")
    nodes: dict[str, RunningServer] = {}
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            env = cluster_env(moto_server, name, node_id, flush_age_s=str(FLUSH_AGE_S), poll_interval_s=str(POLL_S))
            nodes[node_id] = RunningServer(root / node_id, env=env, credentials=node_id == "node-a").start(90)
        a = nodes["node-a"]
        yield Trio(nodes, a.creds["api_key"], a.project)
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def until(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `check()` holds (AssertionError after `timeout_s`)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - start


def score(score_id: str, value: float, trace_id: str = "scored-trace") -> dict[str, Any]:
    return {"id": score_id, "trace_id": trace_id, "name": "quality", "value": value}


def same_everywhere(trio: Trio, expected: set[tuple[str, Any]]) -> Callable[[], bool]:
    def check() -> bool:
        lists = [trio.scores(node) for node in trio.live()]
        return all(len(found) == len(set(found)) and set(found) >= expected for found in lists) and all(
            sorted(found) == sorted(lists[0]) for found in lists
        )

    return check


def test_scores_posted_through_each_node_are_listed_by_every_node(trio: Trio) -> None:
    expected = set()
    for i, node in enumerate(trio.nodes):
        trio.post_scores(node, [score(f"{node}-s{j}", float(i * 10 + j)) for j in range(3)])
        expected |= {(f"{node}-s{j}", float(i * 10 + j)) for j in range(3)}
    took = until(same_everywhere(trio, expected), WITHIN_S * 2)
    print(f"scores posted through three nodes listed by every node after {took:.2f} s")
    for node in trio.nodes:
        assert {s for s in trio.scores(node) if s[0].startswith("node-")} == expected


def test_a_traces_scores_are_shown_by_every_node_and_a_correction_replaces_them_everywhere(trio: Trio) -> None:
    start = BASE_MS
    event = {"event_id": "judged-0", "trace_id": "judged", "span_id": "judged-0", "name": "agent", "type": "agent",
             "start_time": start, "end_time": start + 100}  # fmt: skip
    answer = httpx.post(
        f"{trio.nodes['node-a'].url}/v1/projects/{trio.project}/events",
        headers=trio.headers("node-a"), json={"events": [event]}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    trio.post_scores("node-b", [score("judge-1", 0.25, "judged")])

    def trace_scores(node: str) -> list[tuple[str, Any]]:
        got = httpx.get(trio.url(node, "/traces/judged"), headers=trio.headers(node), timeout=30)
        return [(s["id"], s["value"]) for s in got.json()["scores"]] if got.status_code == 200 else []

    until(lambda: all(trace_scores(n) == [("judge-1", 0.25)] for n in trio.live()), WITHIN_S * 2)
    trio.post_scores("node-c", [score("judge-1", 0.75, "judged")])  # the same id, through another node
    took = until(lambda: all(trace_scores(n) == [("judge-1", 0.75)] for n in trio.live()), WITHIN_S)
    print(f"a corrected score shown by every node after {took:.2f} s")


def test_scores_acknowledged_before_a_sigkill_reach_the_others_exactly_once_after_the_restart(trio: Trio) -> None:
    c = trio.nodes["node-c"]
    wanted = {(f"last-words-{j}", float(j)) for j in range(5)}
    trio.post_scores("node-c", [score(i, v) for i, v in sorted(wanted)])
    c.kill()  # at once: the scores are applied on c, most likely not yet published
    c.start(timeout=90)
    took = until(same_everywhere(trio, wanted), WITHIN_S * 2)
    print(f"scores acknowledged before a SIGKILL listed by every node {took:.2f} s after the restart")
    for node in trio.nodes:
        found = [s for s in trio.scores(node) if s[0].startswith("last-words-")]
        assert sorted(found) == sorted(wanted)
