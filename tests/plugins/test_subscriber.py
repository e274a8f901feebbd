"""A topic subscription's isolation, on the real plugin host with real plugin objects: `emit` never waits, a full
queue drops its oldest events and counts them, a slow call is timed out and counted, errors are counted with the
last one kept, the rate limit spaces calls, and a hook no hookspec declares fails its plugin, not the host."""

from __future__ import annotations

import importlib.metadata
import threading
import time
from typing import Any

from lynex_box.config import PluginsSettings
from lynex_box.plugins.hookspecs import hookimpl
from lynex_box.plugins.host import PluginHost


class Recorder:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.got: list[dict[str, Any]] = []
        self.gate, self.fail = gate, fail

    @hookimpl
    def lynex_key_created(self, event: dict[str, Any]) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise ValueError(f"bad event {event['n']}")
        self.got.append(event)


class Stray:
    @hookimpl
    def lynex_not_a_hook(self, event: dict[str, Any]) -> None:
        pass


def _host(plugins: dict[str, object], **limits: Any) -> PluginHost:
    """A host with `plugins` as entry points of a module this test names (`ep.load()` imports this module)."""
    host = PluginHost(PluginsSettings(enabled=tuple(plugins), **limits))
    globals().update({f"_plugin_{name}": obj for name, obj in plugins.items()})
    eps = importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(name, f"{__name__}:_plugin_{name}", "lynex_box.plugins") for name in plugins
    )
    host.load(eps)
    return host


def _status(host: PluginHost, name: str) -> dict[str, Any]:
    [found] = [p for p in host.status() if p["name"] == name]
    return found


def _until(check: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_full_queue_drops_the_oldest_and_emit_never_waits() -> None:
    gate = threading.Event()
    plugin = Recorder(gate)
    host = _host({"rec": plugin}, queue_size=3, rate_per_s=0.0)
    try:
        started = time.monotonic()
        for n in range(10):
            host.emit("key_created", {"n": n})
        assert time.monotonic() - started < 0.5  # the hook is blocked on the gate; emit is not
        gate.set()
        _until(lambda: _status(host, "rec")["delivered"] + _status(host, "rec")["dropped"] == 10)
        kept = [e["n"] for e in plugin.got]
        assert kept[-3:] == [7, 8, 9] and _status(host, "rec")["dropped"] == 10 - len(kept)
    finally:
        host.close()


def test_slow_calls_time_out_and_errors_are_counted() -> None:
    slow = Recorder(threading.Event())  # never set: every call hangs until the test ends
    failing = Recorder(fail=True)
    host = _host({"slow": slow, "failing": failing}, call_timeout_s=0.1, max_stuck_calls=1, rate_per_s=0.0)
    try:
        for n in range(3):
            host.emit("key_created", {"n": n})
        _until(lambda: _status(host, "failing")["errors"] == 3)
        _until(lambda: _status(host, "slow")["timeouts"] == 1)
        assert _status(host, "failing")["subscriptions"][0]["last_error"] == "ValueError: bad event 2"
        time.sleep(0.3)
        assert _status(host, "slow")["timeouts"] == 1  # one stuck call: the next ones wait for it
    finally:
        assert slow.gate is not None
        slow.gate.set()
        host.close()


def test_the_rate_limit_spaces_calls() -> None:
    plugin = Recorder()
    host = _host({"rec": plugin}, rate_per_s=20.0, rate_burst=1)
    try:
        started = time.monotonic()
        for n in range(6):
            host.emit("key_created", {"n": n})
        _until(lambda: len(plugin.got) == 6)
        assert time.monotonic() - started >= 0.2  # 5 calls after the burst at 20/s: at least 0.25 s
    finally:
        host.close()


def test_an_undeclared_hook_fails_its_plugin_only() -> None:
    good = Recorder()
    host = _host({"stray": Stray(), "good": good})
    try:
        assert _status(host, "stray")["state"] == "failed"
        assert "lynex_not_a_hook" in _status(host, "stray")["error"]
        host.emit("key_created", {"n": 1})
        _until(lambda: len(good.got) == 1)
    finally:
        host.close()
