"""Out-of-process plugins ([plugins] out_of_process) on the real host with real worker processes: calls reach the
plugin in its own process with its table; a worker that crashes or hangs is killed, counted and restarted with
backoff, and the host goes on; a plugin that refuses its table fails with its own message."""

from __future__ import annotations

import importlib.metadata
import os
import time
from pathlib import Path
from typing import Any

from lynex_box.config import PluginsSettings
from lynex_box.plugins.host import PluginHost

MODULE = "tests.plugins.worker_plugins"


def _host(plugins: dict[str, str], **settings: Any) -> PluginHost:
    names = tuple(plugins)
    host = PluginHost(PluginsSettings(enabled=names, out_of_process=names, restart_backoff_s=0.05, **settings))
    eps = importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(name, f"{MODULE}:{attr}", "lynex_box.plugins") for name, attr in plugins.items()
    )
    host.load(eps)
    return host


def _status(host: PluginHost, name: str) -> dict[str, Any]:
    [found] = [p for p in host.status() if p["name"] == name]
    return found


def _until(check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_calls_run_in_the_workers_process_with_its_table(tmp_path: Path) -> None:
    out = tmp_path / "calls.txt"
    host = _host({"writer": "writer"}, configs={"writer": {"path": str(out)}})
    try:
        status = _status(host, "writer")
        assert (status["state"], status["isolation"], status["hooks"]) == ("loaded", "process", ["lynex_key_created"])
        pid = status["process"]["pid"]
        assert pid and pid != os.getpid()
        for n in range(3):
            host.emit("key_created", {"n": n})
        _until(lambda: _status(host, "writer")["delivered"] == 3)
        assert out.read_text().splitlines() == [f"{pid} {n}" for n in range(3)]
    finally:
        host.close()
    assert _status(host, "writer")["process"]["pid"] is None  # stopped with the host


def test_a_crashing_worker_is_counted_and_restarted_with_backoff() -> None:
    host = _host({"crash": "crash"}, rate_per_s=0.0)
    try:
        for n in range(4):
            host.emit("key_created", {"n": n})
            time.sleep(0.3)  # past the backoff: each call meets a new worker
        _until(lambda: _status(host, "crash")["errors"] == 4)
        status = _status(host, "crash")
        assert status["process"]["restarts"] >= 2  # the backoff doubles: a later call may meet it (an error too)
        assert (
            "exit code 3" in status["subscriptions"][0]["last_error"]
            or "restarting in" in status["subscriptions"][0]["last_error"]
        )
    finally:
        host.close()


def test_a_hung_call_kills_its_worker_and_counts_a_timeout() -> None:
    host = _host({"hang": "hang"}, call_timeout_s=0.3, rate_per_s=0.0)
    try:
        first = _status(host, "hang")["process"]["pid"]
        host.emit("key_created", {"n": 1})
        _until(lambda: _status(host, "hang")["timeouts"] == 1)
        assert _status(host, "hang")["process"]["pid"] is None  # killed, not left running
        time.sleep(0.1)
        host.emit("key_created", {"n": 2})
        _until(lambda: _status(host, "hang")["timeouts"] == 2)
        assert _status(host, "hang")["process"]["restarts"] == 1 and first is not None
    finally:
        host.close()


def test_a_plugin_refusing_its_table_fails_with_its_message() -> None:
    host = _host({"refusing": "refusing"})
    try:
        status = _status(host, "refusing")
        assert status["state"] == "failed" and "path is required" in status["error"]
    finally:
        host.close()
