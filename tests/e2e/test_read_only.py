"""Read-only mode, started by hand (`lynex-box run --read-only`), end to end on a real server: queries and the
UI's sign-in keep working, every ingest route (native events, OTLP/HTTP and OTLP/gRPC, Langfuse ingestion,
scores) and every admin write is answered 503 + Retry-After with the JSON error `read_only`, and the node writes
nothing: every file of the data dir (meta.db, the WAL, the segments) is as it was, byte for byte.

A member of a cluster started read-only reads the other nodes' data from the bucket and writes nothing there; it
applies the metadata log (a key created or revoked on the holder works or is refused on it within 5 s), so its
`meta.db` changes when entries arrive (none do in the test that checks its data dir is unchanged).
The automatic mode (the bucket unwritable) is tested in test_cluster_bucket_outage.py, where a real store goes away.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from lynex_box.objstore import S3Store
from tests.e2e.cluster import HEARTBEAT_S, cluster_env
from tests.e2e.server import RunningServer
from tests.e2e.test_cluster_segments import BASE_MS, spans, wait_for
from tests.e2e.test_otlp_grpc import auth, call_error, retry_delay_s, spans_request
from tests.objstore.conftest import MotoServer, moto_server  # noqa: F401 - fixtures used here

SKIPPED = ("LOCK",)  # the writer lock: taken (flock) by every process that runs on the data dir, never written
SCRATCH = ("tmp", "cache")  # spill files and downloaded copies of bucket segments, emptied at every start


def files(data_dir: Path) -> dict[str, str]:
    """Every file under the data dir -> a digest of its bytes and its mtime (what 'nothing written' means)."""
    found = {}
    for path in sorted(data_dir.rglob("*")):
        parts = path.relative_to(data_dir).parts
        if path.is_file() and path.name not in SKIPPED and parts[0] not in SCRATCH:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            found[str(path.relative_to(data_dir))] = f"{digest} {os.stat(path).st_mtime_ns}"
    return found


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A data dir with one trace and a score, written by a normal run that then stopped cleanly."""
    server = RunningServer(tmp_path_factory.mktemp("read-only") / "data", otlp_grpc=True).start()
    try:
        with httpx.Client(base_url=f"{server.url}/v1/projects/{server.project}", headers=server.headers()) as c:
            events = [{"event_id": f"e{i}", "trace_id": "t1", "span_id": f"s{i}", "name": "chat"} for i in range(3)]
            assert c.post("/events", json={"events": events}).status_code == 202
            assert c.post("/scores", json={"trace_id": "t1", "name": "ok", "value": 1}).status_code in (200, 202)
    finally:
        assert server.stop() == 0
    yield server


def test_a_read_only_node_serves_queries_refuses_every_write_and_changes_no_file(stopped: RunningServer) -> None:
    before = files(stopped.data_dir)
    stopped.args = ("--read-only",)
    server = stopped.start()
    try:
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["status"] == "ready" and ready["read_only"] is True and ready["mode"] == "manual"
        base = f"{server.url}/v1/projects/{server.project}"
        with httpx.Client(base_url=base, headers=server.headers(), timeout=30) as c:
            trace = c.get("/traces/t1")
            assert trace.status_code == 200, trace.text
            assert sorted(s["span_id"] for s in trace.json()["spans"]) == ["s0", "s1", "s2"]
            refused = [
                c.post("/events", json={"events": [{"event_id": "x", "trace_id": "t2", "name": "n"}]}),
                c.post("/scores", json={"trace_id": "t1", "name": "ok", "value": 0}),
                c.post(f"{server.url}/v1/traces", content=b"\x00", headers={"content-type": "application/x-protobuf"}),
                c.post(f"{server.url}/api/public/ingestion", json={"batch": []}),
                c.post(f"{server.url}/api/projects/{server.project}/keys", json={"name": "k", "scope": "query"}),
                c.delete(f"{base}/traces/t1"),
            ]
        for answer in refused:
            assert answer.status_code == 503, (answer.request.url, answer.text)
            assert answer.headers["retry-after"] == "60"
            assert answer.json()["error"]["code"] == "read_only"
        with grpc.insecure_channel(server.grpc_target) as channel:
            error = call_error(
                TraceServiceStub(channel).Export, spans_request(b"\x01" * 16, (b"\x02" * 8, "chat")),
                metadata=auth(server.creds["api_key"]),
            )  # fmt: skip
        assert error.code() == grpc.StatusCode.UNAVAILABLE and retry_delay_s(error) == 60
    finally:
        assert server.stop() == 0
    after = files(stopped.data_dir)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == set(), changed


def test_signing_in_to_a_read_only_node_works_and_writes_only_the_session(stopped: RunningServer) -> None:
    """The one write a read-only node makes: the UI's session row in meta.db (so the UI keeps serving)."""
    before = files(stopped.data_dir)
    stopped.args = ("--read-only",)
    server = stopped.start()
    try:
        with httpx.Client(base_url=server.url) as ui:
            login = {"email": server.creds["admin_email"], "password": server.creds["admin_password"]}
            assert ui.post("/api/auth/login", json=login).status_code == 200
            trace = ui.get(f"/v1/projects/{server.project}/traces/t1")
            assert trace.status_code == 200, trace.text
            refused = ui.post(f"/api/projects/{server.project}/keys", json={"name": "k", "scope": "query"})
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "read_only"
    finally:
        assert server.stop() == 0
    after = files(stopped.data_dir)
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} <= {"meta.db"}


def test_a_read_only_cluster_node_reads_the_others_data_and_writes_nothing_to_the_bucket(
    moto_server: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A member of a cluster restarted read-only takes no lease, writes no heartbeat, manifest or probe, and still
    queries the other nodes' published segments; its data dir is unchanged too."""
    bucket = f"read-only-{os.getpid()}"
    moto_server.create_bucket(bucket)
    store = S3Store(moto_server.settings(bucket, prefix="deploy"))
    a = RunningServer(tmp_path / "a", env=cluster_env(moto_server, bucket, "node-a")).start(90)
    b = RunningServer(tmp_path / "b", env=cluster_env(moto_server, bucket, "node-b"), credentials=False)
    try:
        b.start(90)
        with httpx.Client(base_url=f"{a.url}/v1/projects/{a.project}", headers=a.headers()) as c:
            assert c.post("/events", json={"events": spans("from-a", 2, BASE_MS)}).status_code == 202
        assert b.stop() == 0
    finally:
        assert a.stop() == 0  # publishes its head: the bucket now holds every event
    listing = {m.key: m.etag for m in store.list("")}
    before = files(b.data_dir)
    b.args = ("--read-only",)
    b.start(90)
    try:
        ready = httpx.get(f"{b.url}/readyz").json()
        assert ready["read_only"] is True and ready["mode"] == "manual"
        with httpx.Client(base_url=f"{b.url}/v1/projects/{a.project}", headers=b.headers(a.creds["api_key"])) as c:
            wait_for(lambda: c.get("/traces/from-a").status_code == 200, 30)  # node-a's segments, from the bucket
            refused = c.post("/events", json={"events": spans("to-b", 1, BASE_MS)})
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "read_only"
        time.sleep(2 * HEARTBEAT_S + 1)  # a node would have written heartbeats and taken leases by now
        assert {m.key: m.etag for m in store.list("")} == listing
    finally:
        assert b.stop() == 0
    assert {m.key: m.etag for m in store.list("")} == listing
    after = files(b.data_dir)
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == set()


def test_a_read_only_cluster_node_follows_the_metadata_log(
    moto_server: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A read-only member applies the metadata log (and writes no entry): a key created on the holder works on it
    within 5 s, and once revoked there it is refused on it within 5 s (the issue's bound for every node)."""
    bucket = f"read-only-log-{os.getpid()}"
    moto_server.create_bucket(bucket)
    store = S3Store(moto_server.settings(bucket, prefix="deploy"))
    a = RunningServer(tmp_path / "a", env=cluster_env(moto_server, bucket, "node-a")).start(90)
    b = RunningServer(tmp_path / "b", env=cluster_env(moto_server, bucket, "node-b"), credentials=False)
    try:
        b.start(90)
        assert b.stop() == 0
        b.args = ("--read-only",)
        b.start(90)
        assert httpx.get(f"{b.url}/readyz").json()["read_only"] is True
        keys = f"{a.url}/api/projects/{a.project}/keys"
        created = httpx.post(keys, headers=a.headers(), json={"scope": "read", "name": "on-the-holder"}, timeout=30)
        assert created.status_code in (200, 201), created.text
        key, key_id = created.json()["api_key"], created.json()["key_id"]

        def answer_on_b() -> int:
            url = f"{b.url}/v1/projects/{a.project}/traces"
            return httpx.get(url, headers=b.headers(key), timeout=30).status_code

        took = until(lambda: answer_on_b() == 200, 15)
        print(f"key created on the holder usable on the read-only node after {took:.2f} s")
        assert took < 5.0
        revoked = httpx.delete(f"{keys}/{key_id}", headers=a.headers(), timeout=30)
        assert revoked.status_code == 204, revoked.text
        took = until(lambda: answer_on_b() == 401, 15)
        print(f"key revoked on the holder refused on the read-only node after {took:.2f} s")
        assert took < 5.0
        # the read-only node applied the entries and wrote none
        writers = {json.loads(store.get(m.key).data)["node"] for m in store.list("cluster/meta/log/")}
        assert writers == {"node-a"}
    finally:
        for server in (b, a):
            if server.proc is not None and server.proc.poll() is None:
                assert server.stop() == 0


def until(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `check()` holds (AssertionError after `timeout_s`)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - start
