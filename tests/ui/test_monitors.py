"""The Monitors page: an admin creates a monitor of a real local app through the form, runs it now, sees it fail
when the app fails, and follows a recent run to its trace; a viewer sees the monitors read-only.

A server of its own (not the seeded one): monitors may reach only addresses the alerts' outbound policy allows, and
this one opens 127.0.0.1 for the local app.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.monitored_app import LocalServer
from tests.e2e.server import RunningServer
from tests.ui.conftest import Box


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Box, LocalServer]]:
    app = LocalServer().start()
    env = {"LYNEX_ALERTS_ALLOWED_TARGET_NETWORKS": "127.0.0.1/32", "LYNEX_MONITORS_MIN_INTERVAL_S": "1"}
    server = RunningServer(tmp_path_factory.mktemp("ui-monitors") / "data", env=env).start()
    try:
        yield Box(server), app
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
        app.stop()


def test_create_run_and_follow_a_monitor_in_the_ui(box: tuple[Box, LocalServer], browser: Any, page: Any,
                                                   tmp_path: Path) -> None:  # fmt: skip
    ui, app = box
    name = f"checkout health {secrets.token_hex(3)}"
    ui.login(page)
    page.get_by_role("link", name="Monitors").click()
    page.get_by_test_id("monitors-empty").wait_for()
    page.get_by_role("button", name="New monitor").click()
    form = page.get_by_test_id("monitor-form")
    form.get_by_label("Monitor name").fill(name)
    form.get_by_label("URL", exact=True).fill(f"{app.url}/ui-health")
    form.get_by_label("Every").fill("1h")
    form.get_by_label("Status equals").fill("200")
    form.get_by_label("JSON path").fill("$.items[0].id")
    form.get_by_label("Expected JSON value").fill("7")
    form.get_by_role("button", name="Create monitor").click()
    row = page.get_by_test_id("monitor-row").filter(has_text=name)
    row.wait_for()
    assert page.get_by_test_id("monitor-form").count() == 0
    assert row.get_by_text("every 1h").count() == 1 and row.get_by_text("1 rule(s)").count() == 1
    # run now: it passes; then the app fails and the next run says why
    row.get_by_role("button", name="Run now").click()
    page.get_by_test_id("run-result").filter(has_text="Run passed").wait_for()
    app.failing = True
    try:
        row.get_by_role("button", name="Run now").click()
        page.get_by_test_id("run-result").filter(has_text="status 500, expected 200").wait_for()
    finally:
        app.failing = False
    row.get_by_test_id("monitor-result").filter(has_text="failing").wait_for()
    runs = page.get_by_test_id("run-row")
    runs.filter(has_text="status: status 500, expected 200").first.wait_for()
    assert runs.count() >= 2  # the first scheduled run and the two runs now
    page.screenshot(path=str(tmp_path / "monitors.png"))
    # a recent run links to its trace: the root span is named after the monitor
    runs.first.get_by_test_id("run-trace").click()
    page.get_by_text(f"synthetic {name}").first.wait_for()
    assert "/ui/traces/" in page.url


def test_a_viewer_sees_monitors_read_only(box: tuple[Box, LocalServer], browser: Any, page: Any) -> None:
    ui, app = box
    name = f"read only {secrets.token_hex(3)}"
    client = ui.admin_client()
    try:
        body = {"name": name, "interval_s": 3600, "target": {"type": "http", "url": f"{app.url}/ro"}}
        assert client.post(f"/api/projects/{ui.server.project}/monitors", json=body).status_code == 201
    finally:
        client.close()
    email, password = f"monitor-viewer-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(16)
    ui.new_user(email, password, role="viewer")
    ui.login(page, email, password)
    page.get_by_role("link", name="Monitors").click()
    page.get_by_test_id("monitor-row").filter(has_text=name).wait_for()
    page.get_by_test_id("readonly-notice").wait_for()
    for button in ("New monitor", "Run now", "Edit", "Delete"):
        assert page.get_by_role("button", name=button).count() == 0
