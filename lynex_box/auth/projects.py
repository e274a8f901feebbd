"""Projects: creation in an org, and a project's settings (name, retention, hot window, raw-text sampling, ingest
rate-limit overrides).

Validation names the key and the allowed range; a change is one transaction with its audit entry,
which records each changed key's old and new value. Settings left unset (null) use the defaults of lynex.toml:
`[retention] days`, `[offload] hot_window_s` and `[limits]`.
"""

from __future__ import annotations

import time
from typing import Any, Final

import apsw

from lynex_box.auth.admin import new_id
from lynex_box.auth.errors import AdminError, NotFound
from lynex_box.auth.ratelimit import LIMIT_FIELDS, IngestLimiter
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB

MAX_RETENTION_DAYS: Final = 36_500
MAX_HOT_WINDOW_S: Final = MAX_RETENTION_DAYS * 86_400
EDITABLE: Final = ("name", "retention_days", "hot_window_s", "sample_text", "limits")


def create(conn: apsw.Connection, actor: Actor, org_id: str, name: object) -> dict[str, Any]:
    """A new project in `org_id`, inside the caller's transaction."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise AdminError("name must be a string of 1..200 characters")
    if not list(conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,))):
        raise NotFound("no organisation with that id")
    project_id = new_id("proj")
    now = time.time_ns() // 1000
    conn.execute(
        "INSERT INTO projects (id, org_id, name, created_at) VALUES (?, ?, ?, ?)",
        (project_id, org_id, name.strip(), now),
    )
    audit.record(
        conn,
        actor,
        "project.created",
        org_id=org_id,
        project_id=project_id,
        target_type="project",
        target_id=project_id,
        details={"name": name.strip()},
    )
    return {"project_id": project_id, "org_id": org_id, "name": name.strip(), "created_at": now}


def find(db: MetaDB, project_id: str) -> dict[str, Any] | None:
    """`{project_id, name, org_id}` of a project; None when there is none with that id."""
    rows = db.read("SELECT id, name, org_id FROM projects WHERE id = ?", (project_id,))
    return {"project_id": rows[0][0], "name": rows[0][1], "org_id": rows[0][2]} if rows else None


def with_org(db: MetaDB, project_id: str) -> dict[str, Any] | None:
    """`{project_id, name, org_id, org_name}` of a project and its org; None when there is none with that id."""
    rows = db.read(
        "SELECT p.id, p.name, o.id, o.name FROM projects p JOIN orgs o ON o.id = p.org_id WHERE p.id = ?", (project_id,)
    )
    return dict(zip(("project_id", "name", "org_id", "org_name"), rows[0], strict=True)) if rows else None


def _overrides(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    if not rows:
        return {k: None for k in LIMIT_FIELDS}
    return dict(zip(LIMIT_FIELDS, rows[0], strict=True))


def read(db: MetaDB, project_id: str, limiter: IngestLimiter) -> dict[str, Any]:
    rows = db.read(
        "SELECT id, org_id, name, retention_days, hot_window_s, created_at, sample_text FROM projects WHERE id = ?",
        (project_id,),
    )
    if not rows:
        raise NotFound("no project with that id")
    pid, org_id, name, retention, hot_window, created, sample_text = rows[0]
    limit_rows = db.read(f"SELECT {', '.join(LIMIT_FIELDS)} FROM project_limits WHERE project_id = ?", (pid,))
    return {
        "project_id": pid,
        "org_id": org_id,
        "name": name,
        "created_at": created,
        "retention_days": retention,
        "hot_window_s": hot_window,
        "sample_text": 1.0 if sample_text is None else float(sample_text),
        "limits": _overrides(limit_rows),
        "effective_limits": limiter.project_limits(pid).as_dict(),
    }


def _validate(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise AdminError(f"unknown setting(s) {unknown}; editable settings are {list(EDITABLE)}")
    out: dict[str, Any] = {}
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
            raise AdminError("name must be a string of 1..200 characters")
        out["name"] = name.strip()
    if "retention_days" in changes:
        out["retention_days"] = _whole(
            changes["retention_days"], MAX_RETENTION_DAYS,
            f"retention_days must be null (the default) or a whole number of days in [0, {MAX_RETENTION_DAYS}] "
            "(0 = keep forever)",
        )  # fmt: skip
    if "hot_window_s" in changes:
        out["hot_window_s"] = _whole(
            changes["hot_window_s"], MAX_HOT_WINDOW_S,
            f"hot_window_s must be null (the default) or a whole number of seconds in [0, {MAX_HOT_WINDOW_S}]",
        )  # fmt: skip
    if "sample_text" in changes:
        out["sample_text"] = _fraction(changes["sample_text"])
    if "limits" in changes:
        limits = changes["limits"]
        if not isinstance(limits, dict):
            raise AdminError(f"limits must be an object with keys from {list(LIMIT_FIELDS)}")
        bad = sorted(set(limits) - set(LIMIT_FIELDS))
        if bad:
            raise AdminError(f"unknown limit(s) {bad}; limits are {list(LIMIT_FIELDS)}")
        for key, value in limits.items():
            ok = value is None or (not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0)
            if not ok or (value is not None and value > 1e15):
                raise AdminError(f"limits.{key} must be null (use the default) or a number >= 0 (0 = unlimited)")
        out["limits"] = {k: (int(v) if k.endswith("_burst") and v is not None else v) for k, v in limits.items()}
    return out


def _whole(value: object, most: int, message: str) -> int | None:
    """`value` if it is null or an integer in [0, most], else an AdminError with `message`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise AdminError(message)
    return value


def _fraction(value: object) -> float:
    """A `sample_text` value: a number in [0, 1] (null means 1, keep all)."""
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise AdminError(
            f"sample_text must be a number in [0, 1] (the fraction of traces whose text is kept, 1 = all), "
            f"not {value!r}"
        )
    return float(value)


def update(conn: apsw.Connection, actor: Actor, project_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply validated changes; returns {key: [old, new]} of what actually changed."""
    valid = _validate(changes)
    rows = list(
        conn.execute(
            "SELECT org_id, name, retention_days, hot_window_s, sample_text FROM projects WHERE id = ?", (project_id,)
        )
    )
    if not rows:
        raise NotFound("no project with that id")
    org_id, name, retention, hot_window, sample_text = rows[0]
    sample_text = 1.0 if sample_text is None else float(sample_text)
    changed: dict[str, Any] = {}
    if "name" in valid and valid["name"] != name:
        changed["name"] = [name, valid["name"]]
        conn.execute("UPDATE projects SET name = ? WHERE id = ?", (valid["name"], project_id))
    if "retention_days" in valid and valid["retention_days"] != retention:
        changed["retention_days"] = [retention, valid["retention_days"]]
        conn.execute("UPDATE projects SET retention_days = ? WHERE id = ?", (valid["retention_days"], project_id))
    if "hot_window_s" in valid and valid["hot_window_s"] != hot_window:
        changed["hot_window_s"] = [hot_window, valid["hot_window_s"]]
        conn.execute("UPDATE projects SET hot_window_s = ? WHERE id = ?", (valid["hot_window_s"], project_id))
    if "sample_text" in valid and valid["sample_text"] != sample_text:
        changed["sample_text"] = [sample_text, valid["sample_text"]]
        stored = None if valid["sample_text"] >= 1.0 else valid["sample_text"]
        conn.execute("UPDATE projects SET sample_text = ? WHERE id = ?", (stored, project_id))
    if "limits" in valid:
        cols = ", ".join(LIMIT_FIELDS)
        old = _overrides(list(conn.execute(f"SELECT {cols} FROM project_limits WHERE project_id = ?", (project_id,))))
        new = {**old, **valid["limits"]}
        if new != old:
            changed["limits"] = [old, new]
            conn.execute(
                f"INSERT INTO project_limits (project_id, {cols}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id) DO UPDATE SET " + ", ".join(f"{k} = excluded.{k}" for k in LIMIT_FIELDS),
                (project_id, *(new[k] for k in LIMIT_FIELDS)),
            )
    if changed:
        audit.record(
            conn,
            actor,
            "project.settings_changed",
            org_id=org_id,
            project_id=project_id,
            target_type="project",
            target_id=project_id,
            details={"changed": changed},
        )
    return changed
