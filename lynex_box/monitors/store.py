"""Monitors and their recent runs in meta.db.

Functions that change something take the writer's connection and run inside the caller's `MetaDB.write`
transaction, with the audit entry in the same transaction. Every read and write names the project, so a monitor id
of another project is simply not found. Target secrets (header values, the API key) are stored only sealed with the
alerts' `SecretBox`, bound to the monitor's id; the `target` column holds the public part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import apsw
import orjson

from lynex_box.alerts.sealing import SecretBox
from lynex_box.alerts.store import new_id, now_us
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.monitors.assertions import Assertion, parse_assertions
from lynex_box.monitors.spec import MonitorSpec, Target, with_secrets

COLUMNS: Final = (
    "id, project_id, name, enabled, interval_s, cron, timeout_s, target, sealed_target, assertions, rule_ids, "
    "created_by, created_at, updated_at, last_run_at, last_ok, last_latency_ms, last_error, last_trace_id"
)
RUN_COLUMNS: Final = (
    "id", "started_at", "ok", "latency_ms", "status_code", "assertions", "error", "trace_id", "manual",
)  # fmt: skip
MAX_PATTERN_STORED: Final = 10_000  # patterns were checked against the limit when saved


class MonitorLimitReached(Exception):
    """The project has as many monitors as `[monitors] max_monitors_per_project` allows."""


class NameTaken(Exception):
    """Another monitor of the project has this name (its spans are named after it)."""


@dataclass(frozen=True, slots=True)
class StoredMonitor:
    id: str
    project_id: str
    spec: MonitorSpec
    sealed: bytes | None
    rule_ids: tuple[str, ...]
    created_by: str
    created_at: int
    updated_at: int
    last: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": s.name,
            "enabled": s.enabled,
            "interval_s": s.interval_s,
            "cron": s.cron,
            "timeout_s": s.timeout_s,
            "target": s.target.public(),
            "assertions": [a.public() for a in s.assertions],
            "rule_ids": list(self.rule_ids),
            "span_name": span_name(s.name),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_run": self.last or None,
        }

    def due(self, at_us: int) -> bool:
        """Is a scheduled run due at `at_us`? Interval monitors after `interval_s`, cron monitors at a fire time
        passed since their last run (a new monitor runs at once)."""
        last = self.last.get("started_at")
        if last is None:
            return True
        if self.spec.cron is None:
            return bool(last + self.spec.interval_s * 1_000_000 <= at_us)
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(self.spec.cron, timezone=UTC)
        since = datetime.fromtimestamp(last / 1e6, UTC)
        fire = trigger.get_next_fire_time(None, since)
        return fire is not None and fire.timestamp() * 1e6 <= at_us and fire > since


def span_name(name: str) -> str:
    """The root span of every run of monitor `name` (alert rules filter on it)."""
    return f"synthetic {name}"


def _public_target(doc: dict[str, Any], header_names: list[str]) -> Target:
    kind = doc["type"]
    headers = {n: "" for n in header_names}
    if kind == "http":
        return Target("http", doc["url"], doc["method"], doc.get("body"), headers=headers)
    messages = tuple(doc.get("messages") or ())
    key = "x" if doc.get("api_key_set") else None
    return Target("model", doc["base_url"], model=doc["model"], messages=messages,
                  max_tokens=doc.get("max_tokens"), headers=headers, api_key=key)  # fmt: skip


def _monitor(row: tuple[Any, ...]) -> StoredMonitor:
    (mid, pid, name, enabled, interval_s, cron, timeout_s, target, sealed, assertions, rule_ids, created_by,
     created_at, updated_at, last_run_at, last_ok, last_latency_ms, last_error, last_trace_id) = row  # fmt: skip
    tdoc = orjson.loads(target)
    public = _public_target(tdoc, tdoc.get("header_names", []))
    parsed: tuple[Assertion, ...] = parse_assertions(orjson.loads(assertions), public.type, MAX_PATTERN_STORED)
    spec = MonitorSpec(name, interval_s, timeout_s, public, parsed, cron, bool(enabled))
    last: dict[str, Any] = {}
    if last_run_at is not None:
        last = {"started_at": last_run_at, "ok": bool(last_ok), "latency_ms": last_latency_ms,
                "error": last_error, "trace_id": last_trace_id}  # fmt: skip
    rules = tuple(orjson.loads(rule_ids))
    return StoredMonitor(mid, pid, spec, sealed, rules, created_by, created_at, updated_at, last)


def open_target(monitor: StoredMonitor, box: SecretBox) -> Target:
    """The monitor's target with its header values and API key (SealError when the key does not open them)."""
    secrets_doc = orjson.loads(box.open(monitor.sealed, monitor.id)) if monitor.sealed else {}
    return with_secrets(monitor.spec.target, secrets_doc)


def _columns(monitor_id: str, spec: MonitorSpec, box: SecretBox) -> tuple[Any, ...]:
    """name .. assertions, in table order (inserts and updates share it)."""
    target = spec.target
    has_secrets = bool(target.headers) or bool(target.api_key)
    sealed = box.seal(orjson.dumps(target.secrets()), monitor_id) if has_secrets else None
    return (
        spec.name, int(spec.enabled), spec.interval_s, spec.cron, spec.timeout_s,
        orjson.dumps(target.public()).decode(), sealed, orjson.dumps([a.public() for a in spec.assertions]).decode(),
    )  # fmt: skip


def _details(spec: MonitorSpec) -> dict[str, Any]:
    # no header values, no key, no URL query: only what identifies the monitor
    return {"name": spec.name, "target_type": spec.target.type, "interval_s": spec.interval_s, "cron": spec.cron,
            "enabled": spec.enabled, "assertions": [a.type for a in spec.assertions]}  # fmt: skip


def get(conn: apsw.Connection, project_id: str, monitor_id: str) -> StoredMonitor | None:
    sql = f"SELECT {COLUMNS} FROM monitors WHERE project_id = ? AND id = ?"
    rows = list(conn.execute(sql, (project_id, monitor_id)))
    return _monitor(rows[0]) if rows else None


def list_monitors(conn: apsw.Connection, project_id: str) -> list[StoredMonitor]:
    sql = f"SELECT {COLUMNS} FROM monitors WHERE project_id = ? ORDER BY created_at, id"
    return [_monitor(r) for r in conn.execute(sql, (project_id,))]


def due_monitors(conn: apsw.Connection, at_us: int) -> list[StoredMonitor]:
    """Enabled monitors of every project whose run may be due at `at_us` (interval monitors exactly; cron monitors
    are all returned and judged by `StoredMonitor.due`)."""
    sql = (
        f"SELECT {COLUMNS} FROM monitors WHERE enabled = 1 AND (cron IS NOT NULL OR last_run_at IS NULL OR "
        "last_run_at + interval_s * 1000000 <= ?) ORDER BY last_run_at"
    )
    return [_monitor(r) for r in conn.execute(sql, (at_us,))]


def _name_taken(conn: apsw.Connection, project_id: str, name: str, monitor_id: str) -> bool:
    sql = "SELECT 1 FROM monitors WHERE project_id = ? AND name = ? AND id != ?"
    return bool(list(conn.execute(sql, (project_id, name, monitor_id))))


def create(
    conn: apsw.Connection, box: SecretBox, project_id: str, spec: MonitorSpec, actor: Actor, max_monitors: int
) -> StoredMonitor:
    count = next(iter(conn.execute("SELECT count(*) FROM monitors WHERE project_id = ?", (project_id,))))[0]
    if count >= max_monitors:
        raise MonitorLimitReached(f"this project has {count} monitors; the limit is {max_monitors}")
    monitor_id, at = new_id("mon"), now_us()
    if _name_taken(conn, project_id, spec.name, monitor_id):
        raise NameTaken(f"a monitor named {spec.name!r} exists in this project; pick another name")
    conn.execute(
        "INSERT INTO monitors (id, project_id, name, enabled, interval_s, cron, timeout_s, target, sealed_target, "
        "assertions, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (monitor_id, project_id, *_columns(monitor_id, spec, box), actor.label, at, at),
    )
    audit.record(conn, actor, "monitor.created", project_id=project_id, target_type="monitor",
                 target_id=monitor_id, details=_details(spec))  # fmt: skip
    found = get(conn, project_id, monitor_id)
    assert found is not None
    return found


def update(
    conn: apsw.Connection, box: SecretBox, monitor: StoredMonitor, spec: MonitorSpec, actor: Actor, changed: list[str]
) -> StoredMonitor:
    """Store `spec` (validated against `monitor` as it was read in this transaction) and audit the change."""
    if _name_taken(conn, monitor.project_id, spec.name, monitor.id):
        raise NameTaken(f"a monitor named {spec.name!r} exists in this project; pick another name")
    conn.execute(
        "UPDATE monitors SET name = ?, enabled = ?, interval_s = ?, cron = ?, timeout_s = ?, target = ?, "
        "sealed_target = ?, assertions = ?, updated_at = ? WHERE id = ? AND project_id = ?",
        (*_columns(monitor.id, spec, box), now_us(), monitor.id, monitor.project_id),
    )
    audit.record(conn, actor, "monitor.updated", project_id=monitor.project_id, target_type="monitor",
                 target_id=monitor.id, details=_details(spec) | {"changed": sorted(changed)})  # fmt: skip
    found = get(conn, monitor.project_id, monitor.id)
    assert found is not None
    return found


def set_rules(conn: apsw.Connection, monitor: StoredMonitor, rule_ids: list[str]) -> StoredMonitor:
    conn.execute("UPDATE monitors SET rule_ids = ? WHERE id = ?", (orjson.dumps(rule_ids).decode(), monitor.id))
    return replace(monitor, rule_ids=tuple(rule_ids))


def delete(conn: apsw.Connection, monitor: StoredMonitor, actor: Actor) -> None:
    """Remove the monitor with its runs (ON DELETE CASCADE); the audit log keeps the record."""
    conn.execute("DELETE FROM monitors WHERE id = ? AND project_id = ?", (monitor.id, monitor.project_id))
    audit.record(conn, actor, "monitor.deleted", project_id=monitor.project_id, target_type="monitor",
                 target_id=monitor.id, details={"name": monitor.spec.name})  # fmt: skip


def record_run(conn: apsw.Connection, monitor: StoredMonitor, run: dict[str, Any], keep: int) -> bool:
    """Record one run and the monitor's last result, keeping the newest `keep` runs; False when the monitor was
    deleted meanwhile."""
    if not list(conn.execute("SELECT 1 FROM monitors WHERE id = ?", (monitor.id,))):
        return False
    conn.execute(
        "INSERT INTO monitor_runs (id, monitor_id, project_id, started_at, ok, latency_ms, status_code, assertions, "
        "error, trace_id, manual) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run["id"], monitor.id, monitor.project_id, run["started_at"], int(run["ok"]), run["latency_ms"],
         run["status_code"], orjson.dumps(run["assertions"]).decode(), run["error"], run["trace_id"],
         int(run["manual"])),
    )  # fmt: skip
    conn.execute(
        "UPDATE monitors SET last_run_at = ?, last_ok = ?, last_latency_ms = ?, last_error = ?, last_trace_id = ? "
        "WHERE id = ?",
        (run["started_at"], int(run["ok"]), run["latency_ms"], run["error"], run["trace_id"], monitor.id),
    )
    conn.execute(
        "DELETE FROM monitor_runs WHERE monitor_id = ? AND id NOT IN "
        "(SELECT id FROM monitor_runs WHERE monitor_id = ? ORDER BY started_at DESC LIMIT ?)",
        (monitor.id, monitor.id, keep),
    )
    return True


def list_runs(conn: apsw.Connection, project_id: str, monitor_id: str, limit: int) -> list[dict[str, Any]]:
    sql = (
        f"SELECT {', '.join(RUN_COLUMNS)} FROM monitor_runs WHERE project_id = ? AND monitor_id = ? "
        "ORDER BY started_at DESC LIMIT ?"
    )
    out = []
    for row in conn.execute(sql, (project_id, monitor_id, limit)):
        item = dict(zip(RUN_COLUMNS, row, strict=True))
        item["ok"], item["manual"] = bool(item["ok"]), bool(item["manual"])
        results = orjson.loads(item.pop("assertions"))
        item["assertions"] = results
        item["failed"] = [r for r in results if not r["ok"]]
        out.append(item)
    return out
