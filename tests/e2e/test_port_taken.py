"""A port another process listens on is refused at start (lynex_box/server.py `claim_port`).

granian binds with SO_REUSEPORT: without the check, a second server started on a taken port (another appliance, or
a test server whose free port another run took first) starts without a word, and the kernel splits new connections
between the two. Clients of the first then get the second's answers, and when the second stops, a request in flight
on a connection it had ends in "Server disconnected without sending a response" with nothing in the first's log: the
symptom of the authorisation matrix's CI failure (docs/testing.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import PORT_TAKEN, PortTaken, RunningServer


def test_a_second_server_on_a_taken_port_refuses_to_start_and_the_first_keeps_every_connection(tmp_path: Path) -> None:
    first = RunningServer(tmp_path / "first").start()
    try:
        second = RunningServer(tmp_path / "second")
        second.port = first.port
        with pytest.raises(PortTaken, match=f"server.port = {first.port} on 127.0.0.1 {PORT_TAKEN}"):
            second._start(timeout=30)  # the one attempt, without the fixture's retry on another port
        second._close()
        assert second.proc is not None and second.proc.returncode == 1
        assert not (tmp_path / "second").exists(), "the refused start created its data dir"
        for _ in range(30):  # every new connection reaches the first server (its key is valid on no other)
            with httpx.Client(base_url=first.url, timeout=30) as client:
                r = client.get(f"/v1/projects/{first.project}/traces", headers=first.headers())
                assert r.status_code == 200, r.text
        # the fixture itself recovers: a server whose port was taken starts again on another one
        third = RunningServer(tmp_path / "third")
        third.port = first.port
        third.start()
        assert third.port != first.port and httpx.get(f"{third.url}/readyz").status_code == 200
        third.stop()
    finally:
        first.stop()


def test_the_refusal_names_the_setting_and_a_hint(tmp_path: Path) -> None:
    first = RunningServer(tmp_path / "first").start()
    try:
        cmd = [
            sys.executable,
            "-m",
            "lynex_box",
            "run",
            "--data-dir",
            str(tmp_path / "other"),
            "--port",
            str(first.port),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert f"server.port = {first.port}" in out.stderr and "hint:" in out.stderr, out.stderr
    finally:
        first.stop()
