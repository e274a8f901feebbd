"""The Project tab of the settings: retention (0 = keep forever, or the server default) and the hot window saved
and shown again after a reload, raw-text sampling, and encryption at rest turned on only after a confirmation. Each
test works on a project of its own, so the seeded project keeps its settings."""

from __future__ import annotations

import secrets
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.ui.conftest import UI, Box, MailBox


def _open_project_settings(box: Box, page: Any, project_id: str) -> None:
    box.login(page)
    page.get_by_test_id("project-switcher").select_option(project_id)
    page.goto(f"{box.url}/ui/settings/project")
    page.get_by_test_id("retention-effective").wait_for()


def _settings(box: Box, project_id: str) -> dict[str, Any]:
    with closing(box.admin_client()) as admin:
        r = admin.get(f"/api/projects/{project_id}/settings")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def test_retention_zero_and_a_hot_window_are_saved_and_shown_after_reload(
    mailbox: MailBox, page: Any, tmp_path: Path
) -> None:
    pid = mailbox.new_project(f"lifecycle-{secrets.token_hex(3)}")
    _open_project_settings(mailbox, page, pid)
    retention, hot = page.get_by_test_id("retention-effective"), page.get_by_test_id("hot-window-effective")
    # nothing set on the project: the server's defaults are in force, and said to be
    assert "30 days" in retention.inner_text() and "server default" in retention.inner_text()
    assert "7 days" in hot.inner_text() and "server default" in hot.inner_text()
    assert page.get_by_label("Use the server default (30 days)").is_checked()
    page.get_by_test_id("no-bucket-notice").wait_for()  # this server has no bucket: the hot window waits for one

    page.get_by_label("Keep forever", exact=True).check()
    page.get_by_label("Hot window").fill("1d 12h")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("lifecycle-saved").get_by_text("Saved.").wait_for()
    stored = _settings(mailbox, pid)
    assert stored["retention_days"] == 0 and stored["hot_window_s"] == 129_600

    page.reload()
    page.get_by_test_id("retention-effective").get_by_text("keep forever").wait_for()
    assert "this project's setting" in retention.inner_text()
    assert page.get_by_label("Keep forever", exact=True).is_checked()
    assert page.get_by_label("Hot window").input_value() == "1d 12h"
    assert "1 day 12 hours" in hot.inner_text() and "this project's setting" in hot.inner_text()
    page.screenshot(path=str(tmp_path / "lifecycle-saved.png"))

    # a bad duration is refused in the form, naming the problem, and nothing is sent
    page.get_by_label("Hot window").fill("12 fortnights")
    page.get_by_role("button", name="Save").click()
    page.get_by_text('unknown unit "fortnights"').wait_for()
    assert page.get_by_label("Hot window").get_attribute("aria-invalid") == "true"
    assert _settings(mailbox, pid)["hot_window_s"] == 129_600

    # a number of days, then back to the defaults (null) for both
    page.get_by_label("Retention in days").fill("45")
    page.get_by_label("Hot window").fill("12h")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("retention-effective").get_by_text("45 days").wait_for()
    assert _settings(mailbox, pid)["retention_days"] == 45 and _settings(mailbox, pid)["hot_window_s"] == 43_200
    page.get_by_label("Use the server default (30 days)").check()
    page.get_by_label("Use the server default (7 days)").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("retention-effective").get_by_text("server default").wait_for()
    stored = _settings(mailbox, pid)
    assert stored["retention_days"] is None and stored["hot_window_s"] is None


def test_encryption_is_turned_on_only_after_a_confirmation(mailbox: MailBox, page: Any, tmp_path: Path) -> None:
    pid = mailbox.new_project(f"encrypted-{secrets.token_hex(3)}")
    _open_project_settings(mailbox, page, pid)
    status = page.get_by_test_id("encryption-status")
    assert "off" in status.inner_text()
    opener = page.get_by_role("button", name="Turn on encryption…")
    opener.click()
    confirm = page.get_by_role("alertdialog")
    text = confirm.inner_text()
    assert "cannot be undone" in text and "unreadable" in text and "key-encryption key" in text
    go = confirm.get_by_role("button", name="Turn on encryption", exact=True)
    assert go.is_disabled()  # not before the checkbox says the consequences are understood
    page.keyboard.press("Escape")  # the keyboard closes it, and focus goes back to the button that opened it
    confirm.wait_for(state="detached")
    assert opener.evaluate("el => el === document.activeElement")
    assert _settings(mailbox, pid)["encryption"]["enabled"] is False

    opener.click()
    page.get_by_label("I understand that this cannot be undone").check()
    page.screenshot(path=str(tmp_path / "encryption-confirm.png"))
    go.click()
    status.get_by_text("key-encryption key is available").wait_for()
    assert page.get_by_role("button", name="Turn on encryption…").count() == 0
    assert _settings(mailbox, pid)["encryption"] == {"enabled": True, "key_available": True, "error": None}


def test_turning_on_encryption_without_a_key_shows_why_it_failed(ui: UI, page: Any) -> None:
    pid = ui.new_project(f"no-kek-{secrets.token_hex(3)}")  # the seeded server has no key-encryption key
    _open_project_settings(ui, page, pid)
    page.get_by_role("button", name="Turn on encryption…").click()
    page.get_by_label("I understand that this cannot be undone").check()
    page.get_by_role("button", name="Turn on encryption", exact=True).click()
    error = page.get_by_test_id("encryption-error")
    error.wait_for()
    assert "key" in error.inner_text().lower()
    assert "off" in page.get_by_test_id("encryption-status").inner_text()
    assert _settings(ui, pid)["encryption"]["enabled"] is False


def test_raw_text_sampling_is_set_in_the_form_and_a_sampled_out_span_says_so(
    mailbox: MailBox, page: Any, tmp_path: Path
) -> None:
    pid = mailbox.new_project(f"sampling-{secrets.token_hex(3)}")
    _open_project_settings(mailbox, page, pid)
    assert page.get_by_test_id("sample-text").input_value() == "100"
    page.get_by_test_id("sample-text").fill("0")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("lifecycle-saved").get_by_text("Saved.").wait_for()
    assert _settings(mailbox, pid)["sample_text"] == 0.0

    with closing(mailbox.admin_client()) as admin:
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "admin", "name": "ui sampling test"})
        assert r.status_code == 201, r.text
        key = r.json()["api_key"]
    event = {"event_id": "s-llm", "trace_id": "sampled-trace", "name": "answer", "type": "llm", "model": "gpt-4o",
             "provider": "openai", "usage": {"input_tokens": 12, "output_tokens": 3},
             "input": [{"role": "user", "content": "a private question"}], "output": "a private answer"}  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(f"{mailbox.url}/v1/projects/{pid}/events", json={"events": [event]}, headers=headers)
    assert r.status_code == 202, r.text
    url = f"{mailbox.url}/v1/projects/{pid}/traces/sampled-trace"
    deadline = time.monotonic() + 20
    while httpx.get(url, headers=headers).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)

    page.goto(f"{mailbox.url}/ui/traces/sampled-trace")
    page.get_by_test_id("span-row").filter(has_text="answer").first.click()
    detail = page.get_by_test_id("span-detail")
    detail.get_by_test_id("span-text-sampled").get_by_text("Text not kept (sampled)").wait_for()
    assert "12 in" in detail.get_by_test_id("span-tokens").inner_text()  # the metrics are kept
    assert "gpt-4o" in detail.get_by_test_id("span-model-meta").inner_text()
    assert "a private question" not in detail.inner_text()
    page.screenshot(path=str(tmp_path / "sampled-span.png"))


def test_the_pii_mode_patterns_and_keys_are_applied_and_a_bad_pattern_is_explained(
    mailbox: MailBox, page: Any, tmp_path: Path
) -> None:
    pid = mailbox.new_project(f"pii-{secrets.token_hex(3)}")
    _open_project_settings(mailbox, page, pid)
    effective = page.get_by_test_id("pii-effective")
    assert "off" in effective.inner_text() and "server default" in effective.inner_text()
    form = page.get_by_test_id("pii-form")
    form.get_by_label("Redact").check()
    form.get_by_label("Custom patterns, one per line").fill("acct=(a)\\1")
    form.get_by_role("button", name="Apply PII settings").click()
    page.get_by_test_id("pii-error").get_by_text("not a valid RE2 expression").wait_for()
    assert _settings(mailbox, pid)["pii"]["mode"] == "off"  # refused: nothing stored

    form.get_by_label("Custom patterns, one per line").fill("acct=ACCT-[0-9]{6}")
    form.get_by_label("Attribute keys whose value is always masked").fill("user.password\nsession.token")
    form.get_by_role("button", name="Apply PII settings").click()
    page.get_by_test_id("pii-saved").wait_for()
    stored = _settings(mailbox, pid)["pii"]
    assert stored["mode"] == "redact" and stored["masked_keys"] == ["user.password", "session.token"]
    assert stored["custom_patterns"] == [{"name": "acct", "pattern": "ACCT-[0-9]{6}"}]
    page.reload()
    page.get_by_test_id("pii-effective").get_by_text("redact").wait_for()
    assert "this project's setting" in page.get_by_test_id("pii-effective").inner_text()
    assert page.get_by_test_id("pii-form").get_by_label("Redact").is_checked()
    page.screenshot(path=str(tmp_path / "pii-saved.png"))
