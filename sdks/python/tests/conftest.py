"""Fixtures of the SDK's tests: one real Lynex Box server for the session (the e2e suite's `RunningServer`), a
reader of its query API, and clients of it that are shut down after each test.

Run from the repository root (`python -m pytest sdks/python/tests`, or the whole suite): the root is put on
`sys.path` so `tests.e2e.server` imports whatever the current directory is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import lynex  # noqa: E402

from tests.e2e.server import RunningServer  # noqa: E402

SDK_SRC = ROOT / "sdks" / "python" / "src"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path_factory.mktemp("sdk") / "data").start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


class Api:
    """Reads the server back through its public query API."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=f"{server.url}/v1/projects/{server.project}", headers=server.headers())

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/traces/{trace_id}")
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        return list(response.json()["spans"])

    def wait_spans(self, trace_id: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The trace's spans once there are at least `count` (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(trace_id)
            if len(spans) >= count or time.monotonic() > deadline:
                assert len(spans) >= count, f"{len(spans)} of {count} spans of trace {trace_id} arrived"
                return spans
            time.sleep(0.1)

    def scores(self, trace_id: str) -> list[dict[str, Any]]:
        return list(self.get("/scores", trace_id=trace_id)["items"])


@pytest.fixture
def api(server: RunningServer) -> Iterator[Api]:
    reader = Api(server)
    yield reader
    reader.http.close()


@pytest.fixture
def make_client(server: RunningServer) -> Iterator[Callable[..., lynex.Lynex]]:
    """Build clients of the session's server (keywords override); each is shut down after the test."""
    made: list[lynex.Lynex] = []

    def make(**kwargs: Any) -> lynex.Lynex:
        options: dict[str, Any] = {
            "api_key": server.creds["api_key"],
            "base_url": server.url,
            "project_id": server.project,
            "flush_interval": 0.1,
        }
        client = lynex.Lynex(**(options | kwargs))
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(timeout=5)
