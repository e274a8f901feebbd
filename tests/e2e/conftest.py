from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import RunningServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(tmp_path / "data").start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()
