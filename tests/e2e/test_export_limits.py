"""End to end: exports of a real server cost what their data costs, run on threads of their own within limits
(429 per project, a time budget), never hold up ingest, queries or login, and never keep SIGTERM from stopping it.

The ranges are the security review's: `from=1970-01-02T00:00:00Z&to=2199-12-31T00:00:00Z` with a read key.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer

WIDE = {"format": "jsonl", "from": "1970-01-02T00:00:00Z", "to": "2199-12-31T00:00:00Z"}
# One span an hour over 1500 hours: an export reads 1500 steps, seconds of work whatever the buffers between it
# and its client hold, so a test can act on a running export.
LONG_EVENTS, HOUR_MS = 1500, 3_600_000


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def make(**env: str) -> RunningServer:
        srv = RunningServer(tmp_path / f"data{len(started)}", env=env).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.kill()


def send(
    server: RunningServer,
    n: int,
    tag: str,
    size: int = 0,
    timeout: float = 30,
    step_ms: int = 1,
    offset: int = 0,
    back_ms: int = 0,
) -> httpx.Response:
    """`n` spans, the i-th starting `back_ms + (offset + i) * step_ms` before a minute ago."""
    now = time.time_ns() // 1_000_000
    events = [{"event_id": f"{tag}{i}", "trace_id": f"{tag}t{i // 3}", "type": "llm", "model": "gpt-4o",
               "start_time": now - 60_000 - back_ms - (offset + i) * step_ms, "input": "x" * size}
              for i in range(n)]  # fmt: skip
    url = f"{server.url}/v1/projects/{server.project}/events"
    return httpx.post(url, json={"events": events}, headers=server.headers(), timeout=timeout)


def fill(server: RunningServer, n: int, size: int = 0, step_ms: int = 1) -> None:
    for part in range(0, n, 1000):
        sent = send(server, min(1000, n - part), f"e{part}-", size, step_ms=step_ms, offset=part)
        assert sent.status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/v1/projects/{server.project}/spans", params={"limit": 1}, headers=server.headers())
        if r.status_code == 200 and r.json()["items"]:
            time.sleep(0.5)  # the pipeline appends a request's spans at once
            return
        time.sleep(0.1)
    raise AssertionError("the spans did not become visible")


def export_url(server: RunningServer) -> str:
    return f"{server.url}/v1/projects/{server.project}/export"


def test_three_wide_exports_at_once_finish_fast_and_hold_up_nothing(start: Callable[..., RunningServer]) -> None:
    server = start(LYNEX_API_EXPORT_WORKERS="3", LYNEX_API_EXPORT_PER_PROJECT="3")
    fill(server, 20)
    results: list[tuple[int, int, float]] = []

    def run_export() -> None:
        began = time.monotonic()
        try:
            r = httpx.get(export_url(server), params=WIDE, headers=server.headers(), timeout=60)
            results.append((r.status_code, len(r.text.splitlines()), time.monotonic() - began))
        except httpx.HTTPError:
            results.append((0, 0, time.monotonic() - began))

    exports = [threading.Thread(target=run_export) for _ in range(3)]
    for thread in exports:
        thread.start()
    time.sleep(0.5)  # the exports are under way (before the fix, for hours, holding every worker thread)
    began = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=15) as client:
        assert send(server, 3, "during", timeout=15).status_code == 202
        r = client.get(f"/v1/projects/{server.project}/traces", headers=server.headers())
        assert r.status_code == 200 and r.json()["items"]
        login = {"email": server.creds["admin_email"], "password": server.creds["admin_password"]}
        assert client.post("/api/auth/login", json=login).status_code == 200
    assert time.monotonic() - began < 15
    for thread in exports:
        thread.join(60)
    assert sorted(results)[0][0] == 200 and len(results) == 3
    for status, lines, took in results:
        assert status == 200 and lines in (20, 23) and took < 30  # 23: the spans sent meanwhile were in time


def export_busy(server: RunningServer) -> int:
    return int(httpx.get(f"{server.url}/readyz").json()["workers"]["export"]["busy"])


def test_an_export_past_the_per_project_limit_gets_429_until_the_first_ends(
    start: Callable[..., RunningServer],
) -> None:
    server = start()  # defaults: one export per project
    fill(server, LONG_EVENTS, 2000, step_ms=HOUR_MS)
    leave = threading.Event()

    def first_export() -> None:  # holds the project's export slot until it leaves
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.Client(timeout=30) as client,
            client.stream("GET", export_url(server), params=WIDE, headers=server.headers()),
        ):
            leave.wait(30)

    holder = threading.Thread(target=first_export)
    holder.start()
    try:
        deadline = time.monotonic() + 10
        while export_busy(server) == 0:
            assert time.monotonic() < deadline, "the first export did not start"
            time.sleep(0.05)
        r = httpx.get(export_url(server), params={"format": "csv"}, headers=server.headers(), timeout=30)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        error = r.json()["error"]
        assert error["code"] == "too_many_exports" and "export_per_project" in error["message"]
    finally:
        leave.set()
        holder.join(60)
    # the first client went away: its export stops and frees the slot
    deadline = time.monotonic() + 15
    while (r := httpx.get(export_url(server), params=WIDE, headers=server.headers(), timeout=120)).status_code == 429:
        assert time.monotonic() < deadline, "the slot of an export whose client went away was not freed"
        time.sleep(0.2)
    assert r.status_code == 200 and len(r.text.splitlines()) == LONG_EVENTS


def test_an_export_over_its_time_budget_stops_and_the_download_ends_incomplete(
    start: Callable[..., RunningServer],
) -> None:
    server = start(LYNEX_API_EXPORT_TIMEOUT_S="2")
    # the oldest 300 spans in one hour (3 MB: the download starts at once), then one span an hour for 1500 hours
    assert send(server, 300, "dense", 10_000, back_ms=(LONG_EVENTS + 10) * HOUR_MS).status_code == 202
    fill(server, LONG_EVENTS, 2000, step_ms=HOUR_MS)
    lines = 0
    began = time.monotonic()
    # the body ends before its end: no clean last chunk
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", export_url(server), params=WIDE,
                                                                headers=server.headers(), timeout=30) as r:  # fmt: skip
        assert r.status_code == 200
        for _line in r.iter_lines():
            lines += 1
            time.sleep(0.001)  # a slow client
    assert 0 < lines < LONG_EVENTS + 300 and time.monotonic() - began < 30
    log = server.log_path.read_text()
    assert "export stopped" in log and "export_timeout_s" in log and "Traceback" not in log


def stop_within(server: RunningServer, seconds: float) -> None:
    try:
        assert server.stop(timeout=seconds) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not stop within {seconds} s of SIGTERM: {server.log_path.read_text()[-1500:]}")


def test_sigterm_after_an_aborted_export_stops_the_server_promptly(start: Callable[..., RunningServer]) -> None:
    server = start()
    fill(server, LONG_EVENTS, 2000, step_ms=HOUR_MS)
    try:
        with httpx.stream("GET", export_url(server), params=WIDE, headers=server.headers(), timeout=3) as r:
            assert r.status_code == 200
            next(r.iter_bytes(65536))
    except httpx.ReadTimeout:  # (before the fix no byte came for hours)
        pass
    time.sleep(0.5)  # the client is gone mid-stream
    stop_within(server, 10)
    assert "stopped cleanly" in server.log_path.read_text()


def test_sigterm_with_an_export_whose_client_stopped_reading_stops_within_the_stop_timeout(
    start: Callable[..., RunningServer],
) -> None:
    server = start(LYNEX_SERVER_STOP_TIMEOUT_S="2")
    fill(server, LONG_EVENTS, 2000, step_ms=HOUR_MS)
    with httpx.Client(timeout=30) as client, client.stream("GET", export_url(server), params=WIDE,
                                                            headers=server.headers()) as held:  # fmt: skip
        body = held.iter_bytes(65536)  # kept: a dropped iterator closes the response
        next(body)  # then connected, not reading
        stop_within(server, 15)
    log = server.log_path.read_text()
    assert "the server is stopping" in log and "stopped cleanly" in log  # the head was still flushed


def test_readyz_says_saturated_while_every_query_worker_is_busy(start: Callable[..., RunningServer]) -> None:
    server = start(LYNEX_QUERY_WORKERS="1", LYNEX_QUERY_SATURATED_AFTER_S="0.3")
    fill(server, 2000)
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["workers"]["query"]["workers"] == 1
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, headers=server.headers(), timeout=30) as client:
            while not stop.is_set():
                client.get(f"/v1/projects/{server.project}/traces", params={"limit": 500})

    load = [threading.Thread(target=hammer) for _ in range(12)]
    for thread in load:
        thread.start()
    seen: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen:
            r = httpx.get(f"{server.url}/readyz", timeout=10)
            if r.status_code == 503:
                seen = {"body": r.json(), "retry": r.headers.get("retry-after")}
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in load:
            thread.join(30)
    assert seen, "readyz never said the query workers were saturated"
    assert seen["body"]["error"]["code"] == "saturated" and "query workers" in seen["body"]["error"]["message"]
    assert seen["retry"] is not None
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "readyz stayed saturated after the load ended"
        time.sleep(0.1)
