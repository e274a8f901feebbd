"""Alerts across a cluster (docs/format/cluster.md, "Alert state"): three real `lynex-box run` processes on one
bucket prefix of the real moto S3 server and a real webhook receiver. A rule fires on errors; the node that holds
the `alerts` lease is killed with SIGKILL while the condition keeps holding; another node takes the lease within
`lease_ttl_s` (+ the clock skew allowance and one try), continues the episode from the rule's state in the bucket,
and the receiver gets exactly one firing and, once the errors stop, exactly one resolution, both carrying the same
firing id and notification ids.

The joined nodes get the founding node's accounts from the metadata snapshot and the rule from the metadata log.
Each node has its own default alerts secrets key file (`<data>/alerts-secrets.key`, all different): the rule's
sealed channel opens on the node that takes over because the founder's key travels with the metadata
(`instance_settings.alerts_secrets_key`, alerts/clusterkey.py). A second test configures a KEK and checks that the
bucket's metadata snapshots and log never hold that key in the clear.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from lynex_box.objstore import ObjectNotFound, S3Store
from tests.alerts.receiver import Received, Receiver
from tests.e2e.cluster import SKEW_S, TTL_S, cluster_env, live_holders, status
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixture used here

PREFIX = "deploy"
WINDOW_S = 8
TRY_S = TTL_S / 6  # how often a node tries to take a free lease
ALERTS_ENV = {
    "LYNEX_ALERTS_TICK_S": "0.2",
    "LYNEX_ALERTS_MIN_INTERVAL_S": "1",
    "LYNEX_ALERTS_DELIVERY_BACKOFF_S": "0.05",
    "LYNEX_ALERTS_ALLOWED_TARGET_NETWORKS": "127.0.0.1/32",
}
_buckets = itertools.count()


@dataclass
class Cluster:
    nodes: dict[str, RunningServer]
    key: str
    project: str
    receiver: Receiver
    store: S3Store
    env: dict[str, dict[str, str]]

    def api(self, node: str) -> httpx.Client:
        server = self.nodes[node]
        return httpx.Client(base_url=server.url, headers=server.headers(self.key), timeout=10)


@pytest.fixture
def cluster(moto_server: MotoServer, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    name = f"alerts-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    receiver = Receiver().start()
    nodes: dict[str, RunningServer] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            env = cluster_env(moto_server, name, node_id, PREFIX, flush_age_s="1.0")
            env.update(ALERTS_ENV)  # no secrets_key_file: each node makes its own default key file
            envs[node_id] = env
            nodes[node_id] = RunningServer(tmp_path / node_id, env=env, credentials=node_id == "node-a").start(90)
        a = nodes["node-a"]
        yield Cluster(nodes, a.creds["api_key"], a.project, receiver, S3Store(moto_server.settings(name)), envs)
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
        receiver.stop()


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not true after {timeout_s} s")


class ErrorSender:
    """Sends one error span of `name` every `every_s` through the given nodes in turn, until stopped."""

    def __init__(self, cluster: Cluster, nodes: list[str], name: str, every_s: float = 0.5) -> None:
        self.cluster, self.nodes, self.name, self.every_s = cluster, nodes, name, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self) -> None:
        for node in itertools.cycle(self.nodes):
            if self._stop.is_set():
                return
            with self.cluster.api(node) as client:
                body = {"events": [{"name": self.name, "status": "error", "error": {"message": "boom"}}]}
                answer = client.post(f"/v1/projects/{self.cluster.project}/events", json=body)
            assert answer.status_code == 202, answer.text
            self.sent += 1
            self._stop.wait(self.every_s)

    def __enter__(self) -> ErrorSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def bucket_state(cluster: Cluster, rule_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(cluster.store.get(f"{PREFIX}/cluster/alerts/{rule_id}.json").data)
    return doc


def notifications(receiver: Receiver, path: str, kind: str) -> list[Received]:
    return [r for r in receiver.on(path) if r.json()["type"] == kind]


def test_killing_the_alerts_holder_fires_the_alert_once_across_the_cluster(cluster: Cluster) -> None:
    hook, name = f"/hook/{uuid.uuid4().hex[:8]}", f"checkout-{uuid.uuid4().hex[:6]}"
    rule_body = {
        "name": "checkout errors",
        "metric": "error_count",
        "comparison": "gte",
        "threshold": 1,
        "window_s": WINDOW_S,
        "interval_s": 1,
        "filters": {"name": name},
        "channels": [{"type": "webhook", "url": cluster.receiver.url + hook}],
    }
    with cluster.api("node-a") as client:
        created = client.post(f"/api/projects/{cluster.project}/alerts/rules", json=rule_body)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    rules_path = f"/api/projects/{cluster.project}/alerts/rules/{rule_id}"

    def answers(node: str) -> bool:
        with cluster.api(node) as client:
            return client.get(rules_path).status_code == 200

    wait_for(lambda: all(answers(n) for n in cluster.nodes), 30, "the joined nodes read the copied key and rule")
    own_keys = {n: (s.data_dir / "alerts-secrets.key").read_text() for n, s in cluster.nodes.items()}
    assert len(set(own_keys.values())) == 3, "each node made its own key file: only the replicated key is shared"
    holder = live_holders(status(cluster.env["node-a"]))["alerts"]
    others = [n for n in cluster.nodes if n != holder]

    with ErrorSender(cluster, others, name):  # through the nodes that survive: their data outlives the kill
        fired = cluster.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.firing", timeout=60)
        firing_id = fired.json()["firing"]["id"]
        assert fired.json()["notification_id"] == f"{firing_id}.firing"
        assert fired.headers["x-lynex-notification"] == f"{firing_id}.firing"
        # the notification has left the outbox: the holder's whole job for this firing is done
        state = wait_for(lambda: (s := bucket_state(cluster, rule_id))["state"]["outbox"] == [] and s, 15, "outbox")
        assert state["holder"] == holder and state["state"]["firing"]["id"] == firing_id
        old_generation = state["generation"]

        killed_at = time.time()
        cluster.nodes[holder].kill()

        def new_holder() -> dict[str, Any] | None:
            leases = status(cluster.env[others[0]])["leases"]
            return next((x for x in leases if x["job"] == "alerts" and x["live"] and x["holder"] != holder), None)

        lease = wait_for(new_holder, 30, "another node takes the alerts lease")
        took_s = lease["acquired_at"] / 1e6 - killed_at
        print(f"alerts lease taken over {took_s:.2f} s after the kill by {lease['holder']} "
              f"(lease_ttl_s={TTL_S}, max_clock_skew_s={SKEW_S})")  # fmt: skip
        # the last renewal was at most lease_ttl_s before expiry; the takers wait the skew, then try every ttl/6
        assert took_s <= TTL_S + SKEW_S + TRY_S + 2.0
        assert lease["generation"] > old_generation

        # the new holder claims the rule's state and keeps evaluating while the errors keep coming
        def claimed() -> bool:
            s = bucket_state(cluster, rule_id)
            return bool(s["generation"] == lease["generation"] and s["holder"] == lease["holder"])

        wait_for(claimed, 20, "the new holder claims the rule's state")
        with cluster.api(lease["holder"]) as client:
            evaluated_after = time.time_ns() // 1000
            wait_for(lambda: client.get(rules_path).json()["last_evaluated_at"] > evaluated_after, 15, "evaluated")
            assert client.get(rules_path).json()["state"] == "firing"
            firings = client.get(f"/api/projects/{cluster.project}/alerts/firings", params={"rule_id": rule_id})
            assert [f["id"] for f in firings.json()["items"]] == [firing_id]  # the episode continues, same id
        time.sleep(3)  # several more evaluations by the new holder while the condition holds
        assert len(notifications(cluster.receiver, hook, "alert.firing")) == 1

    # no more errors: once they leave the window the rule resolves, told once, by the new holder
    resolved = cluster.receiver.wait_for(hook, lambda r: r.json()["type"] == "alert.resolved", timeout=WINDOW_S + 30)
    assert resolved.json()["firing"]["id"] == firing_id
    assert resolved.json()["notification_id"] == f"{firing_id}.resolved"
    time.sleep(3)
    got = [(r.json()["type"], r.json()["firing"]["id"]) for r in cluster.receiver.on(hook)]
    assert got == [("alert.firing", firing_id), ("alert.resolved", firing_id)]
    final = bucket_state(cluster, rule_id)
    assert final["state"]["state"] == "ok" and final["state"]["outbox"] == []


def test_with_a_kek_the_bucket_never_holds_the_alerts_key_in_the_clear(
    moto_server: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The founder publishes its alerts secrets key wrapped by the KEK; a joining node with its own key file uses
    the published one; no metadata snapshot or log entry in the bucket holds the key's bytes, hex or base64."""
    name = f"alerts-kek-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    kek = tmp_path / "secrets" / "kek.hex"
    kek.parent.mkdir()
    kek.write_text(secrets.token_bytes(32).hex())
    nodes: dict[str, RunningServer] = {}
    try:
        for node_id in ("node-a", "node-b"):
            env = cluster_env(moto_server, name, node_id, PREFIX, snapshot_every="2")
            env.update(ALERTS_ENV, LYNEX_ENCRYPTION_KEK_FILE=str(kek))
            nodes[node_id] = RunningServer(tmp_path / node_id, env=env, credentials=node_id == "node-a").start(90)
        a, b = nodes["node-a"], nodes["node-b"]
        with httpx.Client(base_url=a.url, headers=a.headers(a.creds["api_key"]), timeout=10) as client:
            secret = "s3cret-for-the-hook-x"
            for i in range(3):  # enough log entries for a snapshot (snapshot_every = 2) after the key's entry
                rule = {
                    "name": f"rule {i}", "metric": "error_count", "comparison": "gte", "threshold": 1, "window_s": 60,
                    "channels": [{"type": "webhook", "url": f"http://127.0.0.1:9/hook/{i}", "secret": secret}],
                }  # fmt: skip
                created = client.post(f"/api/projects/{a.project}/alerts/rules", json=rule)
                assert created.status_code == 201, created.text
        store = S3Store(moto_server.settings(name))
        meta_db = a.data_dir / "meta.db"
        with contextlib.closing(sqlite3.connect(f"file:{meta_db}?mode=ro", uri=True)) as db:
            (value,) = db.execute("SELECT value FROM instance_settings WHERE key = 'alerts_secrets_key'").fetchone()
        assert value.startswith("kek:"), "with a KEK the published key is wrapped"

        def snapshot_after_rules() -> bool:
            keys = [m.key for m in store.list(f"{PREFIX}/cluster/meta/snapshots/")]
            return any(not k.endswith("00000000000000000000.db.zst") for k in keys)

        wait_for(snapshot_after_rules, 30, "a snapshot written after the key was published")
        key = bytes.fromhex((a.data_dir / "alerts-secrets.key").read_text().strip())
        assert key != bytes.fromhex((b.data_dir / "alerts-secrets.key").read_text().strip())
        forms = [
            key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key), base64.urlsafe_b64encode(key)
        ]  # fmt: skip
        objects = store.list(f"{PREFIX}/cluster/meta/")
        assert any("/log/" in m.key for m in objects) and any(m.key.endswith(".db.zst") for m in objects)
        holding = []
        for meta in objects:
            try:
                data = store.get(meta.key).data
            except ObjectNotFound:  # pruned meanwhile by a newer snapshot
                continue
            if meta.key.endswith(".zst"):
                data = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30)
            if b"alerts_secrets_key" in data:
                holding.append(meta.key)
            for form in forms:
                assert form not in data, f"{meta.key} holds the alerts secrets key"
        assert any(k.endswith(".db.zst") for k in holding), f"no snapshot carries the (wrapped) setting: {holding}"
        # the joined node took the founder's key from the metadata (its own file is different)
        wait_for(lambda: "now uses the cluster's key" in b.log_path.read_text(), 15, "node-b uses the cluster key")
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
