"""The mailer against a real aiosmtpd server: STARTTLS with a verified certificate and AUTH, retries that
happen off the caller's thread, permanent refusals not retried, and the SMTP password never logged."""

from __future__ import annotations

import logging
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from lynex_box.auth import emails
from lynex_box.config import ConfigError, SmtpSettings, load_settings
from lynex_box.mailer import Mailer, MailError
from tests.e2e.server import free_port
from tests.e2e.smtp_server import SMTP_PASSWORD, SMTP_USER, SmtpServer

SENDER = "Lynex Box <lynex@example.test>"
LINK = "https://lynex.example.test/reset-password#lxr_secret-token-value"


def _ours(caplog: pytest.LogCaptureFixture) -> str:
    """The lines our code logged (the test's SMTP server logs whole conversations under `mail.log`)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("lynex"))


def _reset(to: str = "ada@example.test") -> EmailMessage:
    return emails.password_reset(SENDER, to, LINK, 1_900_000_000_000_000)


def _tls_settings(server: SmtpServer, tmp_path: Path, password: str = SMTP_PASSWORD, **kw: object) -> SmtpSettings:
    secret = tmp_path / "smtp-password"
    secret.write_text(password + "\n")
    assert server.ca_file is not None
    values: dict[str, Any] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": server.port,
        "security": "starttls",
        "username": SMTP_USER,
        "password_file": str(secret),
        "from_address": SENDER,
        "ca_file": str(server.ca_file),
    }
    return SmtpSettings(**{**values, **kw})


def test_starttls_with_auth_delivers_and_the_password_stays_out_of_the_log(
    tls_smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(_tls_settings(tls_smtp, tmp_path))
    caplog.set_level(logging.DEBUG, logger="lynex")
    started = time.perf_counter()
    assert mailer.submit("password_reset", _reset())
    assert time.perf_counter() - started < 0.05  # the caller never waits on SMTP
    (received,) = tls_smtp.inbox.wait_for(1)
    mailer.close()
    assert received["To"] == "ada@example.test" and received["From"] == SENDER
    assert received["Subject"] == "Reset your Lynex Box password"
    assert received["Auto-Submitted"] == "auto-generated"
    assert LINK in received.get_content()
    assert tls_smtp.inbox.envelopes == [("lynex@example.test", ["ada@example.test"])]
    assert "mail sent kind=password_reset to=ada@example.test attempt=1" in _ours(caplog)
    assert SMTP_PASSWORD not in _ours(caplog) and "lxr_secret-token-value" not in _ours(caplog)


def test_a_wrong_password_is_a_permanent_failure_and_is_not_retried(
    tls_smtp: SmtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-Password-Never-Logged-99"
    mailer = Mailer(_tls_settings(tls_smtp, tmp_path, password=wrong, retries=3, retry_backoff_s=0.05))
    caplog.set_level(logging.DEBUG, logger="lynex")
    mailer.submit("password_reset", _reset())
    deadline = time.monotonic() + 5
    while "final=true" not in _ours(caplog) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # room for retries that must not happen
    mailer.close()
    assert "attempt=1 final=true error=authentication refused (535)" in _ours(caplog)
    assert len(tls_smtp.inbox.peers) == 1 and tls_smtp.inbox.messages == []  # one conversation, no retry
    assert _ours(caplog).count("mail failed") == 1
    assert wrong not in _ours(caplog)


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(plain_smtp: SmtpServer) -> None:
    settings = SmtpSettings(enabled=True, host="127.0.0.1", port=plain_smtp.port, from_address=SENDER)
    with pytest.raises(MailError, match="does not support") as info:
        Mailer(settings).send_now(_reset())
    assert info.value.permanent and plain_smtp.inbox.messages == []


def test_an_untrusted_certificate_is_refused(tls_smtp: SmtpServer, tmp_path: Path) -> None:
    settings = _tls_settings(tls_smtp, tmp_path, ca_file="")
    with pytest.raises(MailError, match="certificate not trusted"):
        Mailer(settings).send_now(_reset())
    assert tls_smtp.inbox.messages == []


def test_an_unreachable_server_is_retried_with_backoff_then_given_up(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    settings = SmtpSettings(
        enabled=True,
        host="127.0.0.1",
        port=port,
        security="none",
        from_address=SENDER,
        retries=2,
        retry_backoff_s=0.05,
        timeout_s=1,
    )
    mailer = Mailer(settings)
    caplog.set_level(logging.INFO, logger="lynex")
    started = time.perf_counter()
    mailer.submit("password_reset", _reset())
    assert time.perf_counter() - started < 0.05
    deadline = time.monotonic() + 5
    while "final=true" not in _ours(caplog) and time.monotonic() < deadline:
        time.sleep(0.02)
    mailer.close()
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mail failed")]
    assert [f.split(" final=")[0].rsplit(" ", 1)[1] for f in failures] == ["attempt=1", "attempt=2", "attempt=3"]
    assert "final=true" in failures[-1] and "final=false" in failures[0]


def test_a_server_that_comes_back_gets_the_email_on_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    server = SmtpServer()  # not started yet: the first attempt is refused
    settings = SmtpSettings(
        enabled=True, host="127.0.0.1", port=server.port, security="none", from_address=SENDER, retry_backoff_s=0.5
    )
    mailer = Mailer(settings)
    caplog.set_level(logging.INFO, logger="lynex")
    mailer.submit("invitation", _reset("grace@example.test"))
    deadline = time.monotonic() + 5
    while "mail failed" not in _ours(caplog) and time.monotonic() < deadline:
        time.sleep(0.01)
    server.start()
    try:
        (received,) = server.inbox.wait_for(1)
    finally:
        mailer.close()
        server.stop()
    assert received["To"] == "grace@example.test"
    assert "mail sent kind=invitation to=grace@example.test attempt=2" in _ours(caplog)


def test_the_queue_is_bounded_and_a_closed_mailer_takes_nothing() -> None:
    settings = SmtpSettings(
        enabled=True,
        host="127.0.0.1",
        port=free_port(),
        security="none",
        from_address=SENDER,
        max_pending=2,
        retries=20,
        retry_backoff_s=60,
        timeout_s=1,
    )
    mailer = Mailer(settings)
    assert mailer.submit("password_reset", _reset()) is True
    deadline = time.monotonic() + 10
    while not mailer._queue.empty() and time.monotonic() < deadline:  # the worker takes it (slow on a busy box)
        time.sleep(0.01)
    accepted = [mailer.submit("password_reset", _reset()) for _ in range(5)]
    # one is being delivered (stuck in its backoff), two wait: the rest are refused at once
    assert accepted == [True, True, False, False, False]
    started = time.perf_counter()
    mailer.close()
    assert time.perf_counter() - started < 2  # the backoff wait ends at close
    assert mailer.submit("password_reset", _reset()) is False


def test_header_injection_through_an_org_name_or_address_is_impossible() -> None:
    message = emails.invitation(SENDER, "ada@example.test", "Acme\r\nBcc: eve@evil.test", "member", LINK, 0)
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    with pytest.raises(ValueError, match="cannot be used as a recipient"):
        emails.invitation(SENDER, "ada@example.test\r\nBcc: eve@evil.test", "Acme", "member", LINK, 0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"enabled": "true", "from_address": "a@b.c"}, "smtp.host is empty"),
        ({"enabled": "true", "host": "mx"}, "smtp.from_address = '' must be an address"),
        (
            {"enabled": "true", "host": "mx", "from_address": "a@b.c", "password": "x", "password_file": "/p"},
            "both set",
        ),
        ({"enabled": "true", "host": "mx", "from_address": "a@b.c", "username": "u", "security": "none"}, "in clear"),
        ({"security": "tls"}, "smtp.security = 'tls' is not one of"),
    ],
)
def test_bad_smtp_settings_are_refused_at_load(values: dict[str, str], message: str) -> None:
    env = {f"LYNEX_SMTP_{k.upper()}": v for k, v in values.items()}
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_the_smtp_password_is_not_in_the_settings_repr() -> None:
    settings = load_settings(env={"LYNEX_SMTP_PASSWORD": SMTP_PASSWORD})
    assert settings.smtp.password == SMTP_PASSWORD and SMTP_PASSWORD not in repr(settings)
