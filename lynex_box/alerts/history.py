"""Firings and delivery records of alert rules in meta.db: listing them for the API, recording attempts.

Writers take the writer's connection inside the caller's `MetaDB.write`; every query names the project (or a
delivery id the deliverer created), so another project's rows are never listed.
"""

from __future__ import annotations

from typing import Any, Final

import apsw

from lynex_box.alerts.rules import Channel
from lynex_box.alerts.store import FIRING_COLUMNS, StoredRule, new_id, now_us

DELIVERY_COLUMNS: Final = (
    "id",
    "rule_id",
    "firing_id",
    "channel_id",
    "channel_type",
    "event",
    "status",
    "attempts",
    "response_status",
    "last_error",
    "created_at",
    "updated_at",
)
MAX_PAGE: Final = 500


def list_firings(
    conn: apsw.Connection, project_id: str, rule_id: str | None, before: tuple[int, str] | None, limit: int
) -> list[dict[str, Any]]:
    where: list[str] = ["f.project_id = ?"]
    params: list[Any] = [project_id]
    if rule_id:
        where.append("f.rule_id = ?")
        params.append(rule_id)
    if before is not None:
        where.append("(f.started_at < ? OR (f.started_at = ? AND f.id < ?))")
        params.extend([before[0], before[0], before[1]])
    cols = ", ".join(f"f.{c}" for c in FIRING_COLUMNS)
    sql = (
        f"SELECT {cols}, r.name FROM alert_firings f JOIN alert_rules r ON r.id = f.rule_id "
        f"WHERE {' AND '.join(where)} ORDER BY f.started_at DESC, f.id DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*params, min(limit, MAX_PAGE)))
    return [dict(zip((*FIRING_COLUMNS, "rule_name"), r, strict=True)) for r in rows]


def list_deliveries(
    conn: apsw.Connection,
    project_id: str,
    rule_id: str | None,
    status: str | None,
    before: tuple[int, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    where: list[str] = ["project_id = ?"]
    params: list[Any] = [project_id]
    if rule_id:
        where.append("rule_id = ?")
        params.append(rule_id)
    if status:
        where.append("status = ?")
        params.append(status)
    if before is not None:
        where.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params.extend([before[0], before[0], before[1]])
    sql = (
        f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM alert_deliveries WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*params, min(limit, MAX_PAGE)))
    return [dict(zip(DELIVERY_COLUMNS, r, strict=True)) for r in rows]


def add_delivery(conn: apsw.Connection, rule: StoredRule, firing_id: str | None, channel: Channel, event: str) -> str:
    delivery_id, at = new_id("dlv"), now_us()
    conn.execute(
        "INSERT INTO alert_deliveries (id, rule_id, project_id, firing_id, channel_id, channel_type, event, status, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (delivery_id, rule.id, rule.project_id, firing_id, channel.id, channel.type, event, at, at),
    )
    return delivery_id


def record_attempt(
    conn: apsw.Connection,
    delivery_id: str,
    status: str,
    attempts: int,
    response_status: int | None,
    error: str | None,
) -> None:
    conn.execute(
        "UPDATE alert_deliveries SET status = ?, attempts = ?, response_status = ?, last_error = ?, updated_at = ? "
        "WHERE id = ?",
        (status, attempts, response_status, error[:500] if error else None, now_us(), delivery_id),
    )


def fail_interrupted(conn: apsw.Connection) -> int:
    """Deliveries left pending by a stopped process are failed, so none shows as forever in progress."""
    conn.execute(
        "UPDATE alert_deliveries SET status = 'failed', updated_at = ?, "
        "last_error = coalesce(last_error || '; ', '') || 'the server stopped before this delivery completed' "
        "WHERE status = 'pending'",
        (now_us(),),
    )
    return conn.changes()


def prune(conn: apsw.Connection, older_than_us: int) -> None:
    conn.execute("DELETE FROM alert_deliveries WHERE updated_at < ? AND status != 'pending'", (older_than_us,))
    conn.execute("DELETE FROM alert_firings WHERE state = 'resolved' AND resolved_at < ?", (older_than_us,))
