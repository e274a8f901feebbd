"""Helpers for the lifecycle tests: an engine on a tmp data dir, spans at chosen ages, and bucket settings
(a directory standing in for the bucket, the real moto S3 server of tests/objstore, or one that a test kills and
starts again on the same port)."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from lynex_box.config import Settings, load_settings
from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope
from lynex_box.wal.records import RecordHeader, RecordType
from tests.objstore.conftest import MotoServer, bucket, free_port, moto_server  # noqa: F401 - fixtures reused here

DAY_MS = 86_400_000
ROWS = "SELECT event_id, trace_id, session_id, user_id, model, input_tokens, start_time FROM spans ORDER BY event_id"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def settings_for(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {"server": {"data_dir": str(data_dir)}, **sections}
    overrides.setdefault("lifecycle", {})
    overrides["lifecycle"] = {"grace_period_s": 0.0, "disk_pressure_free_bytes": 0, **overrides["lifecycle"]}
    overrides.setdefault("ingest", {"min_free_disk_bytes": 0})
    return load_settings(env={}, overrides=overrides)


def directory_bucket(path: Path) -> dict[str, Any]:
    return {"type": "directory", "directory": str(path)}


def s3_bucket(server: MotoServer, name: str) -> dict[str, Any]:
    return {
        "type": "s3",
        "bucket": name,
        "endpoint": server.endpoint,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "allow_http": True,
        "timeout_s": 2.0,
        "retries": 1,
    }


def events(tag: str, n: int, start_ms: int, *, users: int = 3, sessions: int = 4, step_ms: int = 1000) -> bytes:
    return orjson.dumps(
        {
            "events": [
                {
                    "event_id": f"{tag}-{i}",
                    "trace_id": f"{tag}-t{i // 5}",
                    "span_id": f"s{i}",
                    "name": "chat",
                    "type": "llm",
                    "model": "gpt-4o",
                    "start_time": start_ms + i * step_ms,
                    "end_time": start_ms + i * step_ms + 200,
                    "usage": {"input_tokens": 10 + i, "output_tokens": 3},
                    "session_id": f"sess-{i % sessions}",
                    "user_id": f"user-{i % users}",
                    "tags": ["even", tag] if i % 2 == 0 else [],
                    "input": [{"role": "user", "content": f"question {tag} {i}"}],
                }
                for i in range(n)
            ]
        }
    )


def ingest(engine: Engine, project: str, body: bytes) -> None:
    engine.append(RecordType.EVENTS, RecordHeader(project, time.time_ns() // 1000, "sdk"), body)


def add_segment(engine: Engine, project: str, tag: str, n: int, start_ms: int, **kw: Any) -> None:
    """Ingest `n` spans and flush them into a segment of their own."""
    ingest(engine, project, events(tag, n, start_ms, **kw))
    engine.flush()


def rows(engine: Engine, project: str = "p1", sql: str = ROWS, dedupe: bool = True) -> list[dict[str, Any]]:
    return engine.query.run(SpanScope(project), sql, dedupe=dedupe).to_pylist()


def parquet_values(paths: list[Path], column: str) -> list[Any]:
    """Read a column straight from Parquet files (not through the query engine)."""
    out: list[Any] = []
    for path in paths:
        out += pq.read_table(path, columns=[column]).column(0).to_pylist()
    return out


@pytest.fixture
def open_engine(tmp_path: Path) -> Iterator[Any]:
    """`open_engine(**sections)` opens an engine on tmp_path/data; every engine opened is closed at the end."""
    opened: list[Engine] = []

    def make(data_dir: Path | None = None, **sections: dict[str, Any]) -> Engine:
        engine = Engine.open(settings_for(data_dir or tmp_path / "data", **sections))
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def restartable_moto(tmp_path: Path) -> Iterator[Any]:
    """`start(state=None)` runs a moto server on this test's port, `stop()` SIGKILLs the newest one. With a state
    file the buckets survive the kill, as on a real store (moto_on_port.py); without, a restart comes back empty."""
    script = Path(__file__).with_name("moto_on_port.py")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start(state: Path | None = None) -> MotoServer:
        log = open(tmp_path / "moto.log", "ab")  # noqa: SIM115 - owned by the process
        args = [sys.executable, str(script), str(port), *([str(state)] if state else [])]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        log.close()
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.readline().strip() == str(port).encode()
        proc.stdout.close()
        procs.append(proc)
        return MotoServer(f"http://127.0.0.1:{port}")

    def stop() -> None:
        proc = procs.pop()
        proc.kill()
        proc.wait(timeout=10)

    yield start, stop
    while procs:
        stop()
