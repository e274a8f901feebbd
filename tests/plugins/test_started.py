"""`lynex_started(context)` on the real host: each in-process plugin gets the context narrowed to its own
directory; one whose start raises is reported as failed and gets no more topics, the others go on."""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path
from typing import Any

from lynex_box.config import PluginsSettings
from lynex_box.plugins.context import PluginContext
from lynex_box.plugins.hookspecs import hookimpl
from lynex_box.plugins.host import PluginHost


class Recorder:
    def __init__(self) -> None:
        self.context: PluginContext | None = None
        self.events: list[dict[str, Any]] = []

    @hookimpl
    def lynex_started(self, context: PluginContext) -> None:
        self.context = context

    @hookimpl
    def lynex_key_created(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class FailingStart(Recorder):
    @hookimpl
    def lynex_started(self, context: PluginContext) -> None:
        raise RuntimeError("no token configured")


good, bad = Recorder(), FailingStart()


def test_each_plugin_gets_its_own_directory_and_a_failing_start_is_reported(tmp_path: Path) -> None:
    host = PluginHost(PluginsSettings(enabled=("good", "bad")))
    eps = importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(name, f"{__name__}:{name}", "lynex_box.plugins") for name in ("good", "bad")
    )
    host.load(eps)
    try:
        host.started(PluginContext(node_id="n1", data_dir=tmp_path))
        assert good.context == PluginContext(node_id="n1", data_dir=tmp_path / "plugins" / "good")
        status = {p["name"]: p for p in host.status()}
        assert status["good"]["state"] == "loaded"
        assert status["bad"]["state"] == "failed"
        assert "lynex_started raised RuntimeError: no token configured" in status["bad"]["error"]
        host.emit("key_created", {"n": 1})
        deadline = time.monotonic() + 10
        while not good.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert good.events == [{"n": 1}]
        assert bad.events == []  # unsubscribed with its failed start
    finally:
        host.close()
