"""Fixtures shared by more than one test folder: a meta.db on a temporary path (and an org in it) and the real SMTP
servers.

A fixture used by one folder lives in that folder's conftest.py; it moves here only when a second folder needs it
(tests mirror the package, so a test of `meta/audit.py` in `tests/meta/` and one of `auth/` in `tests/auth/` both
open a meta.db)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lynex_box.auth.admin import create_org, create_project, create_user
from lynex_box.meta.db import MetaDB
from tests.e2e.smtp_server import SMTP_PASSWORD, SMTP_USER, SmtpServer


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MetaDB]:
    meta = MetaDB(tmp_path / "meta.db")
    yield meta
    meta.close()


@pytest.fixture
def org(db: MetaDB) -> dict[str, str]:
    """An org with a project and one user per role (passwords are the role name repeated)."""
    org_id = create_org(db, "Acme")
    out = {
        "org": org_id,
        "project": create_project(db, "web", org_id),
        "other_project": create_project(db, "x", org_id),
    }
    for role in ("owner", "admin", "member", "viewer"):
        out[role] = create_user(db, f"{role}@acme.io", role * 4, org_id, role)
    return out


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
