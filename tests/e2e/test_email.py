"""Invitations and password resets by email through the real server and a real SMTP server (aiosmtpd with
STARTTLS and AUTH): the emailed links work through the API, a reset token works once and expires, unknown
emails get the same answer and no mail, requests are limited, and no secret reaches the log or audit log."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import apsw
import httpx
import pytest

from tests.e2e.accounts import PASSWORD, Browsers, me
from tests.e2e.server import RunningServer
from tests.e2e.smtp_server import SMTP_PASSWORD, SMTP_USER, SmtpServer

PER_EMAIL = 2
PER_IP = 8


def _smtp_env(smtp: SmtpServer) -> dict[str, str]:
    assert smtp.ca_file is not None
    return {
        "LYNEX_SMTP_ENABLED": "true",
        "LYNEX_SMTP_HOST": "127.0.0.1",
        "LYNEX_SMTP_PORT": str(smtp.port),
        "LYNEX_SMTP_SECURITY": "starttls",
        "LYNEX_SMTP_USERNAME": SMTP_USER,
        "LYNEX_SMTP_PASSWORD": SMTP_PASSWORD,
        "LYNEX_SMTP_FROM_ADDRESS": "Lynex Box <lynex@example.test>",
        "LYNEX_SMTP_CA_FILE": str(smtp.ca_file),
        "LYNEX_SMTP_RETRY_BACKOFF_S": "0.2",
        "LYNEX_AUTH_EMAIL_RESET_PER_EMAIL_PER_HOUR": str(PER_EMAIL),
        "LYNEX_AUTH_EMAIL_RESET_PER_IP_PER_HOUR": str(PER_IP),
    }


@pytest.fixture
def mail_server(tls_smtp: SmtpServer, tmp_path: Path) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path / "data", env=_smtp_env(tls_smtp))
    server.env["LYNEX_SERVER_PUBLIC_URL"] = server.url  # the port is chosen before the start
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


def _link(message: EmailMessage, kind: str) -> tuple[str, str]:
    """(the link, its token) in an email's body."""
    found = re.search(r"(\S+/" + kind + r"#(lx[ir]_[\w-]+))", message.get_content())
    assert found is not None, message.get_content()
    return found.group(1), found.group(2)


def test_an_invitation_naming_an_email_is_emailed_and_its_link_joins_through_the_api(
    mail_server: RunningServer, tls_smtp: SmtpServer
) -> None:
    web = Browsers(mail_server)
    try:
        admin = web.admin()
        org = me(admin)["orgs"][0]
        linkless = admin.post(f"/api/orgs/{org['id']}/invitations", json={"role": "viewer"})
        assert linkless.status_code == 201 and linkless.json()["emailed"] is False
        r = admin.post(f"/api/orgs/{org['id']}/invitations", json={"role": "member", "email": "ada@example.test"})
        assert r.status_code == 201 and r.json()["emailed"] is True
        (message,) = tls_smtp.inbox.wait_for(1)  # the invitation without an email sent nothing before it
        assert message["To"] == "ada@example.test" and message["From"] == "Lynex Box <lynex@example.test>"
        assert message["Subject"] == f"Invitation to {org['name']} on Lynex Box"
        url, token = _link(message, "invite")
        assert url == r.json()["url"] and url.startswith(f"{mail_server.url}/invite#")
        opened = web.new().get(url.split("#")[0], follow_redirects=False)
        assert opened.status_code == 307 and opened.headers["location"] == "/ui/invite"
        ada = web.new()
        offer = ada.post("/api/invitations/lookup", json={"token": token})
        assert offer.status_code == 200 and offer.json()["email"] == "ada@example.test"
        joined = ada.post("/api/invitations/accept", json={"token": token, "password": PASSWORD})
        assert joined.status_code == 201, joined.text
        assert joined.json()["user"]["email"] == "ada@example.test" and joined.json()["joined"]["role"] == "member"
        assert web.login("ada@example.test", PASSWORD).get("/api/auth/me").json()["orgs"][0]["role"] == "member"
    finally:
        web.close()


def _forgot(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/api/auth/password/forgot", json={"email": email})


def test_password_reset_by_email_once_expiring_limited_and_secret_free(
    mail_server: RunningServer, tls_smtp: SmtpServer
) -> None:
    web = Browsers(mail_server)
    inbox = tls_smtp.inbox
    secrets = [SMTP_PASSWORD, PASSWORD]
    new_password = "a brand new passphrase 42"
    secrets.append(new_password)
    try:
        admin = web.admin()
        org = me(admin)["orgs"][0]["id"]
        ada, _ = web.invite(admin, org, "ada@example.test", "member")  # email 1: the invitation
        secrets.append(_link(inbox.wait_for(1)[0], "invite")[1])
        anonymous = web.new()
        requests = 0

        unknown = _forgot(anonymous, "nobody@example.test")
        known = _forgot(anonymous, "ADA@Example.test")  # emails match without regard to case
        requests += 2
        assert unknown.status_code == known.status_code == 202
        assert unknown.json() == known.json()
        messages = inbox.wait_for(2)  # FIFO: had the unknown email produced a mail, it would be this one
        assert messages[1]["To"] == "ada@example.test"
        assert messages[1]["Subject"] == "Reset your Lynex Box password"
        url, token = _link(messages[1], "reset-password")
        secrets.append(token)
        assert url.startswith(f"{mail_server.url}/reset-password#")

        done = anonymous.post("/api/auth/password/reset", json={"token": token, "password": new_password})
        assert done.status_code == 204, done.text
        assert ada.get("/api/auth/me").status_code == 401  # the reset ended every session of the user
        assert (
            anonymous.post("/api/auth/login", json={"email": "ada@example.test", "password": PASSWORD}).status_code
            == 401
        )
        web.login("ada@example.test", new_password)
        again = anonymous.post("/api/auth/password/reset", json={"token": token, "password": "yet another one!!"})
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"

        assert _forgot(anonymous, "ada@example.test").status_code == 202
        requests += 1
        _, expiring = _link(inbox.wait_for(3)[2], "reset-password")
        secrets.append(expiring)
        db = apsw.Connection(str(mail_server.data_dir / "meta.db"))
        db.set_busy_timeout(5000)
        db.execute("UPDATE password_resets SET expires_at = 1 WHERE created_by = 'email' AND used_at IS NULL")
        db.close()
        expired = anonymous.post("/api/auth/password/reset", json={"token": expiring, "password": "yet another one!!"})
        assert expired.status_code == 404 and "expired" in expired.json()["error"]["message"]

        # ada has had PER_EMAIL reset emails this hour: a further request answers the same and sends nothing
        over = _forgot(anonymous, "ada@example.test")
        assert _forgot(anonymous, mail_server.creds["admin_email"]).status_code == 202
        requests += 2
        assert over.status_code == 202 and over.json() == unknown.json()
        assert inbox.wait_for(4)[3]["To"] == mail_server.creds["admin_email"]
        secrets.append(_link(inbox.messages[3], "reset-password")[1])

        bad = _forgot(anonymous, "not an email")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        while requests < PER_IP:
            assert _forgot(anonymous, f"u{requests}@example.test").status_code == 202
            requests += 1
        limited = _forgot(anonymous, "nobody@example.test")
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert 0 < int(limited.headers["Retry-After"]) <= 3600

        audit = web.admin().get(f"/api/orgs/{org}/audit", params={"limit": 500, "action": "password.reset_requested"})
        outcomes = sorted(e["details"]["outcome"] for e in audit.json()["items"])
        assert outcomes == ["rate_limited", "sent", "sent", "sent"]  # ada's three and the admin's
        time.sleep(0.5)  # the last mail log lines
    finally:
        web.close()
        mail_server.stop()

    assert len(inbox.messages) == 4
    log = mail_server.log_path.read_text()
    assert "mail sent kind=password_reset to=ada@example.test" in log
    db = apsw.Connection(str(mail_server.data_dir / "meta.db"), flags=apsw.SQLITE_OPEN_READONLY)
    audit_rows = "\n".join(repr(row) for row in db.execute("SELECT * FROM audit_log"))
    db.close()
    assert "password.reset_requested" in audit_rows and "nobody@example.test" not in audit_rows
    for secret in secrets:
        assert secret not in log, "a secret is in the server log"
        assert secret not in audit_rows, "a secret is in the audit log"
        assert secret not in audit.text, "a secret is in the audit API"


def test_without_smtp_or_public_url_reset_by_email_is_off_and_invitations_are_not_emailed(
    tmp_path: Path, tls_smtp: SmtpServer
) -> None:
    server = RunningServer(tmp_path / "data", env=_smtp_env(tls_smtp)).start()  # smtp on, public_url unset
    web = Browsers(server)
    try:
        off = _forgot(web.new(), server.creds["admin_email"])
        assert off.status_code == 404 and off.json()["error"]["code"] == "not_enabled"
        admin = web.admin()
        org = me(admin)["orgs"][0]["id"]
        r = admin.post(f"/api/orgs/{org}/invitations", json={"role": "member", "email": "ada@example.test"})
        assert r.json()["emailed"] is True  # invitations use the admin's own request address
        assert tls_smtp.inbox.wait_for(1)[0]["To"] == "ada@example.test"
    finally:
        web.close()
        server.stop()
    assert "password reset by email stays off" in server.log_path.read_text()

    plain = RunningServer(tmp_path / "plain")
    plain.env["LYNEX_SERVER_PUBLIC_URL"] = plain.url
    plain.start()
    web = Browsers(plain)
    try:
        off = _forgot(web.new(), plain.creds["admin_email"])
        assert off.status_code == 404 and off.json()["error"]["code"] == "not_enabled"
        admin = web.admin()
        org = me(admin)["orgs"][0]["id"]
        r = admin.post(f"/api/orgs/{org}/invitations", json={"role": "member", "email": "ada@example.test"})
        assert r.status_code == 201 and r.json()["emailed"] is False and r.json()["token"].startswith("lxi_")
    finally:
        web.close()
        plain.stop()
