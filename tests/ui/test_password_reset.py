"""Forgotten passwords in the browser: "Forgot password?" on the login view emails a link (real SMTP server),
the link opens the reset page, the new password signs in and the old one no longer does; an admin's reset link
works the same way once; without email the login view says whom to ask."""

from __future__ import annotations

import re
import secrets
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.ui.conftest import UI, MailBox


def _login_status(url: str, email: str, password: str) -> int:
    return httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password}, timeout=30).status_code


def _set_new_password(page: Any, password: str) -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Repeat the new password").fill(password)
    page.get_by_role("button", name="Set password").click()


def test_forgot_password_emails_a_link_whose_page_sets_a_new_password(
    mailbox: MailBox, page: Any, tmp_path: Path
) -> None:
    email, old, new = f"ada-{secrets.token_hex(3)}@example.test", secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    mailbox.new_user(email, old)
    before = len(mailbox.inbox.messages)
    page.goto(f"{mailbox.url}/ui/")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url("**/ui/forgot-password")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a reset link").click()
    page.get_by_test_id("forgot-sent").get_by_text(email).wait_for()

    message = mailbox.inbox.wait_for(before + 1)[before]
    assert message["To"] == email
    found = re.search(r"(\S+/reset-password#(lxr_[\w-]+))", message.get_content())
    assert found is not None, message.get_content()
    link, token = found.group(1), found.group(2)
    assert link.startswith(f"{mailbox.url}/reset-password#")  # the public_url, not a path inside the UI

    page.goto(link)  # the server sends /reset-password to the UI; the browser keeps the fragment
    page.wait_for_url("**/ui/reset-password#lxr_*")
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Repeat the new password").fill(new + "x")
    page.get_by_role("button", name="Set password").click()
    page.get_by_test_id("reset-error").get_by_text("The two passwords differ").wait_for()
    assert _login_status(mailbox.url, email, old) == 200  # nothing was sent yet
    _set_new_password(page, new)
    page.get_by_test_id("reset-done").wait_for()
    assert token not in page.url  # the used token leaves the address bar
    page.screenshot(path=str(tmp_path / "reset-done.png"))

    page.get_by_role("link", name="Sign in").click()
    mailbox.login(page, email, new)
    page.get_by_test_id("whoami").get_by_text(email).wait_for()
    assert _login_status(mailbox.url, email, old) == 401


def test_an_admin_reset_link_from_the_members_tab_sets_a_password_once(ui: UI, browser: Any, page: Any) -> None:
    email, old, new = f"bob-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    ui.new_user(email, old)
    admin_context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        admin = admin_context.new_page()
        ui.login(admin)
        admin.goto(f"{ui.url}/ui/settings/members")
        own = admin.get_by_test_id("member-row").filter(has_text=ui.creds["admin_email"])
        assert own.get_by_role("button", name="Reset link").count() == 0  # one's own password is changed, not reset
        admin.get_by_test_id("member-row").filter(has_text=email).get_by_role("button", name="Reset link").click()
        link = admin.get_by_test_id("reset-link").locator("pre code").inner_text().strip()
    finally:
        admin_context.close()
    assert "/reset-password#lxr_" in link
    with closing(ui.admin_client()) as client:
        org = client.get("/api/auth/me").json()["orgs"][0]["id"]
        audit = client.get(f"/api/orgs/{org}/audit", params={"action": "password.reset_issued"}).json()["items"]
    assert audit and link.split("#", 1)[1] not in str(audit)  # audited, without the token

    page.goto(link)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat the new password").fill("short")
    page.get_by_role("button", name="Set password").click()
    page.get_by_test_id("reset-error").get_by_text("at least").wait_for()  # the server's password policy, shown
    _set_new_password(page, new)
    page.get_by_test_id("reset-done").wait_for()
    ui.login(page, email, new)
    page.get_by_test_id("whoami").get_by_text(email).wait_for()

    # the link works once: opened again, it says so and offers a new one
    page.goto(link)
    _set_new_password(page, secrets.token_urlsafe(16))
    error = page.get_by_test_id("reset-error")
    error.get_by_text("unknown, used or expired").wait_for()
    assert error.get_by_role("link", name="Request a new reset link").count() == 1
    assert _login_status(ui.url, email, new) == 200


def test_without_email_the_forgot_page_says_whom_to_ask(ui: UI, page: Any) -> None:
    page.goto(f"{ui.url}/ui/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill(ui.creds["admin_email"])
    page.get_by_role("button", name="Email me a reset link").click()
    notice = page.get_by_test_id("forgot-not-enabled")
    notice.wait_for()
    assert "Ask an owner or admin" in notice.inner_text() and "lynex-box users reset-password" in notice.inner_text()
    assert page.get_by_role("button", name="Email me a reset link").count() == 0
    page.get_by_test_id("back-to-sign-in").click()
    page.get_by_role("button", name="Sign in").wait_for()


def test_the_reset_page_without_a_token_explains_itself(ui: UI, page: Any) -> None:
    page.goto(f"{ui.url}/reset-password")
    page.get_by_text("needs the whole link").wait_for()
    assert page.get_by_role("button", name="Set password").count() == 0
    page.get_by_role("link", name="Request a new reset link").click()
    page.wait_for_url("**/ui/forgot-password")
