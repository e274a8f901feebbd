"""Fixtures for the object store tests: a real moto S3 server on 127.0.0.1 and one store per implementation."""

from __future__ import annotations

import itertools
import os
import select
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lynex_box.objstore import (
    LocalStore,
    MemoryStore,
    MetricsStore,
    ObjectStore,
    PrefixedStore,
    RetryingStore,
    S3Settings,
    S3Store,
)

STARTUP_TIMEOUT_S = 30.0
MOTO_SCRIPT = Path(__file__).with_name("moto_server.py")
_bucket_numbers = itertools.count()


def free_port() -> int:
    """A port nothing listens on right now, found by binding port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    return free_port()


@dataclass(frozen=True)
class MotoServer:
    endpoint: str

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def settings(self, bucket: str, *, prefix: str = "") -> S3Settings:
        return S3Settings(
            bucket=bucket,
            endpoint=self.endpoint,
            region="us-east-1",
            prefix=prefix,
            path_style=True,
            access_key_id="testing",
            secret_access_key="testing",
            allow_http=True,
            timeout_s=10.0,
            retries=2,
        )


def _start_moto(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start moto_server.py and wait for the port it prints once its socket listens."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(MOTO_SCRIPT)], stdout=subprocess.PIPE, stderr=log, cwd=MOTO_SCRIPT.parent
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_S)
    line = process.stdout.readline() if ready else b""
    process.stdout.close()
    if not line.strip().isdigit():
        process.kill()
        process.wait()
        raise RuntimeError(f"moto server did not start within {STARTUP_TIMEOUT_S} s; see {log_path}")
    return process, f"http://127.0.0.1:{int(line)}"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A real moto S3 server on 127.0.0.1 for the whole session, stopped at the end."""
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    process, endpoint = _start_moto(log_path)
    try:
        yield MotoServer(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    """A fresh, empty bucket for each test."""
    name = f"test-{os.getpid()}-{next(_bucket_numbers)}"
    moto_server.create_bucket(name)
    return name


def _wrapped_s3(server: MotoServer, bucket: str) -> ObjectStore:
    inner = S3Store(server.settings(bucket, prefix="deploy/one"))
    return PrefixedStore(RetryingStore(MetricsStore(inner), attempts=3, base_delay=0.01, max_delay=0.05), "tenant")


STORE_KINDS = ["memory", "local", "s3", "s3-wrapped"]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each implementation of the contract, empty."""
    kind: str = request.param
    factories: dict[str, Callable[[], ObjectStore]] = {
        "memory": MemoryStore,
        "local": lambda: LocalStore(tmp_path / "store"),
        "s3": lambda: S3Store(request.getfixturevalue("moto_server").settings(request.getfixturevalue("bucket"))),
        "s3-wrapped": lambda: _wrapped_s3(request.getfixturevalue("moto_server"), request.getfixturevalue("bucket")),
    }
    return factories[kind]()
