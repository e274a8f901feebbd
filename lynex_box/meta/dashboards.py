"""A project's custom dashboard in meta.db (`project_dashboards`): its charts as one JSON document per project.

The document is validated by the API (api/admin/dashboards.py) before it gets here; this module only stores and
reads it, and audits a save (`dashboard.saved`) in the same transaction. The row travels in the cluster's metadata
log (cluster/metatables.py), so every node serves the same dashboard. It must never build SQL from the document.
"""

from __future__ import annotations

import time
from typing import Any

import apsw
import orjson

from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB


def read(db: MetaDB, project_id: str) -> dict[str, Any]:
    """The stored dashboard (`charts`, `updated_at`, `updated_by`), or an empty one never saved (nulls)."""
    rows = db.read("SELECT doc, updated_at, updated_by FROM project_dashboards WHERE project_id = ?", (project_id,))
    if not rows:
        return {"charts": [], "updated_at": None, "updated_by": None}
    doc, updated_at, updated_by = rows[0]
    return {**orjson.loads(doc), "updated_at": int(updated_at), "updated_by": str(updated_by)}


def save(db: MetaDB, project_id: str, doc: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Replace the project's dashboard with `doc` (already validated) and audit it, in one transaction."""
    now = time.time_ns() // 1000
    text = orjson.dumps(doc).decode()

    def tx(conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO project_dashboards (project_id, doc, updated_at, updated_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (project_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (project_id, text, now, actor.label),
        )
        audit.record(
            conn, actor, "dashboard.saved", project_id=project_id, target_type="project", target_id=project_id,
            details={"charts": len(doc.get("charts", []))},
        )  # fmt: skip

    db.write(tx)
    return {**doc, "updated_at": now, "updated_by": actor.label}
