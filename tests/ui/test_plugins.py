"""The Plugins tab of the settings, in Chromium against a real server with test plugins installed: a project admin
turns a per-project plugin on with its toggle, sees the errors it raises on the project's events (count and last
error), and edits its configuration in a JSON editor that names a bad document before anything is sent and shows
secret values masked once saved."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import RunningServer
from tests.plugins.project_plugins import MASK, server_env
from tests.ui.conftest import Box


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    root = tmp_path_factory.mktemp("ui-plugins")
    server = RunningServer(root / "data", env=server_env(root)).start()
    try:
        yield Box(server)
    finally:
        server.stop()


def test_a_plugin_toggled_on_shows_its_errors_and_its_config_is_edited(box: Box, page: Any, tmp_path: Path) -> None:
    pid = box.server.project
    box.login(page)
    page.goto(f"{box.url}/ui/settings/plugins")
    card = page.get_by_test_id("plugin-pp-failing")
    toggle = card.get_by_test_id("plugin-toggle")
    toggle.wait_for()
    assert not toggle.is_checked() and card.get_by_test_id("plugin-errors").inner_text() == "0"
    assert "whole instance" in page.get_by_test_id("plugin-pp-global").inner_text()

    toggle.check()
    card.get_by_text("Receives this project’s events").wait_for()
    with closing(box.admin_client()) as admin:  # an event of the project: the plugin raises on it
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "ingest", "name": "ui plugin test"})
        assert r.status_code == 201, r.text
    # the page reads the counters again every 5 s
    card.get_by_test_id("plugin-errors").get_by_text("1", exact=True).wait_for(timeout=20_000)
    assert f"failing on purpose for {pid}" in card.get_by_test_id("plugin-last-error").inner_text()
    page.screenshot(path=str(tmp_path / "plugin-errors.png"))

    editor = card.get_by_test_id("plugin-config")
    editor.fill("[1]")
    card.get_by_test_id("plugin-config-error").get_by_text("must be a JSON object").wait_for()
    assert card.get_by_test_id("plugin-save").is_disabled()
    editor.fill('{"token": "tok-secret-value", "n": 1')
    card.get_by_test_id("plugin-config-error").get_by_text("Not valid JSON").wait_for()
    editor.fill('{"token": "tok-secret-value", "n": 1}')
    card.get_by_test_id("plugin-save").click()
    page.get_by_text("Configuration saved.").wait_for()
    page.reload()
    editor = page.get_by_test_id("plugin-pp-failing").get_by_test_id("plugin-config")
    editor.wait_for()
    assert MASK in editor.input_value() and "tok-secret-value" not in page.content()
    assert page.get_by_test_id("plugin-pp-failing").get_by_test_id("plugin-toggle").is_checked()
