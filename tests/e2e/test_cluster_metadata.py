"""Metadata replication end to end (docs/format/cluster.md, step 3): three real `lynex-box run` processes on one
bucket prefix of the real moto S3 server; nodes b and c join with EMPTY data dirs and bootstrap meta.db from the
metadata snapshot. Writes go straight to whichever node holds the `metadata` lease (`lynex-box cluster status
--json` names it) or through the others, which forward them to it. A key created on the holder, or through another
node, works on every node within 5 s, a revoked one is refused everywhere within 5 s, a trace deleted on the holder
disappears from the other nodes' answers, and after the holder is killed with SIGKILL another node takes the lease,
writes a fence entry and serves the next writes.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lynex_box.cluster.metalog import LOG_PREFIX
from lynex_box.objstore import S3Store
from tests.e2e.cluster import TTL_S, cluster_env, live_holders, status
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixtures used here

FLUSH_AGE_S = 1.0
POLL_S = 0.5
WITHIN_S = 5.0  # the bound for a created or revoked key
BASE_MS = 1_795_000_000_000
_buckets = itertools.count()


@dataclass
class Trio:
    nodes: dict[str, RunningServer]
    envs: dict[str, dict[str, str]]
    key: str
    project: str
    store: S3Store

    def live(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.proc is not None and s.proc.poll() is None]

    def holder(self, timeout_s: float = 30.0) -> str:
        """The live node holding the `metadata` lease (waiting for a takeover)."""
        deadline = time.monotonic() + timeout_s
        while True:
            live = self.live()
            found = live_holders(status(self.envs[live[0]])).get("metadata")
            if found in live:
                return found
            assert time.monotonic() < deadline, f"no live node holds the metadata lease: {found}"
            time.sleep(0.3)

    def get(self, node: str, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        server = self.nodes[node]
        url = f"{server.url}/v1/projects/{self.project}{path}"
        return httpx.get(url, headers=server.headers(key or self.key), params=params, timeout=30)


@pytest.fixture(scope="module")
def trio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:  # noqa: F811
    name = f"meta-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("meta")
    nodes: dict[str, RunningServer] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            envs[node_id] = cluster_env(
                moto_server, name, node_id, flush_age_s=str(FLUSH_AGE_S), poll_interval_s=str(POLL_S)
            )
            nodes[node_id] = RunningServer(root / node_id, env=envs[node_id], credentials=node_id == "node-a").start(90)
        a = nodes["node-a"]
        store = S3Store(moto_server.settings(name, prefix="deploy"))
        yield Trio(nodes, envs, a.creds["api_key"], a.project, store)
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def until(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `check()` holds (AssertionError after `timeout_s`)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - start


def admin_write(trio: Trio, node: str, method: str, path: str, body: Any = None) -> httpx.Response:
    """A write through `node`, retried while it answers 503 (the lease changing hands, a fence being written)."""
    server = trio.nodes[node]
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.request(method, f"{server.url}{path}", headers=server.headers(trio.key), json=body, timeout=30)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", "1")) / 4)


def send(trio: Trio, node: str, events: list[dict[str, Any]]) -> None:
    """Native events into `node`, acknowledged (202)."""
    server = trio.nodes[node]
    sent = httpx.post(
        f"{server.url}/v1/projects/{trio.project}/events", headers=server.headers(trio.key),
        json={"events": events}, timeout=30,
    )  # fmt: skip
    assert sent.status_code == 202, sent.text


def test_the_founders_key_works_on_nodes_joined_with_empty_data_dirs(trio: Trio) -> None:
    for node in trio.nodes:
        answer = trio.get(node, "/traces")
        assert answer.status_code == 200, (node, answer.text)


def test_a_key_created_on_the_holder_works_everywhere_and_a_revoked_one_nowhere_within_5_s(trio: Trio) -> None:
    holder = trio.holder()
    created = admin_write(trio, holder, "POST", f"/api/projects/{trio.project}/keys", {"scope": "read", "name": "k"})
    assert created.status_code in (200, 201), created.text
    key, key_id = created.json()["api_key"], created.json()["key_id"]
    seq = int(created.headers["X-Lynex-Meta-Seq"])  # the log entry the write made: what a forwarder waits for
    assert trio.get(holder, "/traces").headers.get("X-Lynex-Meta-Seq") is None  # a read writes no entry
    assert seq > 0
    took = until(lambda: all(trio.get(n, "/traces", key).status_code == 200 for n in trio.live()), 10)
    print(f"created key usable on every node after {took:.2f} s")
    assert took < WITHIN_S
    revoked = admin_write(trio, holder, "DELETE", f"/api/projects/{trio.project}/keys/{key_id}")
    assert revoked.status_code == 204, revoked.text
    took = until(lambda: all(trio.get(n, "/traces", key).status_code == 401 for n in trio.live()), 10)
    print(f"revoked key refused on every node after {took:.2f} s")
    assert took < WITHIN_S


def test_a_key_created_through_a_non_holder_works_on_a_third_node_and_revoked_through_another_within_5_s(
    trio: Trio,
) -> None:
    """The issue's own case: a key created on node B works on node C within 5 s, and revoking it makes every node
    refuse it within 5 s, with B and C not holding the `metadata` lease (their writes are forwarded to the holder).
    The node that forwarded the write waits until its own copy has the entry, so it answers for the key at once."""
    holder = trio.holder()
    b, c = [n for n in trio.live() if n != holder][:2]
    created = admin_write(trio, b, "POST", f"/api/projects/{trio.project}/keys", {"scope": "read", "name": "via-b"})
    assert created.status_code in (200, 201), created.text
    key, key_id = created.json()["api_key"], created.json()["key_id"]
    assert trio.get(b, "/traces", key).status_code == 200  # read-your-writes on the forwarding node
    took = until(lambda: trio.get(c, "/traces", key).status_code == 200, 10)
    print(f"key created through {b} usable on {c} after {took:.2f} s")
    assert took < WITHIN_S
    revoked = admin_write(trio, c, "DELETE", f"/api/projects/{trio.project}/keys/{key_id}")
    assert revoked.status_code == 204, revoked.text
    assert trio.get(c, "/traces", key).status_code == 401
    took = until(lambda: all(trio.get(n, "/traces", key).status_code == 401 for n in trio.live()), 10)
    print(f"key revoked through {c} refused on every node after {took:.2f} s")
    assert took < WITHIN_S


def test_a_trace_deleted_on_the_holder_is_hidden_on_every_node(trio: Trio) -> None:
    holder = trio.holder()
    other = next(n for n in trio.live() if n != holder)
    trace = f"t-{uuid.uuid4().hex[:12]}"
    events = [
        {"event_id": f"{trace}-{i}", "trace_id": trace, "span_id": f"{trace}-{i}", "name": "chat", "type": "llm",
         "start_time": BASE_MS + i, "end_time": BASE_MS + i + 100}
        for i in range(3)
    ]  # fmt: skip
    send(trio, other, events)

    def listed(node: str) -> bool:
        answer = trio.get(node, "/traces", limit=500)
        return trace in {item["trace_id"] for item in answer.json()["items"]}

    until(lambda: all(listed(n) for n in trio.live()), 30)
    deleted = admin_write(trio, holder, "DELETE", f"/v1/projects/{trio.project}/traces/{trace}")
    assert deleted.status_code in (200, 202, 204), deleted.text
    took = until(lambda: not any(listed(n) for n in trio.live()), 10)
    print(f"deleted trace hidden on every node after {took:.2f} s")


def test_a_user_deleted_on_the_holder_takes_the_users_traces_on_the_node_that_holds_them(trio: Trio) -> None:
    """The node that recorded the spans looks up what the deletion covers in its own data as soon as it applies the
    tombstone: the user's trace disappears there, spans without the user's id included."""
    holder = trio.holder()
    other = next(n for n in trio.live() if n != holder)
    trace, user = f"u-{uuid.uuid4().hex[:12]}", f"user-{uuid.uuid4().hex[:8]}"
    events = [
        {"event_id": f"{trace}-{i}", "trace_id": trace, "span_id": f"{trace}-{i}", "name": "chat", "type": "llm",
         "start_time": BASE_MS + 900_000 + i, "end_time": BASE_MS + 900_000 + i + 100,
         **({"user_id": user} if i else {})}
        for i in range(2)
    ]  # fmt: skip
    send(trio, other, events)

    def spans_on(node: str) -> int:
        answer = trio.get(node, f"/traces/{trace}")
        return len(answer.json()["spans"]) if answer.status_code == 200 else 0

    until(lambda: all(spans_on(n) == 2 for n in trio.live()), 30)
    deleted = admin_write(trio, holder, "DELETE", f"/v1/projects/{trio.project}/users/{user}")
    assert deleted.status_code in (200, 202, 204), deleted.text
    took = until(lambda: spans_on(other) == 0, 15)
    print(f"user's whole trace hidden on the node holding it after {took:.2f} s")


def test_a_login_on_the_holder_works_on_every_node(trio: Trio) -> None:
    """Sessions travel in the log (each node keeps its own last-seen time)."""
    holder = trio.holder()
    creds = trio.nodes["node-a"].creds
    login = httpx.post(
        f"{trio.nodes[holder].url}/api/auth/login",
        json={"email": creds["admin_email"], "password": creds["admin_password"]}, timeout=30,
    )  # fmt: skip
    assert login.status_code == 200, login.text

    def me_on(node: str) -> int:
        client = httpx.Client(base_url=trio.nodes[node].url, cookies=login.cookies, timeout=30)
        with client:
            return client.get("/api/auth/me").status_code

    took = until(lambda: all(me_on(n) == 200 for n in trio.live()), 10)
    print(f"session usable on every node after {took:.2f} s")
    assert took < WITHIN_S


def test_a_repricing_asked_on_the_holder_reprices_every_nodes_segments(trio: Trio) -> None:
    """The spans were recorded (and flushed) on another node: the holder cannot rewrite them, that node does when it
    applies the holder's record of the repricing; the price travels in the log too."""
    holder = trio.holder()
    other = next(n for n in trio.live() if n != holder)
    trace = f"p-{uuid.uuid4().hex[:12]}"
    at = BASE_MS + 600_000
    events = [
        {"event_id": f"{trace}-{i}", "trace_id": trace, "span_id": f"{trace}-{i}", "name": "chat", "type": "llm",
         "model": "gpt-4o", "provider": "openai", "usage": {"input_tokens": 1000, "output_tokens": 100},
         "start_time": at + i, "end_time": at + i + 100}
        for i in range(2)
    ]  # fmt: skip
    send(trio, other, events)

    def costs(node: str) -> list[float | None]:
        answer = trio.get(node, f"/traces/{trace}")
        return sorted(s["total_cost"] for s in answer.json()["spans"]) if answer.status_code == 200 else []

    until(lambda: all(len(costs(n)) == 2 for n in trio.live()), 30)
    before = costs(holder)
    price = {"model": "gpt-4o", "provider": "openai", "input_per_mtok": 100.0, "output_per_mtok": 200.0}
    put = admin_write(trio, holder, "PUT", f"/v1/projects/{trio.project}/prices", {"prices": [price]})
    assert put.status_code == 200, put.text
    window = {"from": at - 3_600_000, "to": at + 3_600_000}
    repriced = admin_write(trio, holder, "POST", f"/v1/projects/{trio.project}/reprice", window)
    assert repriced.status_code == 200, repriced.text
    wanted = (1000 * 100.0 + 100 * 200.0) / 1e6
    took = until(lambda: all(costs(n) == [pytest.approx(wanted)] * 2 for n in trio.live()), 60)
    print(f"repriced on the recording node and seen everywhere after {took:.2f} s (before: {before})")


def test_a_pii_setting_made_on_the_holder_redacts_on_every_node(trio: Trio) -> None:
    holder = trio.holder()
    path = f"/api/projects/{trio.project}/settings"
    changed = admin_write(trio, holder, "PATCH", path, {"pii": {"mode": "redact", "masked_keys": ["secret.k"]}})
    assert changed.status_code == 200, changed.text

    def everywhere() -> bool:
        for node in trio.live():
            server = trio.nodes[node]
            shown = httpx.get(f"{server.url}{path}", headers=server.headers(trio.key), timeout=30).json()
            if shown["pii"]["mode"] != "redact":
                return False
        return True

    until(everywhere, 10)
    other = next(n for n in trio.live() if n != holder)
    event = {"event_id": "pii-1", "trace_id": "pii-t", "span_id": "pii-s", "type": "llm",
             "start_time": BASE_MS, "input": "write to jane.cluster@example.com"}  # fmt: skip
    send(trio, other, [event])
    until(lambda: trio.get(other, "/traces/pii-t").status_code == 200, 20)
    span = trio.get(other, "/traces/pii-t").json()["spans"][0]
    assert "jane.cluster@example.com" not in json.dumps(span) and "[EMAIL]" in json.dumps(span["input"])
    back = admin_write(trio, holder, "PATCH", path, {"pii": {"mode": "off"}})
    assert back.status_code == 200, back.text


def test_a_dashboard_saved_through_a_non_holder_is_served_by_every_node(trio: Trio) -> None:
    holder = trio.holder()
    other = next(n for n in trio.live() if n != holder)
    path = f"/api/projects/{trio.project}/dashboard"
    charts = [{"id": "c1", "title": "Cost", "metric": "total_cost", "group_by": "model", "chart": "bar"}]
    saved = admin_write(trio, other, "PUT", path, {"charts": charts})
    assert saved.status_code == 200, saved.text

    def everywhere() -> bool:
        for node in trio.live():
            server = trio.nodes[node]
            shown = httpx.get(f"{server.url}{path}", headers=server.headers(trio.key), timeout=30).json()
            if shown["charts"] != charts:
                return False
        return True

    until(everywhere, 10)


def test_after_the_holder_is_killed_another_takes_over_fences_and_serves_writes(trio: Trio) -> None:
    holder = trio.holder()
    trio.nodes[holder].kill()
    new = trio.holder(timeout_s=TTL_S * 6)
    assert new != holder
    created = admin_write(trio, new, "POST", f"/api/projects/{trio.project}/keys", {"scope": "read", "name": "after"})
    assert created.status_code in (200, 201), created.text
    key = created.json()["api_key"]
    took = until(lambda: all(trio.get(n, "/traces", key).status_code == 200 for n in trio.live()), 10)
    print(f"key created on the new holder usable on every live node after {took:.2f} s")
    assert took < WITHIN_S
    entries = [json.loads(trio.store.get(m.key).data) for m in trio.store.list(LOG_PREFIX + "/")]
    fences = [e for e in entries if e.get("fence") and e["node"] == new]
    assert fences, "the new holder wrote no fence entry"
    assert max(e["generation"] for e in entries) == fences[-1]["generation"]
