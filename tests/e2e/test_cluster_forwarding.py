"""Forwarded metadata writes end to end (docs/format/cluster.md, "Forwarded metadata writes"): three real `lynex-box
run` nodes on one bucket of the real moto S3 server; node-a founds the cluster and holds the `metadata` lease.

A metadata write sent to node-b is answered by node-a (the row is on node-a, read back through node-a's API), a
login through node-b gets node-a's session cookie, node-a refuses a forward whose signature is missing, forged,
stale or replayed, node-b refuses a signed forward (it does not hold the lease: no second hop), and with node-a
killed, node-b answers metadata writes 503 + Retry-After while it still acknowledges ingest itself.

The joined nodes get the founder's accounts and the cluster secret from the metadata snapshot (step 3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

from tests.e2e.cluster import TTL_S, cluster_env, live_holders, status
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixture used here

RULE = {"name": "forwarded", "metric": "span_count", "comparison": "gt", "threshold": 1, "window_s": 60}
_buckets = itertools.count()


def read_secret(data_dir: Path) -> bytes:
    conn = apsw.Connection(str(data_dir / "meta.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.setbusytimeout(10_000)
        rows = list(conn.execute("SELECT value FROM instance_settings WHERE key = 'cluster_secret'"))
    finally:
        conn.close()
    assert rows, "the founding node made no cluster secret"
    kind, _, body = rows[0][0].partition(":")
    assert kind == "plain", "no KEK is configured in these tests: the secret is stored as plain:<base64>"
    return base64.b64decode(body)


@dataclass
class Trio:
    nodes: dict[str, RunningServer]
    env: dict[str, str]

    @property
    def founder(self) -> RunningServer:
        return self.nodes["node-a"]

    def login(self, node: str) -> httpx.Client:
        """A browser-like client of `node`, logged in as the founder's admin (through `node`)."""
        url = self.nodes[node].url
        answer = httpx.post(f"{url}/api/auth/login", json=_credentials(self), timeout=30)
        assert answer.status_code == 200, answer.text
        client = httpx.Client(base_url=url, cookies=answer.cookies, timeout=30)
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client


@pytest.fixture(scope="module")
def trio(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:  # noqa: F811
    name = f"forward-{os.getpid()}-{next(_buckets)}"
    moto_server.create_bucket(name)
    root = tmp_path_factory.mktemp("forward")
    nodes: dict[str, RunningServer] = {}
    try:
        for node_id in ("node-a", "node-b", "node-c"):
            env = cluster_env(moto_server, name, node_id)
            nodes[node_id] = RunningServer(root / node_id, env=env, credentials=node_id == "node-a").start(90)
        trio = Trio(nodes, cluster_env(moto_server, name, "node-a"))
        assert live_holders(status(trio.env)).get("metadata") == "node-a"  # the founder took every lease at start
        yield trio
    finally:
        for server in nodes.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()


def signed_headers(
    secret: bytes, method: str, path: str, body: bytes, *, at_ms: int | None = None, by: str = "node-b",
    client_ip: str = "127.0.0.1",
) -> dict[str, str]:  # fmt: skip
    """The headers of a forward as a node signs them (docs/format/cluster.md), made here independently."""
    at = str(at_ms if at_ms is not None else time.time_ns() // 1_000_000)
    nonce = secrets.token_hex(16)
    host, scheme = "lynex.example", "http"
    lines = [
        "lynex-forward-v1",
        method,
        path,
        "",
        at,
        nonce,
        by,
        client_ip,
        host,
        scheme,
        hashlib.sha256(body).hexdigest(),
    ]
    signature = hmac.new(secret, "\n".join(lines).encode(), hashlib.sha256).hexdigest()
    return {
        "X-Lynex-Forwarded-By": by,
        "X-Lynex-Forwarded-At": at,
        "X-Lynex-Nonce": nonce,
        "X-Lynex-Signature": signature,
        "X-Forwarded-For": client_ip,
        "X-Forwarded-Host": host,
        "X-Forwarded-Proto": scheme,
        "Content-Type": "application/json",
    }


def login_body(trio: Trio) -> bytes:
    a = trio.founder
    return httpx.Request(
        "POST", "/", json={"email": a.creds["admin_email"], "password": a.creds["admin_password"]}
    ).content


def test_a_key_and_an_alert_rule_created_through_a_non_holder_are_written_by_the_holder(trio: Trio) -> None:
    a, project = trio.founder, trio.founder.project
    with trio.login("node-b") as via_b, trio.login("node-a") as on_a:
        made = via_b.post(f"/api/projects/{project}/keys", json={"scope": "ingest", "name": "made-via-b"})
        assert made.status_code == 201, made.text
        key = made.json()
        keys = on_a.get(f"/api/projects/{project}/keys")
        assert keys.status_code == 200, keys.text
        assert key["key_id"] in [k["key_id"] for k in keys.json()["items"]]  # the holder wrote the row
        # the new key works on the holder at once (its key ring was refreshed by the write)
        sent = httpx.post(
            f"{a.url}/v1/projects/{project}/events", headers=a.headers(key["api_key"]), json=event("fw"), timeout=30
        )
        assert sent.status_code == 202, sent.text

        rule = via_b.post(f"/api/projects/{project}/alerts/rules", json=RULE)
        assert rule.status_code == 201, rule.text
        on_holder = on_a.get(f"/api/projects/{project}/alerts/rules/{rule.json()['id']}")
        assert on_holder.status_code == 200, on_holder.text
        assert on_holder.json()["name"] == "forwarded"
        changed = via_b.patch(f"/api/projects/{project}/alerts/rules/{rule.json()['id']}", json={"threshold": 5})
        assert changed.status_code == 200, changed.text
        assert on_a.get(f"/api/projects/{project}/alerts/rules/{rule.json()['id']}").json()["threshold"] == 5

        # a write the holder refuses is refused the same way through node-b
        bad = via_b.post(f"/api/projects/{project}/keys", json={"scope": "everything"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request", bad.text


def test_login_through_a_non_holder_sets_the_holders_session_cookie(trio: Trio) -> None:
    a = trio.founder
    with httpx.Client(base_url=trio.nodes["node-c"].url, timeout=30) as via_c:
        body = {"email": a.creds["admin_email"], "password": a.creds["admin_password"]}
        answer = via_c.post("/api/auth/login", json=body)
        assert answer.status_code == 200, answer.text
        cookies = answer.headers.get_list("set-cookie")
        assert sorted(c.split("=")[0] for c in cookies) == ["lynex_csrf", "lynex_session"], cookies  # both kept
        session = via_c.cookies.get("lynex_session")
        assert session
        me = httpx.get(f"{a.url}/api/auth/me", cookies={"lynex_session": session})  # the holder made the session
        assert me.status_code == 200 and me.json()["user"]["email"] == a.creds["admin_email"], me.text
        wrong = via_c.post("/api/auth/login", json={**body, "password": "not the password"})
        assert wrong.status_code == 401, wrong.text


def test_a_body_over_the_routes_cap_is_refused_before_it_is_forwarded(trio: Trio) -> None:
    b, project = trio.nodes["node-b"], trio.founder.project
    big = b'{"name": "' + b"x" * (64 * 1024 + 10) + b'"}'
    answer = httpx.post(
        f"{b.url}/api/projects/{project}/keys", content=big, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large", answer.text


def test_the_holder_refuses_a_forward_whose_signature_is_missing_forged_stale_or_replayed(trio: Trio) -> None:
    a = trio.founder
    secret = read_secret(a.data_dir)
    body = login_body(trio)
    url = f"{a.url}/api/auth/login"

    good = signed_headers(secret, "POST", "/api/auth/login", body)
    accepted = httpx.post(url, content=body, headers=good, timeout=30)
    assert accepted.status_code == 200, accepted.text  # the signing above is the nodes' own

    replayed = httpx.post(url, content=body, headers=good, timeout=30)
    missing = httpx.post(url, content=body, headers={k: v for k, v in good.items() if k != "X-Lynex-Signature"})
    forged = httpx.post(
        url, content=body, headers=signed_headers(secrets.token_bytes(32), "POST", "/api/auth/login", body)
    )
    stale_at = time.time_ns() // 1_000_000 - 120_000
    stale = httpx.post(
        url, content=body, headers=signed_headers(secret, "POST", "/api/auth/login", body, at_ms=stale_at)
    )
    changed = httpx.post(url, content=body + b" ", headers=signed_headers(secret, "POST", "/api/auth/login", body))
    for name, answer in {
        "replayed": replayed,
        "missing": missing,
        "forged": forged,
        "stale": stale,
        "changed": changed,
    }.items():
        assert answer.status_code == 401, (name, answer.text)
        assert answer.json()["error"]["code"] == "forward_unauthenticated", (name, answer.text)
        assert "set-cookie" not in answer.headers, name


def test_the_holder_trusts_the_client_address_of_a_signed_forward_only(trio: Trio) -> None:
    a = trio.founder
    body = login_body(trio)
    headers = signed_headers(read_secret(a.data_dir), "POST", "/api/auth/login", body, client_ip="203.0.113.9")
    assert httpx.post(f"{a.url}/api/auth/login", content=body, headers=headers, timeout=30).status_code == 200
    unsigned = {"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.7"}
    assert httpx.post(f"{a.url}/api/auth/login", content=body, headers=unsigned, timeout=30).status_code == 200
    with trio.login("node-a") as on_a:
        org_id = on_a.get("/api/auth/me").json()["projects"][0]["org_id"]
        entries = on_a.get(f"/api/orgs/{org_id}/audit", params={"action": "login", "limit": 100})
        assert entries.status_code == 200, entries.text
    addresses = {entry["ip"] for entry in entries.json()["items"]}
    assert "203.0.113.9" in addresses  # the signed forward's client, as node-b saw it
    assert "198.51.100.7" not in addresses  # a header any client can send is not believed


def test_a_signed_forward_of_a_route_that_is_not_a_metadata_write_is_refused(trio: Trio) -> None:
    a = trio.founder
    path = f"/v1/projects/{a.project}/events"
    body = json.dumps(event("signed-ingest")).encode()
    headers = {**signed_headers(read_secret(a.data_dir), "POST", path, body), **a.headers()}
    answer = httpx.post(f"{a.url}{path}", content=body, headers=headers, timeout=30)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "not_forwardable", answer.text


def test_a_forward_reaching_a_node_that_does_not_hold_the_lease_is_refused_not_forwarded_again(trio: Trio) -> None:
    b = trio.nodes["node-b"]
    body = login_body(trio)
    headers = signed_headers(read_secret(trio.founder.data_dir), "POST", "/api/auth/login", body, by="node-c")
    answer = httpx.post(f"{b.url}/api/auth/login", content=body, headers=headers, timeout=30)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "metadata_holder_moved"
    assert answer.headers["retry-after"] == "1"
    assert "set-cookie" not in answer.headers  # node-b did not log anyone in, nor ask node-a to


def test_with_the_holder_killed_metadata_writes_answer_503_while_ingest_is_acknowledged_locally(trio: Trio) -> None:
    a, b, project = trio.founder, trio.nodes["node-b"], trio.founder.project
    key = a.creds["api_key"]
    with trio.login("node-b") as via_b:
        a.kill()
        killed = time.monotonic()
        answer = via_b.post(f"/api/projects/{project}/keys", json={"scope": "read"})
        written = httpx.post(
            f"{b.url}/v1/projects/{project}/events", headers=b.headers(key), json=event("down"), timeout=30
        )
        elapsed = time.monotonic() - killed
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "metadata_unavailable"
        assert answer.headers["retry-after"] == "1"
        assert written.status_code == 202, written.text  # ingest never waits on the holder
        assert elapsed < TTL_S + 5, elapsed

    # once another node has taken the lease over, writes through node-b work again (a session made by the new
    # holder: sessions made by node-a are not in the copied metadata)
    deadline = time.monotonic() + TTL_S + 20
    while True:
        login = httpx.post(f"{b.url}/api/auth/login", json=_credentials(trio), timeout=30)
        if login.status_code == 200 or time.monotonic() > deadline:
            break
        assert login.status_code == 503, login.text
        time.sleep(0.2)
    assert login.status_code == 200, login.text
    assert live_holders(status(trio.env)).get("metadata") in ("node-b", "node-c")
    with httpx.Client(base_url=b.url, cookies=login.cookies, timeout=30) as via_b:
        via_b.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        made = via_b.post(f"/api/projects/{project}/keys", json={"scope": "read", "name": "after-takeover"})
        assert made.status_code == 201, made.text


def event(name: str) -> dict[str, Any]:
    return {
        "events": [{"event_id": name, "trace_id": name, "span_id": name, "name": "x", "start_time": 1_795_000_000_000}]
    }


def _credentials(trio: Trio) -> dict[str, Any]:
    a = trio.founder
    return {"email": a.creds["admin_email"], "password": a.creds["admin_password"]}
