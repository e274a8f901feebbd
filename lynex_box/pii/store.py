"""Projects' PII settings in meta.db (`project_pii`), their change (API and CLI), and their reload into the stage.

Writers are the API (the server's MetaDB) and the CLI (another process while the server runs), so the server
polls (`PiiReloader.reload`, as a job every few seconds, right after an API write, and when the cluster's
metadata log changes the table) as the custom prices do. A stored setting that no longer validates (a limit
lowered since) keeps its mode without its custom parts, and says so in the log: a project in redact mode never
falls back to storing raw text.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

import apsw
import orjson

from lynex_box.auth.errors import NotFound
from lynex_box.config import PiiSettings
from lynex_box.jobs import Job
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB
from lynex_box.pii.policy import MODES, PiiPolicy, PolicyError, parse_policy
from lynex_box.pii.stage import PiiStage

log = logging.getLogger("lynex.pii")
RELOAD_S: Final = 2.0  # a setting the CLI writes applies within this
_LOOSE: Final = PiiSettings(max_custom_patterns=256, max_pattern_chars=4096, max_masked_keys=1024)


def _policy(row: tuple[Any, ...]) -> PiiPolicy:
    project_id, mode, patterns, keys = row
    doc = {"mode": mode, "custom_patterns": orjson.loads(patterns), "masked_keys": orjson.loads(keys)}
    try:
        return parse_policy(doc, _LOOSE)
    except PolicyError as exc:
        log.error("pii setting of project %s not applied in full (mode kept) error=%s", project_id, exc)
        return PiiPolicy(mode if mode in MODES else "redact")


def read_policies(db: MetaDB) -> dict[str, PiiPolicy]:
    """Every project's stored policy (a project without a row has none: `[pii] default_mode` applies)."""
    rows = db.read("SELECT project_id, mode, custom_patterns, masked_keys FROM project_pii")
    return {row[0]: _policy(row) for row in rows}


def read_policy(db: MetaDB, project_id: str, settings: PiiSettings) -> dict[str, Any]:
    """A project's setting as the API shows it: the stored one (or the default) and whether it is the default."""
    rows = db.read(
        "SELECT project_id, mode, custom_patterns, masked_keys FROM project_pii WHERE project_id = ?", (project_id,)
    )
    policy = _policy(rows[0]) if rows else PiiPolicy(settings.default_mode)
    return {**policy.as_dict(), "default_mode": settings.default_mode, "is_default": not rows}


def update(
    conn: apsw.Connection, actor: Actor, project_id: str, change: object, settings: PiiSettings
) -> dict[str, Any]:
    """Apply a (partial) PII setting in the caller's transaction, with its audit entry; {"pii": [old, new]} or {}."""
    project = list(conn.execute("SELECT org_id FROM projects WHERE id = ?", (project_id,)))
    if not project:
        raise NotFound("no project with that id")
    rows = list(
        conn.execute(
            "SELECT project_id, mode, custom_patterns, masked_keys FROM project_pii WHERE project_id = ?",
            (project_id,),
        )
    )
    old = _policy(rows[0]) if rows else PiiPolicy(settings.default_mode)
    new = parse_policy(change, settings, old)
    if rows and new == old:
        return {}
    doc = new.as_dict()
    conn.execute(
        "INSERT INTO project_pii (project_id, mode, custom_patterns, masked_keys, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (project_id) DO UPDATE SET mode = excluded.mode, custom_patterns = excluded.custom_patterns, "
        "masked_keys = excluded.masked_keys, updated_at = excluded.updated_at",
        (
            project_id,
            new.mode,
            orjson.dumps(doc["custom_patterns"]).decode(),
            orjson.dumps(doc["masked_keys"]).decode(),
            time.time_ns() // 1000,
        ),
    )
    changed = {"pii": [old.as_dict(), doc]}
    audit.record(
        conn,
        actor,
        "project.settings_changed",
        org_id=project[0][0],
        project_id=project_id,
        target_type="project",
        target_id=project_id,
        details={"changed": changed},
    )
    return changed


class PiiReloader:
    """Reads every project's policy and hands them to the stage when they differ from the last ones applied.
    Safe from several threads (the scheduler, an API write, the cluster's log): one reload at a time."""

    def __init__(self, db: MetaDB, stage: PiiStage) -> None:
        self.db = db
        self.stage = stage
        self._current: Mapping[str, PiiPolicy] | None = None
        self._lock = threading.Lock()

    def reload(self) -> bool:
        with self._lock:
            policies = read_policies(self.db)
            if policies == self._current:
                return False
            self.stage.set_policies(policies)
            self._current = policies
            log.info("pii settings loaded projects=%d", len(policies))
            return True

    def jobs(self) -> list[Job]:
        return [Job.blocking("reload_pii", self.reload, RELOAD_S)]
