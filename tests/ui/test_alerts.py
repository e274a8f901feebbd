"""The alerts view: an admin creates a rule through the form and sees it listed; a viewer sees it read-only."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from tests.ui.conftest import UI


def test_create_an_alert_rule_in_the_ui(ui: UI, browser: Any, page: Any, tmp_path: Path) -> None:
    name = f"checkout errors {secrets.token_hex(3)}"
    ui.login(page)
    page.get_by_role("link", name="Alerts").click()
    page.get_by_role("button", name="New alert rule").click()
    form = page.get_by_test_id("alert-form")
    form.get_by_label("Rule name").fill(name)
    form.get_by_label("Metric").select_option("error_rate")
    form.get_by_label("Comparison").select_option("gte")
    form.get_by_label("Threshold (%)").fill("12.5")
    form.get_by_label("Window").fill("10m")
    form.get_by_label("Only span name").fill("checkout")
    form.get_by_role("button", name="Add channel").click()
    form.get_by_label("Channel type").select_option("slack")
    form.get_by_label("Channel URL").fill("https://hooks.slack.example.com/services/T000/B000/XXXXabcd")
    form.get_by_role("button", name="Create rule").click()
    row = page.get_by_test_id("alert-row").filter(has_text=name)
    row.get_by_text("Error rate ≥ 12.50% over 10m where name=checkout").wait_for()
    assert row.get_by_text("slack").count() == 1
    assert page.get_by_test_id("alert-form").count() == 0
    page.screenshot(path=str(tmp_path / "alert-created.png"))
    # the API holds what the form said (the error rate typed in % is stored as a ratio), the URL redacted
    client = ui.admin_client()
    try:
        rules = client.get(f"/api/projects/{ui.server.project}/alerts/rules").json()["items"]
        [rule] = [r for r in rules if r["name"] == name]
        assert (rule["metric"], rule["comparison"], rule["threshold"], rule["window_s"]) == (
            "error_rate",
            "gte",
            0.125,
            600,
        )
        assert rule["filters"] == {"name": "checkout"}
        assert rule["channels"][0]["target"] == "https://hooks.slack.example.com/…abcd"
        org = client.get("/api/auth/me").json()["orgs"][0]["id"]
        email, password = f"alert-viewer-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(16)
        token = client.post(f"/api/orgs/{org}/invitations", json={"role": "viewer", "email": email}).json()["token"]
    finally:
        client.close()
    accepted = httpx.post(f"{ui.url}/api/invitations/accept", json={"token": token, "password": password})
    assert accepted.status_code == 201, accepted.text
    # a viewer sees the rule and no way to change it
    viewer_context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        viewer = viewer_context.new_page()
        ui.login(viewer, email, password)
        viewer.get_by_role("link", name="Alerts").click()
        viewer.get_by_test_id("alert-row").filter(has_text=name).wait_for()
        viewer.get_by_test_id("readonly-notice").wait_for()
        assert viewer.get_by_role("button", name="New alert rule").count() == 0
        assert viewer.get_by_role("button", name="Edit").count() == 0
        assert viewer.get_by_role("button", name="Delete").count() == 0
    finally:
        viewer_context.close()


def test_a_plugin_channel_type_gets_its_inputs_from_the_channel_types_list(ui: UI, page: Any) -> None:
    """PagerDuty is a channel plugin: the form offers it and builds its inputs from GET .../alerts/channel-types."""
    name, key = f"paged {secrets.token_hex(3)}", "pd-key-" + secrets.token_hex(8)
    ui.login(page)
    page.get_by_role("link", name="Alerts").click()
    page.get_by_role("button", name="New alert rule").click()
    form = page.get_by_test_id("alert-form")
    form.get_by_label("Rule name").fill(name)
    form.get_by_role("button", name="Add channel").click()
    form.get_by_label("Channel type").select_option("pagerduty")
    form.get_by_label("Integration (routing) key").fill(key)
    form.get_by_label("Severity").select_option("critical")
    form.get_by_role("button", name="Create rule").click()
    page.get_by_test_id("alert-row").filter(has_text=name).get_by_text("pagerduty").wait_for()
    client = ui.admin_client()
    try:
        rules = client.get(f"/api/projects/{ui.server.project}/alerts/rules").json()["items"]
        [rule] = [r for r in rules if r["name"] == name]
    finally:
        client.close()
    [channel] = rule["channels"]
    assert (channel["type"], channel["severity"]) == ("pagerduty", "critical") and key not in str(rule)
