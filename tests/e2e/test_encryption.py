"""Per-project encryption at rest through the real server: the setting, transparent queries, and a missing or wrong
key-encryption key locking only the encrypted project."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer

SECRET = "zebra-prompt-5d1e77"
T0_MS = int(time.time() * 1000) - 3_600_000


def cli(data_dir: Path, *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "lynex_box", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e{i}",
            "trace_id": f"trace-{i // 3}",
            "span_id": f"s{i}",
            "parent_span_id": None if i % 3 == 0 else f"s{i - i % 3}",
            "name": "chat",
            "type": "llm",
            "model": "gpt-4o",
            "start_time": T0_MS + i * 1000,
            "end_time": T0_MS + i * 1000 + 300,
            "usage": {"input_tokens": 10 + i, "output_tokens": 4},
            "session_id": f"sess-{i % 2}",
            "user_id": "alice",
            "input": [{"role": "user", "content": f"{SECRET} question {i}"}],
            "output": f"answer {i}",
        }
        for i in range(n)
    ]


class Box:
    """One data dir with two projects (A to encrypt, B plaintext), started with a chosen KEK environment."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.kek = tmp / "secrets" / "kek.hex"
        self.kek.parent.mkdir()
        self.kek.write_text(secrets.token_bytes(32).hex())
        self.a = cli(self.data, "init")
        self.b_project = cli(self.data, "projects", "create", "b")["project_id"]
        self.b_key = cli(self.data, "keys", "create", "--project", self.b_project, "--scope", "admin")["api_key"]
        self.server: RunningServer | None = None

    def start(self, env: dict[str, str]) -> RunningServer:
        srv = RunningServer(self.data, env={"LYNEX_HEAD_MAX_AGE_S": "0.3", **env})
        srv.creds = self.a
        self.server = srv.start()
        return srv

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.server = None

    def call(self, method: str, path: str, project: str, **kw: Any) -> httpx.Response:
        assert self.server is not None
        key = self.a["api_key"] if project == "a" else self.b_key
        pid = self.a["project_id"] if project == "a" else self.b_project
        url = f"{self.server.url}{path.format(pid=pid)}"
        return httpx.request(method, url, headers={"Authorization": f"Bearer {key}"}, timeout=30, **kw)

    def segments(self, project: str) -> list[Path]:
        pid = self.a["project_id"] if project == "a" else self.b_project
        return sorted((self.data / "segments" / pid).glob("*.parquet"))


READS = [
    "/v1/projects/{pid}/traces",
    "/v1/projects/{pid}/traces/trace-2",
    "/v1/projects/{pid}/spans?limit=100",
    "/v1/projects/{pid}/sessions",
    "/v1/projects/{pid}/users",
]


def answers(box: Box, project: str) -> list[Any]:
    """The read API's answers with the project's own id blanked, to compare two projects."""
    pid = box.a["project_id"] if project == "a" else box.b_project
    out = []
    for path in READS:
        r = box.call("GET", path, project)
        assert r.status_code == 200, (path, r.text)
        out.append(without_ingested_at(json.loads(r.text.replace(pid, "PID"))))
    return out


def without_ingested_at(value: Any) -> Any:
    """The two projects' copies were ingested at different times: every other value must be equal."""
    if isinstance(value, dict):
        return {k: without_ingested_at(v) for k, v in value.items() if k != "ingested_at"}
    if isinstance(value, list):
        return [without_ingested_at(v) for v in value]
    return value


def wait_flushed(box: Box, project: str, spans: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = box.call("GET", "/v1/projects/{pid}/spans?limit=100", project)
        if r.status_code == 200 and len(r.json()["items"]) == spans and box.segments(project):
            return
        time.sleep(0.1)
    raise AssertionError(f"{spans} spans of {project} not flushed in time")


@pytest.fixture
def box(tmp_path: Path) -> Any:
    made = Box(tmp_path)
    yield made
    if made.server is not None and made.server.proc is not None and made.server.proc.poll() is None:
        made.server.stop()


def test_an_encrypted_project_through_the_server_with_and_without_its_key(box: Box) -> None:
    box.start({"LYNEX_ENCRYPTION_KEK_FILE": str(box.kek)})
    r = box.call("PATCH", "/api/projects/{pid}/settings", "a", json={"encryption": True})
    assert r.status_code == 200, r.text
    assert r.json()["encryption"] == {"enabled": True, "key_available": True, "error": None}
    r = box.call("PATCH", "/api/projects/{pid}/settings", "a", json={"encryption": False})
    assert r.status_code == 409 and r.json()["error"]["code"] == "encryption_irreversible"
    assert box.call("GET", "/api/projects/{pid}/settings", "b").json()["encryption"]["enabled"] is False
    audit = box.call("GET", "/api/projects/{pid}/audit", "a").json()["items"]
    assert any(e["action"] == "project.settings_changed" and "encryption" in json.dumps(e) for e in audit)

    for project in ("a", "b"):
        assert box.call("POST", "/v1/projects/{pid}/events", project, json={"events": events(30)}).status_code == 202
        wait_flushed(box, project, 30)
    expected = answers(box, "b")
    assert answers(box, "a") == expected  # the encrypted project answers exactly like the plaintext one
    for path in box.segments("a"):
        data = path.read_bytes()
        assert data.endswith(b"PARE") and SECRET.encode() not in data and b"trace_id" not in data
    assert all(p.read_bytes().endswith(b"PAR1") for p in box.segments("b"))
    export = box.call("GET", "/v1/projects/{pid}/export?format=jsonl", "a")
    assert export.status_code == 200 and export.text.count(SECRET) == 30  # an export is the decrypted data
    box.stop()

    box.start({})  # no KEK: the server starts; only the encrypted project is locked
    for path in [*READS, "/v1/projects/{pid}/export?format=jsonl"]:  # an export answers as a query does
        r = box.call("GET", path, "a")
        assert r.status_code == 503, (path, r.text)
        assert r.json()["error"]["code"] == "encryption_key_unavailable"
        assert "no key-encryption key is configured" in r.json()["error"]["message"]
    r = box.call("POST", "/v1/projects/{pid}/events", "a", json={"events": events(1)})
    assert r.status_code == 503 and r.json()["error"]["code"] == "encryption_key_unavailable"
    settings = box.call("GET", "/api/projects/{pid}/settings", "a").json()["encryption"]
    assert settings["enabled"] is True and settings["key_available"] is False
    assert answers(box, "b") == expected
    assert box.call("POST", "/v1/projects/{pid}/events", "b", json={"events": events(3)}).status_code == 202
    box.stop()

    wrong = box.tmp / "wrong.hex"
    wrong.write_text(secrets.token_bytes(32).hex())
    box.start({"LYNEX_ENCRYPTION_KEK_FILE": str(wrong)})
    r = box.call("GET", "/v1/projects/{pid}/traces", "a")
    assert r.status_code == 503 and "wrapped by another key-encryption key" in r.json()["error"]["message"]
    box.stop()

    box.start({"LYNEX_ENCRYPTION_KEK_FILE": str(box.kek)})
    assert answers(box, "a") == expected  # the right key back: everything readable again
    box.stop()


def test_a_kek_file_inside_the_data_dir_stops_the_server(box: Box) -> None:
    inside = box.data / "kek.hex"
    inside.write_text(secrets.token_bytes(32).hex())
    with pytest.raises(RuntimeError, match="inside the data directory"):
        box.start({"LYNEX_ENCRYPTION_KEK_FILE": str(inside)})


def test_the_cli_turns_encryption_on_offline_and_points_to_the_api_beside_a_server(box: Box) -> None:
    kek = box.tmp / "secrets" / "cli.hex"
    made = subprocess.run([sys.executable, "-m", "lynex_box", "encryption", "new-kek", "--out", str(kek)], check=True)
    assert made.returncode == 0 and len(kek.read_text().strip()) == 64 and kek.stat().st_mode & 0o077 == 0
    env = {**os.environ, "LYNEX_ENCRYPTION_KEK_FILE": str(kek)}
    run = [sys.executable, "-m", "lynex_box", "encryption"]
    args = ["--data-dir", str(box.data), "--json"]
    out = subprocess.run([*run, "enable", "--project", box.b_project, *args], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["changed"] is True
    status = json.loads(subprocess.run([*run, "status", *args], env=env, capture_output=True, text=True).stdout)
    enabled = {p["project_id"]: p["enabled"] for p in status["projects"]}
    assert enabled == {box.a["project_id"]: False, box.b_project: True}

    box.start({"LYNEX_ENCRYPTION_KEK_FILE": str(kek)})
    assert box.call("POST", "/v1/projects/{pid}/events", "b", json={"events": events(3)}).status_code == 202
    wait_flushed(box, "b", 3)
    assert all(p.read_bytes().endswith(b"PARE") for p in box.segments("b"))
    busy = subprocess.run([*run, "enable", "--project", box.a["project_id"], *args], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert busy.returncode != 0 and "PATCH /api/projects/{id}/settings" in busy.stderr
