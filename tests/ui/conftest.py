"""Browser tests: Debian's Chromium driven by Playwright against a real, seeded `lynex-box run`.

One server and one browser serve the whole module set (seeding 30,000 spans once keeps the run short);
each test gets a fresh browser context (its own cookies and storage) and leaves a screenshot in its
tmp_path. `playwright install` is never used: the browser is /usr/bin/chromium (scripts/test.sh
installs it).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer
from tests.e2e.smtp_server import SmtpServer
from tests.ui import seed as seeding

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless=new",
]

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


class Box:
    """A running server and its first-start credentials, with sign-in helpers for the tests."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.url = server.url
        self.creds: dict[str, Any] = server.creds

    def login(self, page: Any, email: str | None = None, password: str | None = None) -> None:
        """Sign in through the login form (email and password; the first admin by default)."""
        page.goto(f"{self.url}/ui/")
        page.get_by_label("Email").fill(email or self.creds["admin_email"])
        page.get_by_label("Password").fill(password or self.creds["admin_password"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("whoami").wait_for()

    def admin_client(self) -> httpx.Client:
        """An httpx client logged in as the first admin, sending the CSRF header on writes."""
        client = httpx.Client(base_url=self.url, timeout=30)
        login = {"email": self.creds["admin_email"], "password": self.creds["admin_password"]}
        r = client.post("/api/auth/login", json=login)
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client

    def new_user(self, email: str, password: str, role: str = "member") -> str:
        """A new account in the first admin's org, made through an invitation link (no email is sent); its id."""
        with closing(self.admin_client()) as admin:
            org = admin.get("/api/auth/me").json()["orgs"][0]["id"]
            r = admin.post(f"/api/orgs/{org}/invitations", json={"role": role})
            assert r.status_code == 201, r.text
        body = {"token": r.json()["token"], "email": email, "password": password}
        r = httpx.post(f"{self.url}/api/invitations/accept", json=body, timeout=30)
        assert r.status_code == 201, r.text
        return str(r.json()["user"]["id"])

    def new_project(self, name: str) -> str:
        """A new, empty project of the first admin's org (tests that change settings leave the seeded one alone)."""
        with closing(self.admin_client()) as admin:
            r = admin.post("/api/projects", json={"name": name})
            assert r.status_code == 201, r.text
            return str(r.json()["project_id"])


class UI(Box):
    """The seeded server, its first-start credentials and the seed, for the tests."""

    def __init__(self, server: RunningServer, seed: seeding.Seed) -> None:
        super().__init__(server)
        self.seed = seed


class MailBox(Box):
    """A second, empty server configured like a production one: password reset by email through a real SMTP
    server (aiosmtpd; `inbox` holds what it received) with `[server] public_url`, a key-encryption key, and
    the default retention of 30 days (the seeded server keeps everything)."""

    def __init__(self, server: RunningServer, smtp: SmtpServer) -> None:
        super().__init__(server)
        self.smtp = smtp
        self.inbox = smtp.inbox


@pytest.fixture(scope="package")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    server = RunningServer(tmp_path_factory.mktemp("ui") / "data").start()
    try:
        yield UI(server, seeding.load(server))
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.fixture(scope="package")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailBox]:
    smtp = SmtpServer().start()
    root = tmp_path_factory.mktemp("ui-mail")
    kek = root / "secrets" / "kek.hex"  # outside the data dir, as the server demands
    kek.parent.mkdir()
    kek.write_text(secrets.token_bytes(32).hex())
    env = {
        "LYNEX_SMTP_ENABLED": "true",
        "LYNEX_SMTP_HOST": "127.0.0.1",
        "LYNEX_SMTP_PORT": str(smtp.port),
        "LYNEX_SMTP_SECURITY": "none",
        "LYNEX_SMTP_FROM_ADDRESS": "Lynex Box <lynex@example.test>",
        "LYNEX_ENCRYPTION_KEK_FILE": str(kek),
        "LYNEX_RETENTION_DAYS": "30",
    }
    server = RunningServer(root / "data", env=env)
    server.env["LYNEX_SERVER_PUBLIC_URL"] = server.url  # the port is chosen before the start
    try:
        server.start()
        yield MailBox(server, smtp)
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
        smtp.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Closed after the last browser test: Playwright's sync API runs an event loop in the main thread while it is
    open, and every later test that calls asyncio.run (the SDK's) would find it running."""
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A page in a fresh context; its screenshot lands in tmp_path/screenshot.png after the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    pg.screenshot(path=str(tmp_path / "screenshot.png"))
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    """Poll `check` until it returns True (anything else is what it saw, kept for the failure's message)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: {last}")
