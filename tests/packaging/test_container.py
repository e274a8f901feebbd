"""The container image for real (marked `container`, deselected by default; about 5 minutes cold, 2 warm): build
packaging/Dockerfile with podman, start it with a volume, ingest, stop it with SIGTERM (a clean stop within the
grace period), start it again on the same volume and read the data back; then once more with a mounted lynex.toml.

No image registry is reachable here, so the base is made locally: Debian trixie minbase with python3 by debootstrap
from Debian's packages, given the host's CA bundle (the build's pip reaches the package index through the same
network as the host), then `podman import` (kept as localhost/lynex-box-base:trixie for later runs). Set
LYNEX_TEST_BASE_IMAGE to build on another base instead, e.g. the official python:3.13-slim where a registry is
reachable. The containers use the host's network and listen on 127.0.0.1 only.

podman runs rootful with runc, no default ulimits, cgroupfs and a file event log (CONTAINERS_CONF below): on this
kind of machine crun cannot set RLIMIT_NOFILE (no CAP_SYS_RESOURCE) and there is no systemd. Without podman,
debootstrap or runc the test skips and says which to install; if a container cannot start at all, it skips with
podman's own error.

    apt-get install -y podman buildah debootstrap runc
    python -m pytest -q -m container tests/packaging/test_container.py
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import free_port
from tests.packaging.appliance import read_trace, send_trace, wait_ready

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
BASE_TAG = "localhost/lynex-box-base:trixie"
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""
MAX_IMAGE_MB = 700  # measured 2026-12: 586 MB on the debootstrap base (121 MB of it the base)


class Podman:
    def __init__(self, conf: Path) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["podman", *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
        return done


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    missing = [tool for tool in ("podman", "debootstrap", "runc") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: apt-get install -y podman buildah debootstrap runc")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return Podman(conf)


def make_base(podman: Podman, work: Path) -> str:
    """Debian trixie minbase + python3 by debootstrap, imported as BASE_TAG (reused when it exists)."""
    if podman("image", "exists", BASE_TAG, check=False).returncode == 0:
        return BASE_TAG
    rootfs = work / "rootfs"
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", "trixie",
         str(rootfs), "http://deb.debian.org/debian"],
        check=True, capture_output=True, timeout=1200,
    )  # fmt: skip
    # the host's trust store, so the build's pip trusts what the host's does
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
        shutil.rmtree(rootfs / cache, ignore_errors=True)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    podman_import = subprocess.run(
        ["podman", "import", "-", BASE_TAG], stdin=tar.stdout, capture_output=True, text=True, env=podman.env
    )
    assert tar.stdout is not None
    tar.stdout.close()
    tar.wait()
    assert podman_import.returncode == 0, podman_import.stderr
    shutil.rmtree(rootfs)
    return BASE_TAG


@pytest.fixture(scope="module")
def image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("LYNEX_TEST_BASE_IMAGE") or make_base(podman, tmp_path_factory.mktemp("base"))
    probe = podman("run", "--rm", "--network", "host", base, "python3", "--version", check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container here: {probe.stderr.strip()[-500:]}")
    tag = f"localhost/lynex-box:test-{secrets.token_hex(4)}"
    podman(
        "build", "--format", "docker", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
        "-f", str(ROOT / "packaging" / "Dockerfile"), "-t", tag, str(ROOT),
        timeout=1200,
    )  # fmt: skip
    size_mb = int(podman("image", "inspect", tag, "--format", "{{.Size}}").stdout) // 10**6
    print(f"\nimage {tag} on {base}: {size_mb} MB")
    assert size_mb <= MAX_IMAGE_MB
    yield tag
    podman("rmi", "--force", tag, check=False)


class Container:
    """One `podman run -d` of the image on the host's network, listening on 127.0.0.1:port."""

    def __init__(self, podman: Podman, image: str, volume: str, *extra: str) -> None:
        self.podman = podman
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.id = podman(
            "run", "-d", "--network", "host", "-v", f"{volume}:/data",
            "-e", "LYNEX_SERVER_HOST=127.0.0.1", "-e", f"LYNEX_SERVER_PORT={self.port}", *extra, image,
        ).stdout.strip()  # fmt: skip

    def logs(self) -> str:
        done = self.podman("logs", self.id, check=False)
        return done.stdout + done.stderr

    def alive(self) -> None:
        state = self.podman("inspect", self.id, "--format", "{{.State.Running}}").stdout.strip()
        assert state == "true", self.logs()[-3000:]

    def stop(self) -> tuple[int, float]:
        """`podman stop -t 30` (SIGTERM, SIGKILL after 30 s): the exit code and the seconds the stop took."""
        started = time.monotonic()
        self.podman("stop", "-t", "30", self.id, timeout=60)
        took = time.monotonic() - started
        return int(self.podman("inspect", self.id, "--format", "{{.State.ExitCode}}").stdout), took

    def remove(self) -> None:
        self.podman("rm", "--force", self.id, check=False)


@pytest.fixture
def volume(podman: Podman) -> Iterator[str]:
    name = f"lynex-test-{secrets.token_hex(4)}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


def test_the_image_ingests_stops_cleanly_on_sigterm_and_keeps_its_data_in_the_volume(
    podman: Podman, image: str, volume: str, tmp_path: Path
) -> None:
    first = Container(podman, image, volume)
    try:
        wait_ready(first.url, alive=first.alive)
        creds = json.loads(first.logs().splitlines()[0])
        saved = podman("exec", first.id, "cat", "/data/first-start-credentials.json").stdout
        assert json.loads(saved) == creds
        assert podman("exec", first.id, "id", "-u").stdout.strip() == "10001"
        trace_id = send_trace(first.url, creds)
        assert read_trace(first.url, creds, trace_id) == ["chat", "packaged"]
        assert podman("healthcheck", "run", first.id, check=False).returncode == 0, "HEALTHCHECK on /readyz"
        code, took = first.stop()
        assert code == 0 and took < 20, (code, took, first.logs()[-2000:])
        assert "stopped cleanly" in first.logs()
    finally:
        first.remove()
    # the stop flushed the head: the trace is in a Parquet segment in the volume, not only in the WAL
    found = podman(
        "run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "find", image, "/data/segments", "-name", "*.parquet"
    )
    assert found.stdout.split(), "no segment written at the stop"

    # the same volume in a new container, with a mounted lynex.toml named by LYNEX_CONFIG, and locked down as the
    # Helm chart runs it: read-only root filesystem (a tmpfs on /tmp), no capabilities, no privilege escalation
    config = tmp_path / "lynex.toml"
    config.write_text('[server]\npublic_url = "https://lynex.example.test"\n')
    config.chmod(0o644)
    second = Container(
        podman, image, volume,
        "-v", f"{config}:/etc/lynex-box/lynex.toml:ro", "-e", "LYNEX_CONFIG=/etc/lynex-box/lynex.toml",
        "--read-only", "--cap-drop=all", "--security-opt=no-new-privileges",
    )  # fmt: skip
    try:
        wait_ready(second.url, alive=second.alive)
        assert read_trace(second.url, creds, trace_id) == ["chat", "packaged"]
        logs = second.logs()
        assert "https://lynex.example.test/" in logs and "First start" not in logs
        code, _ = second.stop()
        assert code == 0
    finally:
        second.remove()
