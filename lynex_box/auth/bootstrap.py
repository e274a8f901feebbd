"""First start: a default org, project, admin user and API key, created once and shown once.

They are printed, and also written to `first-start-credentials.json` in the data dir (0600, like every file there):
a container's or a service's first start has nobody watching its output, and its log may be shipped elsewhere
and lost. The file is never read back; the operator deletes it once the credentials are saved.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from lynex_box import fsutil
from lynex_box.auth.admin import create_key, create_org, create_project, create_user, get_setting, set_setting
from lynex_box.meta.db import MetaDB

DEFAULT_ADMIN_EMAIL = "admin@lynex.local"
CREDENTIALS_FILE = "first-start-credentials.json"


@dataclass(frozen=True, slots=True)
class Bootstrap:
    project_id: str
    api_key: str
    admin_email: str
    admin_password: str

    def as_dict(self) -> dict[str, str]:
        return {
            "project_id": self.project_id,
            "api_key": self.api_key,
            "admin_email": self.admin_email,
            "admin_password": self.admin_password,
        }


def default_project_id(db: MetaDB) -> str | None:
    return get_setting(db, "default_project_id")


def bootstrap_if_empty(db: MetaDB) -> Bootstrap | None:
    """Create the defaults on an empty instance; None if it was already initialised."""
    if default_project_id(db) is not None:
        return None
    org_id = create_org(db, "Default")
    project_id = create_project(db, "default", org_id)
    password = secrets.token_urlsafe(15)
    # printed and saved in a file: the first sign-in must replace it before anything else (docs/security.md)
    create_user(db, DEFAULT_ADMIN_EMAIL, password, org_id, "owner", must_change=True)
    key = create_key(db, project_id, "admin", name="bootstrap")
    db.write(lambda c: set_setting(c, "default_project_id", project_id))
    return Bootstrap(project_id, key.api_key, DEFAULT_ADMIN_EMAIL, password)


def write_credentials_file(data_dir: Path, created: Bootstrap) -> Path:
    """Write the first-start credentials to `data_dir/first-start-credentials.json` (0600, durably)."""
    path = data_dir / CREDENTIALS_FILE
    with fsutil.atomic_write(path) as handle:
        handle.write(json.dumps(created.as_dict(), indent=2).encode() + b"\n")
    return path
