from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lynex_box.auth.admin import create_org, create_project, create_user
from lynex_box.meta.db import MetaDB


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
