from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.email.smtp_server import SmtpServer

SMTP_USER = "lynex-mailer"
SMTP_PASSWORD = "Smtp-Secret-Do-Not-Log-7f3a"


@pytest.fixture
def plain_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    """STARTTLS required, AUTH required (SMTP_USER / SMTP_PASSWORD), a self-signed certificate."""
    server = SmtpServer(tmp_path, SMTP_USER, SMTP_PASSWORD).start()
    yield server
    server.stop()
