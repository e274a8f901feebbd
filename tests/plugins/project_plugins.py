"""Test plugins for the per-project plugin tests (tests/plugins/test_project_plugins_e2e.py, tests/ui/test_plugins.py):
a package installed only for their servers, a `.dist-info` with its entry points on the servers' PYTHONPATH."""

from __future__ import annotations

import os
from pathlib import Path

TEST_PLUGINS = """
import json
import urllib.request
from lynex_box.plugins.hookspecs import hookimpl

class Recorder:
    lynex_per_project = True  # declared by the plugin itself
    lynex_secret_keys = ("signing",)  # a name that does not say it is secret

    @hookimpl
    def lynex_key_created(self, event):
        self._post(event, "key_created")

    @hookimpl
    def lynex_span_batch_stored(self, event):
        self._post(event, "span_batch_stored")

    def _post(self, event, topic):
        body = json.dumps({"topic": topic, "event": event}).encode()
        request = urllib.request.Request(event["config"]["url"], data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).read()

class Failing:  # per project through [plugins] per_project
    @hookimpl
    def lynex_key_created(self, event):
        raise RuntimeError("failing on purpose for " + event["project_id"])

class Everywhere:  # for the whole instance
    @hookimpl
    def lynex_key_created(self, event):
        pass

recorder, failing, everywhere = Recorder(), Failing(), Everywhere()
"""
ENTRY_POINTS = """[lynex_box.plugins]
pp-recorder = lynex_pp_plugins:recorder
pp-failing = lynex_pp_plugins:failing
pp-global = lynex_pp_plugins:everywhere
"""
CONFIG = """
[plugins]
enabled = ["pp-recorder", "pp-failing", "pp-global"]
per_project = ["pp-failing"]
max_project_config_bytes = 400
project_reload_s = 0.5
"""
SIGNING = "sig-value-of-project-a"
MASK = "********"


def install(root: Path) -> Path:
    root.mkdir()
    (root / "lynex_pp_plugins.py").write_text(TEST_PLUGINS)
    info = root / "lynex_pp_plugins-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lynex-pp-plugins\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


def server_env(root: Path) -> dict[str, str]:
    """The environment of a server (and of the CLI) with the test plugins installed and CONFIG as lynex.toml."""
    config = root / "lynex.toml"
    config.write_text(CONFIG)
    pythonpath = os.pathsep.join([str(install(root / "site")), os.environ.get("PYTHONPATH", "")])
    return {"LYNEX_CONFIG": str(config), "PYTHONPATH": pythonpath}
