"""Request bodies that arrive slowly, stop, or never finish, against the real server over raw sockets.

One server with short limits set through `LYNEX_SERVER_*` (a body must arrive within 1.5 s plus 1 s per KiB, with no
pause over 1 s; at most 3 bodies in flight per address) and debug logs, so each case takes about a second.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer

LIMITS = {
    "LYNEX_SERVER_BODY_TIMEOUT_S": "1.5",
    "LYNEX_SERVER_BODY_IDLE_TIMEOUT_S": "1.0",
    "LYNEX_SERVER_BODY_MIN_BYTES_PER_S": "1024",
    "LYNEX_SERVER_MAX_BODIES_PER_CLIENT": "3",
    "LYNEX_SERVER_LOG_LEVEL": "debug",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path_factory.mktemp("slow") / "data", env=LIMITS).start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def _open_upload(server: RunningServer, length: int, first: bytes = b"") -> socket.socket:
    """A POST of native events whose headers promise `length` body bytes, of which `first` is sent."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    head = (
        f"POST /v1/projects/{server.project}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.creds['api_key']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + first)
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of the one response on `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def _closed_by_server(sock: socket.socket, within_s: float = 10.0) -> bool:
    """True when the server closes the connection (EOF or reset) within `within_s`."""
    sock.settimeout(within_s)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _events(n: int, tag: str, pad: int = 0) -> bytes:
    events = [{"name": f"{tag}-{i}", "trace_id": f"{tag}-{i}", "input": "x" * pad} for i in range(n)]
    return json.dumps({"events": events}).encode()


def _log_lines(server: RunningServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]


def _still_serves(server: RunningServer, tag: str) -> None:
    resp = httpx.post(
        f"{server.url}/v1/projects/{server.project}/events", content=_events(2, tag), headers=server.headers()
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == 2


def test_a_client_gone_mid_upload_is_one_debug_line_not_a_traceback(server: RunningServer) -> None:
    body = _events(2000, "gone")
    for _ in range(10):
        sock = _open_upload(server, len(body), body[: len(body) // 2])
        time.sleep(0.05)
        sock.close()
    deadline = time.monotonic() + 10
    gone: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(gone) < 10:
        time.sleep(0.1)
        gone = [e for e in _log_lines(server) if "disconnected" in e["msg"] or "unhandled" in e["msg"]]
    text = server.log_path.read_text()
    assert "Traceback" not in text and "unhandled error" not in text
    assert not [e for e in _log_lines(server) if e["level"] in ("error", "critical")]
    assert len(gone) == 10 and {e["level"] for e in gone} == {"debug"}
    assert all(e["msg"].startswith("client disconnected before its body was read") for e in gone)
    _still_serves(server, "after-gone")


def test_a_trickling_body_gets_408_and_its_connection_closed(server: RunningServer) -> None:
    body = _events(20, "trickle")
    sock = _open_upload(server, len(body))
    started = time.monotonic()
    sent = 0
    sock.settimeout(0.3)
    status = 0
    while time.monotonic() - started < 15:  # a byte every 0.3 s: never idle for 1 s, always too slow overall
        try:
            sock.sendall(body[sent : sent + 1])
            sent += 1
            status, headers, error = _response(sock)
            break
        except TimeoutError:
            continue
    elapsed = time.monotonic() - started
    assert status == 408, status
    assert error["error"]["code"] == "body_timeout" and "body_timeout_s" in error["error"]["message"]
    assert headers.get("connection") == "close"
    assert 1.0 < elapsed < 10, elapsed
    assert _closed_by_server(sock)
    sock.close()
    _still_serves(server, "after-trickle")


def test_a_stalled_body_gets_408(server: RunningServer) -> None:
    body = _events(20, "stall")
    sock = _open_upload(server, len(body), body[:10])
    started = time.monotonic()
    status, _, error = _response(sock)
    assert status == 408 and error["error"]["code"] == "body_timeout"
    assert 0.5 < time.monotonic() - started < 10
    sock.close()
    _still_serves(server, "after-stall")


def test_uploads_over_the_per_address_cap_get_429_with_retry_after(server: RunningServer) -> None:
    body = _events(20, "cap")
    held = [_open_upload(server, len(body), body[:5]) for _ in range(3)]
    try:
        time.sleep(0.2)  # the three have reached the app: their bodies are in flight
        extra = _open_upload(server, len(body), body)
        status, headers, error = _response(extra)
        extra.close()
        assert status == 429 and error["error"]["code"] == "too_many_uploads"
        assert int(headers["retry-after"]) >= 1
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # no body: never capped
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)  # the hung-up uploads leave the count
    _still_serves(server, "after-cap")


def test_a_large_upload_at_a_steady_rate_outlives_the_base_timeout(server: RunningServer) -> None:
    body = _events(10_000, "large", pad=150)  # about 2 MB: at 1 KiB per extra second it may take half an hour
    assert len(body) > 1_500_000
    sock = _open_upload(server, len(body))
    started = time.monotonic()
    step = len(body) // 20
    for offset in range(0, len(body), step):
        sock.sendall(body[offset : offset + step])
        time.sleep(0.15)  # 3 s in all: twice body_timeout_s, and no pause near body_idle_timeout_s
    status, _, answer = _response(sock)
    sock.close()
    assert time.monotonic() - started > 2.0
    assert status == 202 and answer["accepted"] == 10_000


def test_limits_are_settings(tmp_path: Path) -> None:
    from lynex_box.config import load_settings

    server = load_settings(env=LIMITS).server
    assert (server.body_timeout_s, server.body_idle_timeout_s, server.max_bodies_per_client) == (1.5, 1.0, 3)
    defaults = load_settings(env={}).server
    assert defaults.body_timeout_s >= 60 and defaults.body_idle_timeout_s >= 30 and defaults.max_bodies_per_client >= 64
