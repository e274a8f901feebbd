"""Plugins turned on per project, through the real server and the real command line: a per-project plugin gets only
the events of the projects that enabled it, each with that project's configuration; secret values never come back
from the API; each project sees only its own counters and errors; callers of another project or org are refused;
`lynex-box plugins enable|list|disable` on the data dir reaches the running server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alerts.receiver import Receiver
from tests.e2e.accounts import Browsers
from tests.e2e.server import RunningServer
from tests.plugins.project_plugins import MASK, SIGNING, server_env


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("project-plugins")
    env = server_env(root)
    server = RunningServer(root / "data", env=env).start()
    try:
        yield server, env
    finally:
        server.stop()


def _items(client: httpx.Client, project: str) -> dict[str, dict[str, Any]]:
    r = client.get(f"/api/projects/{project}/plugins")
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()["items"]}


def _new_key(client: httpx.Client, project: str) -> str:
    r = client.post(f"/api/projects/{project}/keys", json={"scope": "ingest", "name": "plugin test"})
    assert r.status_code == 201, r.text
    return str(r.json()["key_id"])


def _until(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen within {timeout}s")


def test_a_project_that_enabled_a_plugin_gets_its_events_with_its_config(
    setup: tuple[RunningServer, dict[str, str]], receiver: Receiver
) -> None:
    server, _ = setup
    web = Browsers(server)
    try:
        admin = web.admin()
        a = server.project
        r = admin.post("/api/projects", json={"name": "project b"})
        assert r.status_code == 201, r.text
        b = r.json()["project_id"]
        before = _items(admin, a)
        assert before["pp-recorder"]["per_project"] and not before["pp-recorder"]["enabled"]
        assert before["pp-global"]["enabled"] and not before["pp-global"]["per_project"]
        config = {"url": f"{receiver.url}/a", "signing": SIGNING, "label": "A"}
        r = admin.put(f"/api/projects/{a}/plugins/pp-recorder", json={"enabled": True, "config": config})
        assert r.status_code == 200, r.text
        assert r.json()["config"] == {"url": MASK, "signing": MASK, "label": "A"}
        r = admin.get(f"/api/projects/{a}/plugins")
        assert SIGNING not in r.text and receiver.url not in r.text
        assert _items(admin, a)["pp-recorder"]["config"] == {"url": MASK, "signing": MASK, "label": "A"}
        assert not _items(admin, b)["pp-recorder"]["enabled"]

        _new_key(admin, b)  # B did not enable it: nothing reaches the plugin
        key_a = _new_key(admin, a)
        got = receiver.wait_for("/a", lambda x: x.json()["event"]["key_id"] == key_a)
        assert got.json()["event"]["config"] == config  # the secret values in clear, for the plugin only
        assert {x.json()["event"]["project_id"] for x in receiver.on("/a")} == {a}

        # the mask sent back keeps the stored secret values; the other keys change
        masked = {"url": MASK, "signing": MASK, "label": "A2"}
        r = admin.put(f"/api/projects/{a}/plugins/pp-recorder", json={"enabled": True, "config": masked})
        assert r.status_code == 200, r.text
        key_a2 = _new_key(admin, a)
        got = receiver.wait_for("/a", lambda x: x.json()["event"]["key_id"] == key_a2)
        assert got.json()["event"]["config"] == {**config, "label": "A2"}
        assert len(receiver.on("/a")) == 2 and not receiver.on("/b")

        # a plugin that raises: A sees its errors and last error, B sees none of A's
        r = admin.put(f"/api/projects/{a}/plugins/pp-failing", json={"enabled": True})
        assert r.status_code == 200, r.text
        _new_key(admin, a)
        failing = _until("pp-failing's error", lambda: (p := _items(admin, a)["pp-failing"])["errors"] and p)
        assert failing["enabled"] and f"failing on purpose for {a}" in failing["last_error"]
        assert _items(admin, b)["pp-failing"]["errors"] == 0 and _items(admin, b)["pp-failing"]["last_error"] == ""

        # turned off, then reset: no more events, and the row is gone
        r = admin.put(f"/api/projects/{a}/plugins/pp-recorder", json={"enabled": False})
        assert r.status_code == 200 and r.json()["config"]["label"] == "A2", r.text
        key_off = _new_key(admin, a)
        assert admin.delete(f"/api/projects/{a}/plugins/pp-recorder").status_code == 204
        assert _items(admin, a)["pp-recorder"]["config"] == {}
        time.sleep(1.0)
        assert all(x.json()["event"]["key_id"] != key_off for x in receiver.on("/a"))
        audit = admin.get(f"/api/projects/{a}/audit").json()["items"]
        actions = [e["action"] for e in audit if e["action"].startswith("project_plugin.")]
        assert actions[:2] == ["project_plugin.deleted", "project_plugin.set"]
        assert SIGNING not in str(audit)
    finally:
        web.close()


def test_bad_writes_get_a_400_with_a_json_error(setup: tuple[RunningServer, dict[str, str]]) -> None:
    server, _ = setup
    web = Browsers(server)
    try:
        admin, url = web.admin(), f"/api/projects/{server.project}/plugins"
        cases: list[tuple[str, Any, str]] = [
            ("not-installed", {"enabled": True}, "unknown_plugin"),
            ("pp-global", {"enabled": True}, "not_per_project"),
            ("pp-recorder", {"config": ["a list"]}, "bad_config"),
            ("pp-recorder", {"config": {"note": "x" * 500}}, "config_too_large"),
            ("pp-recorder", {"enabled": "yes"}, "bad_request"),
            ("pp-recorder", {"config": {"token": MASK}}, "bad_config"),  # a mask, and no stored value
        ]
        for name, body, code in cases:
            r = admin.put(f"{url}/{name}", json=body)
            assert (r.status_code, r.json()["error"]["code"]) == (400, code), (name, body, r.text)
    finally:
        web.close()


def test_other_projects_and_orgs_are_refused(setup: tuple[RunningServer, dict[str, str]]) -> None:
    server, _ = setup
    web = Browsers(server)
    try:
        admin, a = web.admin(), server.project
        org_a = admin.get("/api/auth/me").json()["orgs"][0]["id"]
        viewer, _ = web.invite(admin, org_a, "viewer@a.test", "viewer")
        assert viewer.get(f"/api/projects/{a}/plugins").status_code == 200  # members read
        r = viewer.put(f"/api/projects/{a}/plugins/pp-failing", json={"enabled": True})
        assert r.status_code == 403, r.text  # admins write
        org_c = admin.post("/api/orgs", json={"name": "C corp"}).json()["id"]
        outsider, _ = web.invite(admin, org_c, "admin@c.test", "admin")
        for r in (
            outsider.get(f"/api/projects/{a}/plugins"),
            outsider.put(f"/api/projects/{a}/plugins/pp-failing", json={"enabled": True}),
            outsider.delete(f"/api/projects/{a}/plugins/pp-failing"),
        ):
            assert r.status_code == 404, r.text  # another org's project does not exist for them
        r = admin.post("/api/projects", json={"name": "sibling", "org_id": org_a})
        sibling = r.json()["project_id"]
        r = admin.post(f"/api/projects/{sibling}/keys", json={"scope": "admin", "name": "sibling admin"})
        key = {"Authorization": f"Bearer {r.json()['api_key']}"}
        r = httpx.put(f"{server.url}/api/projects/{a}/plugins/pp-failing", json={"enabled": True}, headers=key)
        assert r.status_code == 403, r.text  # a key acts on its own project only
        assert httpx.get(f"{server.url}/api/projects/{a}/plugins", headers=key).status_code == 403
    finally:
        web.close()


def _cli(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lynex_box", "plugins", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )  # fmt: skip


def test_the_command_line_enables_lists_and_disables_on_the_data_dir(
    setup: tuple[RunningServer, dict[str, str]], receiver: Receiver
) -> None:
    server, env = setup
    web = Browsers(server)
    try:
        admin = web.admin()
        org = admin.get("/api/auth/me").json()["orgs"][0]["id"]
        project = admin.post("/api/projects", json={"name": "cli project", "org_id": org}).json()["project_id"]
        url = f"{receiver.url}/cli"
        done = _cli(env, server.data_dir, "enable", "pp-recorder", "--project", project,
                    "--config-json", '{"label": "cli"}', "--set", f"url={url}", "--set", "n=3")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert '"url": "********"' in done.stdout and url not in done.stdout
        listed = _cli(env, server.data_dir, "list", "--project", project, "--json")
        assert listed.returncode == 0, listed.stderr
        assert '"name": "pp-recorder"' in listed.stdout and url not in listed.stdout
        # the running server reads the table again within [plugins] project_reload_s
        _until("the CLI's change", lambda: _items(admin, project)["pp-recorder"]["enabled"])
        key_id = _new_key(admin, project)
        got = receiver.wait_for("/cli", lambda x: x.json()["event"]["key_id"] == key_id)
        assert got.json()["event"]["config"] == {"label": "cli", "url": url, "n": 3}
        done = _cli(env, server.data_dir, "disable", "pp-recorder", "--project", project)
        assert done.returncode == 0 and '"enabled": false' in done.stdout, done.stderr
        _until("the CLI's disable", lambda: not _items(admin, project)["pp-recorder"]["enabled"])
        refused = _cli(env, server.data_dir, "enable", "pp-global", "--project", project)
        assert refused.returncode == 1 and "whole instance" in refused.stderr
        refused = _cli(env, server.data_dir, "enable", "pp-recorder", "--project", project, "--config-json", "[1]")
        assert refused.returncode == 2 and "JSON object" in refused.stderr
    finally:
        web.close()
