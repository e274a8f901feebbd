"""Self-service in the browser: the forced change of a printed password and changing one's own, renaming and
creating projects, deleting a trace's data, exporting a filtered list, adding or inviting a member with one form,
failed sign-ins in the audit view, and settings said in plain words. Tests that change data use their own project
or account, so the seeded data other tests rely on stays as it is."""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.e2e.server import RunningServer
from tests.ui.conftest import UI, Box, MailBox

try:
    from tests.ui.shots import shoot
except ImportError:  # the lead adds the screenshot helper; without it the tests run as they are

    def shoot(page: Any, name: str) -> None:
        return None


def _login_status(url: str, email: str, password: str) -> int:
    return httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password}, timeout=30).status_code


def _fill_password_change(page: Any, current: str, new: str) -> None:
    form = page.get_by_test_id("change-password-form")
    form.get_by_label("Current password").fill(current)
    form.get_by_label("New password", exact=True).fill(new)
    form.get_by_label("New password, again").fill(new)
    form.get_by_role("button", name="Change password").click()


def test_the_first_sign_in_with_the_printed_password_shows_only_the_change_form(page: Any, tmp_path: Path) -> None:
    server = RunningServer(tmp_path / "data", keep_printed_password=True).start()
    try:
        email, printed = server.creds["admin_email"], server.creds["admin_password"]
        page.goto(f"{server.url}/ui/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(printed)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("forced-password-change").get_by_text(email).wait_for()
        assert page.get_by_test_id("whoami").count() == 0 and page.get_by_role("navigation").count() == 0
        shoot(page, "forced-password-change")
        _fill_password_change(page, printed, printed)  # the same one again is refused before it is sent
        page.get_by_test_id("change-password-error").get_by_text("different").wait_for()
        chosen = "my own passphrase 42"
        _fill_password_change(page, printed, chosen)
        page.get_by_test_id("whoami").get_by_text(email).wait_for()  # the app opens once it is changed
        assert _login_status(server.url, email, printed) == 401
        assert _login_status(server.url, email, chosen) == 200
    finally:
        server.stop()


def test_a_user_changes_their_password_in_settings(ui: UI, page: Any) -> None:
    email, old, new = f"pw-{secrets.token_hex(3)}@example.test", secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    ui.new_user(email, old)
    ui.login(page, email, old)
    page.goto(f"{ui.url}/ui/settings/account")
    _fill_password_change(page, "not my password", new)
    page.get_by_test_id("change-password-error").get_by_text("current password is wrong").wait_for()
    _fill_password_change(page, old, new)
    page.get_by_test_id("password-changed").wait_for()
    shoot(page, "settings-account")
    assert _login_status(ui.url, email, old) == 401
    assert _login_status(ui.url, email, new) == 200


def _open_project(box: Box, page: Any, project_id: str, path: str) -> None:
    box.login(page)
    page.get_by_test_id("project-switcher").select_option(project_id)
    page.goto(f"{box.url}/ui{path}")


def test_a_renamed_project_shows_its_new_name_in_the_switcher_and_a_new_one_opens(ui: UI, page: Any) -> None:
    pid = ui.new_project(f"before-{secrets.token_hex(3)}")
    after = f"after-{secrets.token_hex(3)}"
    _open_project(ui, page, pid, "/settings/project")
    form = page.get_by_test_id("rename-project-form")
    form.get_by_label("Project name").fill(after)
    form.get_by_role("button", name="Rename").click()
    page.get_by_test_id("project-name").get_by_text(after).wait_for()
    option = page.get_by_test_id("project-switcher").locator(f'option[value="{pid}"]')
    page.wait_for_function("([el, name]) => el.textContent === name", arg=[option.element_handle(), after])
    with closing(ui.admin_client()) as admin:
        assert admin.get(f"/api/projects/{pid}/settings").json()["name"] == after
        renamed = admin.get(f"/api/projects/{pid}/audit", params={"action": "project.settings_changed"}).json()
        assert renamed["items"], "the rename is audited"
    fresh = f"fresh-{secrets.token_hex(3)}"
    page.get_by_text("New project").click()
    page.get_by_label("New project name").fill(fresh)
    page.get_by_role("button", name="Create project").click()
    switcher = page.get_by_test_id("project-switcher")
    selected = "([el, name]) => el.selectedOptions[0]?.textContent === name"
    page.wait_for_function(selected, arg=[switcher.element_handle(), fresh])
    with closing(ui.admin_client()) as admin:
        names = [p["name"] for p in admin.get("/api/projects").json()["items"]]
    assert fresh in names and after in names


def _project_with_traces(box: Box, count: int) -> tuple[str, str, list[str]]:
    """A new project with `count` traces sent through its own admin key (every other one failed): (id, key, ids)."""
    pid = box.new_project(f"self-{secrets.token_hex(3)}")
    with closing(box.admin_client()) as admin:
        r = admin.post(f"/api/projects/{pid}/keys", json={"scope": "admin", "name": "test"})
        assert r.status_code == 201, r.text
        key = r.json()["api_key"]
    base = int(time.time() * 1000) - 120_000
    ids = [f"self-{secrets.token_hex(4)}-{i}" for i in range(count)]
    events = [
        {"event_id": t, "trace_id": t, "span_id": t, "name": f"answer {i}", "type": "llm", "model": "gpt-4o",
         "start_time": base + i * 1000, "end_time": base + i * 1000 + 400 + i, "user_id": f"user-{i % 2}",
         "session_id": f"session-{i % 3}", "status": "error" if i % 2 else "ok",
         "usage": {"input_tokens": 100 + i, "output_tokens": 20}, "tags": ["a, b"]}
        for i, t in enumerate(ids)
    ]  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.post(f"{box.url}/v1/projects/{pid}/events", json={"events": events}, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = httpx.get(f"{box.url}/v1/projects/{pid}/traces", headers=headers, timeout=30).json()["items"]
        if len(got) == count:
            return pid, key, ids
        time.sleep(0.1)
    raise AssertionError("the traces did not become visible")


def test_a_deleted_trace_is_gone_from_the_list_and_the_api(ui: UI, page: Any) -> None:
    pid, key, ids = _project_with_traces(ui, 3)
    doomed = ids[1]
    _open_project(ui, page, pid, f"/traces/{doomed}")
    page.get_by_test_id("delete-trace").click()
    dialog = page.get_by_test_id("delete-confirm")
    dialog.get_by_text(doomed).first.wait_for()  # the dialog names what goes
    shoot(page, "delete-trace-confirm")
    dialog.get_by_role("button", name="Delete this trace's data").click()
    page.wait_for_url(re.compile(r".*/ui/traces$"))
    page.locator(f'[data-testid="trace-row"][data-trace-id="{ids[0]}"]').wait_for()
    shown = page.get_by_test_id("trace-row").evaluate_all("rows => rows.map(r => r.dataset.traceId)")
    assert sorted(shown) == sorted([ids[0], ids[2]])
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{ui.url}/v1/projects/{pid}/traces/{doomed}", headers=headers, timeout=30).status_code == 404
    listed = httpx.get(f"{ui.url}/v1/projects/{pid}/traces", headers=headers, timeout=30).json()["items"]
    assert doomed not in [t["trace_id"] for t in listed]


def test_a_user_s_data_is_deleted_from_the_project_settings(ui: UI, page: Any) -> None:
    pid, key, ids = _project_with_traces(ui, 4)
    _open_project(ui, page, pid, "/settings/project")
    form = page.get_by_test_id("delete-data-form")
    form.get_by_label("What to delete").select_option("user")
    form.get_by_label("Id to delete").fill("user-1")
    form.get_by_role("button", name="Delete…").click()
    page.get_by_test_id("delete-confirm").get_by_text("every trace of the end user user-1").wait_for()
    page.get_by_role("button", name="Delete this end user's data").click()
    page.get_by_test_id("delete-done").wait_for()
    headers = {"Authorization": f"Bearer {key}"}
    left = httpx.get(f"{ui.url}/v1/projects/{pid}/traces", headers=headers, timeout=30).json()["items"]
    assert sorted(t["trace_id"] for t in left) == sorted([ids[0], ids[2]])


def _csv_cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return "" if value is None else str(value)


def test_the_csv_export_holds_the_rows_of_the_filtered_list(ui: UI, page: Any) -> None:
    pid, key, _ = _project_with_traces(ui, 6)
    _open_project(ui, page, pid, "/traces?status=error")
    page.get_by_test_id("trace-row").first.wait_for()
    page.get_by_test_id("export-menu").locator("summary").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="CSV (spreadsheets)").click()
    page.get_by_test_id("export-note").get_by_text("3 rows").wait_for()
    shoot(page, "traces-export-menu")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    headers = {"Authorization": f"Bearer {key}"}
    listed = httpx.get(f"{ui.url}/v1/projects/{pid}/traces", params={"status": "error"}, headers=headers, timeout=30)
    expected = [{k: _csv_cell(v) for k, v in item.items()} for item in listed.json()["items"]]
    assert len(expected) == 3 and rows == expected


def test_a_failed_sign_in_appears_in_the_audit_view_with_its_email(ui: UI, browser: Any, page: Any) -> None:
    email = f"audit-{secrets.token_hex(3)}@example.test"
    ui.new_user(email, secrets.token_urlsafe(16), role="viewer")
    stranger = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        other = stranger.new_page()
        other.goto(f"{ui.url}/ui/")
        other.get_by_label("Email").fill(email)
        other.get_by_label("Password").fill("a wrong guess 123")
        other.get_by_role("button", name="Sign in").click()
        other.get_by_test_id("login-error").wait_for()
    finally:
        stranger.close()
    ui.login(page)
    page.goto(f"{ui.url}/ui/settings/audit")
    page.get_by_test_id("audit-show").select_option("login.failed")
    row = page.get_by_test_id("audit-row").filter(has_text=email)
    row.first.wait_for()
    text = row.first.inner_text()
    assert "login.failed" in text and "127.0.0.1" in text and "Chrome" in text
    assert "a wrong guess 123" not in page.content()
    shoot(page, "settings-audit-sign-ins")


def test_one_form_adds_an_account_and_emails_an_invitation_to_an_unknown_address(mailbox: MailBox, page: Any) -> None:
    known, unknown = f"known-{secrets.token_hex(3)}@example.test", f"new-{secrets.token_hex(3)}@example.test"
    pid = mailbox.new_project(f"team-{secrets.token_hex(3)}")
    known_id = mailbox.new_user(known, secrets.token_urlsafe(16), role="viewer")
    _open_project(mailbox, page, pid, "/settings/members")
    form = page.get_by_test_id("add-member-form")
    form.get_by_label("Email").fill(known)
    form.get_by_label("Role").select_option("admin")
    form.get_by_role("button", name="Add member").click()
    page.get_by_test_id("add-member-result").get_by_text(f"{known} was added as admin").wait_for()
    with closing(mailbox.admin_client()) as admin:
        members = admin.get(f"/api/projects/{pid}/members").json()["items"]
    assert next(m for m in members if m["user_id"] == known_id)["role"] == "admin"
    before = len(mailbox.inbox.messages)
    form.get_by_label("Email").fill(unknown)
    form.get_by_label("Role").select_option("member")
    form.get_by_role("button", name="Add member").click()
    page.get_by_test_id("invite-link").get_by_text("was emailed").wait_for()
    shoot(page, "settings-members-invite")
    message = mailbox.inbox.wait_for(before + 1)[before]
    assert message["To"] == unknown
    link = page.get_by_test_id("invite-link").locator("pre code").inner_text().strip()
    assert link.split("#", 1)[1] in message.get_content()


JARGON = re.compile(r"\[[a-z_]+\]\s*[a-z_]+")  # `[lifecycle] retention_days`: a lynex.toml key


def test_settings_say_what_they_do_without_config_keys(ui: UI, page: Any) -> None:
    pid = ui.new_project(f"words-{secrets.token_hex(3)}")
    _open_project(ui, page, pid, "/settings/project")
    page.get_by_test_id("retention-effective").wait_for()
    page.get_by_test_id("encryption-status").wait_for()
    text = page.locator("main").inner_text()
    assert "How long data is kept" in text and "Keep for" in text
    for tab in ("keys", "project", "prices", "plugins", "members", "audit", "account"):
        page.goto(f"{ui.url}/ui/settings/{tab}")
        page.get_by_role("tab", selected=True).wait_for()
        page.wait_for_load_state("networkidle")
        shown = page.locator("main").inner_text()
        assert not JARGON.search(shown), (tab, JARGON.findall(shown))
