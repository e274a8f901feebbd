"""The host's per-project delivery: a per-project plugin (declared by itself or by `[plugins] per_project`) gets
only the events of projects in its map, as a copy with that project's `config`; the shared event is never changed;
an instance-wide plugin gets every event; the counters of one project never show another's."""

from __future__ import annotations

import importlib.metadata
import time
from typing import Any

from lynex_box.config import PluginsSettings
from lynex_box.plugins.hookspecs import hookimpl
from lynex_box.plugins.host import PluginHost


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    @hookimpl
    def lynex_key_created(self, event: dict[str, Any]) -> None:
        if event.get("project_id") == "p-fail":
            raise ValueError("refused for p-fail")
        self.events.append(event)


class Declared(Recorder):
    lynex_per_project = True
    lynex_secret_keys = ("signing",)


declared, listed, everywhere = Declared(), Recorder(), Recorder()


def _wait(check: Any) -> None:
    deadline = time.monotonic() + 10
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_per_project_plugins_get_only_their_projects_events_with_config() -> None:
    names = ("declared", "listed", "everywhere")
    host = PluginHost(PluginsSettings(enabled=names, per_project=("listed",)))
    host.load(importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(n, f"{__name__}:{n}", "lynex_box.plugins") for n in names
    ))  # fmt: skip
    try:
        assert [host.records[n].per_project for n in names] == [True, True, False]
        assert host.records["declared"].secret_keys == ("signing",)
        assert host.wants("key_created")  # the instance-wide one
        host.set_projects({"declared": {"p-a": {"signing": "x"}, "p-fail": {}}, "listed": {"p-b": {"n": 1}}})
        events = [{"project_id": p, "key_id": p} for p in ("p-a", "p-b", "p-c", "p-fail")]
        for event in events:
            host.emit("key_created", event)
        _wait(lambda: len(everywhere.events) == 3 and declared.events and listed.events)
        assert declared.events == [{"project_id": "p-a", "key_id": "p-a", "config": {"signing": "x"}}]
        assert listed.events == [{"project_id": "p-b", "key_id": "p-b", "config": {"n": 1}}]
        assert [e["project_id"] for e in everywhere.events] == ["p-a", "p-b", "p-c"]
        assert all("config" not in e for e in events)  # the shared dicts are left as they were
        _wait(lambda: {p["name"]: p for p in host.project_status("p-fail")}["declared"]["errors"] == 1)
        fail = {p["name"]: p for p in host.project_status("p-fail")}["declared"]
        assert fail["errors"] == 1 and "refused for p-fail" in fail["last_error"]
        ok = {p["name"]: p for p in host.project_status("p-a")}["declared"]
        assert (ok["delivered"], ok["errors"], ok["last_error"]) == (1, 0, "")
    finally:
        host.close()
