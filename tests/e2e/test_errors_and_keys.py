"""Every error status of the ingest API, API keys through the CLI while the server runs, and dev mode."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.e2e.server import RunningServer

EVENT = {"events": [{"trace_id": "x", "name": "n"}]}


def events_url(server: RunningServer, project: str | None = None) -> str:
    return f"{server.url}/v1/projects/{project or server.project}/events"


def assert_json_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["message"]


def test_authentication_and_tenancy_errors(server: RunningServer) -> None:
    assert_json_error(httpx.post(events_url(server), json=EVENT), 401)
    assert_json_error(httpx.post(events_url(server), json=EVENT, headers=server.headers("lx_aaaaaaaa_bogus")), 401)
    other = server.cli("projects", "create", "other")["project_id"]
    other_key = server.cli("keys", "create", "--project", other)["api_key"]
    time.sleep(2.5)  # the server's key ring refreshes every 2 s
    assert_json_error(httpx.post(events_url(server), json=EVENT, headers=server.headers(other_key)), 403)
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/traces", headers=server.headers(other_key))
    assert_json_error(r, 403)
    assert httpx.post(events_url(server, other), json=EVENT, headers=server.headers(other_key)).status_code == 202


def test_scopes_limit_what_a_key_can_do(server: RunningServer) -> None:
    ingest_key = server.cli("keys", "create", "--project", server.project, "--scope", "ingest")["api_key"]
    read_key = server.cli("keys", "create", "--project", server.project, "--scope", "read")["api_key"]
    time.sleep(2.5)
    traces = f"{server.url}/v1/projects/{server.project}/traces"
    assert httpx.post(events_url(server), json=EVENT, headers=server.headers(ingest_key)).status_code == 202
    assert_json_error(httpx.get(traces, headers=server.headers(ingest_key)), 403)
    assert httpx.get(traces, headers=server.headers(read_key)).status_code == 200
    assert_json_error(httpx.post(events_url(server), json=EVENT, headers=server.headers(read_key)), 403)


def test_malformed_bodies_get_400(server: RunningServer) -> None:
    h = server.headers()
    assert_json_error(httpx.post(events_url(server), content=b"{not json", headers=h), 400)
    assert_json_error(httpx.post(events_url(server), json={"evnts": []}, headers=h), 400)
    assert_json_error(httpx.post(events_url(server), json=[1, 2], headers=h), 400)
    bad_gzip = {**h, "Content-Encoding": "gzip"}
    assert_json_error(httpx.post(events_url(server), content=b"not gzip", headers=bad_gzip), 400)
    assert_json_error(httpx.post(events_url(server), content=b"{}", headers={**h, "Content-Encoding": "br"}), 415)
    traces = f"{server.url}/v1/projects/{server.project}/traces"
    assert_json_error(httpx.get(traces, params={"from": "last tuesday"}, headers=h), 400)
    assert_json_error(httpx.get(traces, params={"cursor": "garbage!"}, headers=h), 400)
    assert_json_error(httpx.get(traces, params={"limit": "0"}, headers=h), 400)
    metrics = f"{server.url}/v1/projects/{server.project}/metrics"
    assert_json_error(httpx.get(metrics, params={"group_by": "password_hash"}, headers=h), 400)
    assert_json_error(httpx.get(f"{server.url}/v1/projects/{server.project}/traces/nope", headers=h), 404)


def test_oversized_bodies_get_413(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", env={"LYNEX_INGEST_MAX_BODY_BYTES": "65536"}).start()
    try:
        big = {"events": [{"trace_id": "big", "input": "x" * 70_000}]}
        assert_json_error(httpx.post(events_url(server), json=big, headers=server.headers()), 413)
        import gzip

        import orjson

        bomb = gzip.compress(orjson.dumps({"events": [{"input": "a" * 5_000_000}]}))
        assert len(bomb) < 65536
        r = httpx.post(events_url(server), content=bomb, headers={**server.headers(), "Content-Encoding": "gzip"})
        assert_json_error(r, 413)
        assert httpx.post(events_url(server), json=EVENT, headers=server.headers()).status_code == 202
    finally:
        server.stop()


def test_backlog_over_its_limit_gets_503_with_retry_after(tmp_path: Path) -> None:
    env = {"LYNEX_INGEST_MAX_BACKLOG_BYTES": str(1024 * 1024), "LYNEX_HEAD_MAX_AGE_S": "3600"}
    server = RunningServer(tmp_path / "data", env=env).start()
    try:
        noise = {"events": [{"trace_id": f"n{i}", "input": os.urandom(200_000).hex()} for i in range(12)]}
        assert httpx.post(events_url(server), json=noise, headers=server.headers()).status_code == 202
        r = httpx.post(events_url(server), json=EVENT, headers=server.headers())
        assert_json_error(r, 503)
        assert int(r.headers["retry-after"]) >= 1
        assert httpx.get(f"{server.url}/readyz").status_code == 503
    finally:
        server.stop()


def test_keys_created_listed_and_revoked_with_the_cli_while_running(server: RunningServer) -> None:
    created = server.cli("keys", "create", "--project", server.project, "--scope", "ingest")
    assert created["project_id"] == server.project and created["api_key"].startswith("lx_")
    listed = server.cli("keys", "list", "--project", server.project)
    assert created["key_id"] in [k["key_id"] for k in listed]
    assert all("hash" not in k and "api_key" not in k for k in listed)
    time.sleep(2.5)
    assert httpx.post(events_url(server), json=EVENT, headers=server.headers(created["api_key"])).status_code == 202
    server.cli("keys", "revoke", created["key_id"])
    deadline = time.monotonic() + 5
    status = 202
    while time.monotonic() < deadline and status != 401:
        status = httpx.post(events_url(server), json=EVENT, headers=server.headers(created["api_key"])).status_code
        time.sleep(0.2)
    assert status == 401, "a revoked key still works after 5 s"
    projects = server.cli("projects", "list")
    assert server.project in [p["project_id"] for p in projects]


def test_dev_mode_accepts_unauthenticated_loopback_ingest(tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", dev=True).start()
    try:
        r = httpx.post(events_url(server), json={"events": [{"trace_id": "dev-1"}]})
        assert r.status_code == 202
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            got = httpx.get(f"{server.url}/v1/projects/{server.project}/traces/dev-1", headers=server.headers())
            if got.status_code == 200:
                break
            time.sleep(0.05)
        assert got.status_code == 200
        # reads still need a key, even in dev mode
        assert httpx.get(f"{server.url}/v1/projects/{server.project}/traces").status_code == 401
    finally:
        server.stop()


def test_init_prints_the_first_credentials_as_json_and_writes_them_to_a_private_file(tmp_path: Path) -> None:
    import json
    import stat
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "lynex_box", "init", "--data-dir", str(tmp_path / "d"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    creds = json.loads(out.stdout)
    assert set(creds) >= {"project_id", "api_key", "admin_email", "admin_password"}
    saved = tmp_path / "d" / "first-start-credentials.json"
    assert json.loads(saved.read_text()) == creds
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    again = subprocess.run(
        [sys.executable, "-m", "lynex_box", "init", "--data-dir", str(tmp_path / "d"), "--json"],
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "already initialised" in again.stderr


def test_the_first_run_writes_its_printed_credentials_to_the_data_dir(tmp_path: Path) -> None:
    """A container's first start has nobody watching its output: the credentials are in the volume too."""
    import json

    server = RunningServer(tmp_path / "data").start()
    try:
        saved = json.loads((server.data_dir / "first-start-credentials.json").read_text())
        assert saved == server.printed
        got = httpx.get(f"{server.url}/v1/projects/{saved['project_id']}/traces", headers=server.headers())
        assert got.status_code == 200
    finally:
        server.stop()
    assert "first-start-credentials.json" in server.log_path.read_text()
