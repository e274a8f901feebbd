"""Read-only mode, started by hand (`lynex-box run --read-only`), end to end on a real server: queries and the
UI's sign-in keep working, every ingest route (native events, OTLP/HTTP and OTLP/gRPC, Langfuse ingestion,
scores) and every admin write is answered 503 + Retry-After with the JSON error `read_only`, and the node writes
nothing: every file of the data dir (meta.db, the WAL, the segments) is as it was, byte for byte.

The automatic mode (the bucket unwritable) is tested in test_cluster_bucket_outage.py, where a real store goes away.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from tests.e2e.server import RunningServer
from tests.e2e.test_otlp_grpc import auth, call_error, retry_delay_s, spans_request

SKIPPED = ("LOCK",)  # the writer lock: taken (flock) by every process that runs on the data dir, never written


def files(data_dir: Path) -> dict[str, str]:
    """Every file under the data dir -> a digest of its bytes and its mtime (what 'nothing written' means)."""
    found = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and path.name not in SKIPPED and "tmp" not in path.relative_to(data_dir).parts:
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
