"""Prompt versions with their diff, API keys created and revoked, and what a viewer may not do."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from tests.ui.conftest import UI


def test_diff_two_prompt_versions(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    page.get_by_role("link", name="Prompts").click()
    versions = page.get_by_test_id("prompt-versions")
    versions.get_by_text("v2").wait_for()
    diff = page.get_by_test_id("prompt-diff")
    assert "Always be polite." in diff.get_by_test_id("diff-del").all_inner_texts()[1]
    inserted = " ".join(diff.get_by_test_id("diff-ins").all_inner_texts())
    assert "Cite sources." in inserted and "Corp" in inserted
    assert page.get_by_test_id("diff-stats").inner_text() == "1 changed · 1 added · 1 removed"
    assert diff.locator("mark").filter(has_text="Corp").count() == 1
    page.screenshot(path=str(tmp_path / "prompt-diff.png"))
    # picking the same version on both sides shows no change
    page.get_by_label("Compare from version 2").check()
    page.wait_for_url("**a=2**")
    assert page.get_by_test_id("diff-stats").inner_text() == "0 changed · 0 added · 0 removed"


def test_register_a_prompt_version_from_the_ui(ui: UI, page: Any) -> None:
    ui.login(page)
    page.goto(f"{ui.url}/ui/prompts?name=support")
    page.get_by_text("Register a version of support").click()
    page.get_by_label("Template").fill("You are a support agent.\nBe brief.")
    page.get_by_role("button", name="Register version").click()
    page.get_by_test_id("prompt-versions").get_by_text("v3").wait_for()


def test_create_and_revoke_an_api_key(ui: UI, page: Any, tmp_path: Path) -> None:
    ui.login(page)
    page.get_by_role("link", name="Settings").click()
    name = f"ui-test-{secrets.token_hex(3)}"
    page.get_by_label("Key name").fill(name)
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_test_id("created-key").locator("pre code").inner_text().strip()
    assert shown.startswith("lx_")
    page.screenshot(path=str(tmp_path / "key-created.png"))
    headers = {"Authorization": f"Bearer {shown}"}
    traces = f"{ui.url}/v1/projects/{ui.server.project}/traces"
    assert httpx.get(traces, headers=headers, params={"limit": 1}).status_code == 200
    row = page.get_by_test_id("key-row").filter(has_text=name)
    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Confirm revoke").click()
    row.get_by_text("revoked").wait_for()
    assert httpx.get(traces, headers=headers, params={"limit": 1}).status_code == 401
    page.get_by_role("tab", name="Audit log").click()
    page.get_by_test_id("audit-table").get_by_text("key.revoked").first.wait_for()


def test_viewer_cannot_see_settings_actions(ui: UI, browser: Any, page: Any, tmp_path: Path) -> None:
    email, password = f"viewer-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(16)
    # an admin adds the address in the members tab: it has no account, so an invitation link is made (no SMTP here)
    admin_context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        admin = admin_context.new_page()
        ui.login(admin)
        admin.goto(f"{ui.url}/ui/settings/members")
        form = admin.get_by_test_id("add-member-form")
        form.get_by_label("Email").fill(email)
        form.get_by_label("Role").select_option("viewer")
        form.get_by_role("button", name="Add member").click()
        link = admin.get_by_test_id("invite-link").locator("pre code").inner_text().strip()
    finally:
        admin_context.close()
    assert link.endswith("/invite#" + link.split("#", 1)[1]) and link.split("#", 1)[1].startswith("lxi_")
    token = link.split("#", 1)[1]
    # the invitation link opens the UI, which creates the account and signs the viewer in
    page.goto(f"{ui.url}/invite#{token}")
    page.get_by_label("Choose a password").fill(password)
    page.get_by_role("button", name="Create my account").click()
    page.get_by_test_id("whoami").get_by_text("viewer").wait_for()
    page.get_by_test_id("stat-spans").get_by_text(f"{ui.seed.totals['count']:,}").wait_for()
    page.get_by_role("link", name="Settings").click()
    page.get_by_test_id("readonly-notice").wait_for()
    assert page.get_by_role("button", name="Create key").count() == 0
    assert page.get_by_test_id("create-key-form").count() == 0
    assert page.get_by_role("button", name="Revoke").count() == 0
    page.get_by_role("tab", name="Project").click()
    page.get_by_label("Retention in days").wait_for()
    assert page.get_by_label("Retention in days").is_disabled() and page.get_by_label("Hot window").is_disabled()
    assert page.get_by_label("Keep forever", exact=True).is_disabled()
    assert page.get_by_role("button", name="Save").count() == 0
    page.get_by_test_id("encryption-status").get_by_text("off").wait_for()
    assert page.get_by_role("button", name="Turn on encryption…").count() == 0
    page.get_by_role("tab", name="Members").click()
    page.get_by_test_id("members-table").get_by_text(email).wait_for()
    assert page.get_by_test_id("add-member-form").count() == 0
    page.screenshot(path=str(tmp_path / "viewer-settings.png"))
