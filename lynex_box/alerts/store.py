"""Alert rules and their state transitions in meta.db (firing lists and delivery records: history.py).

Functions that change something take the writer's connection and run inside the caller's `MetaDB.write`
transaction, with the audit entry of a rule change in the same transaction. Every read and write names the
project, so a rule id of another project is simply not found. Channel URLs and signing secrets are stored
only sealed (`sealing.py`); the `channels` column holds their public, redacted form.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Final

import apsw
import orjson

from lynex_box.alerts.rules import Channel, RuleError, RuleLimits, RuleSpec, breached, parse_rule
from lynex_box.alerts.sealing import SecretBox
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor

RULE_COLUMNS: Final = (
    "id, project_id, name, enabled, metric, window_s, filters, comparison, threshold, interval_s, renotify_s, "
    "channels, sealed_channels, state, last_value, last_evaluated_at, last_error, created_by, created_at, updated_at"
)
FIRING_COLUMNS: Final = (
    "id",
    "rule_id",
    "state",
    "value",
    "threshold",
    "started_at",
    "resolved_at",
    "resolved_value",
    "last_notified_at",
)


class RuleLimitReached(Exception):
    """The project has as many rules as `[alerts] max_rules_per_project` allows."""


def now_us() -> int:
    return time.time_ns() // 1000


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule as stored: its spec (channels without URL and secret until `open_channels`) and its state."""

    id: str
    project_id: str
    spec: RuleSpec
    sealed: bytes | None
    state: str
    last_value: float | None
    last_evaluated_at: int | None
    last_error: str | None
    created_by: str
    created_at: int
    updated_at: int

    def as_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": s.name,
            "enabled": s.enabled,
            "metric": s.metric,
            "window_s": s.window_s,
            "filters": s.filters,
            "comparison": s.comparison,
            "threshold": s.threshold,
            "interval_s": s.interval_s,
            "renotify_s": s.renotify_s,
            "channels": [c.public() for c in s.channels],
            "state": self.state,
            "last_value": self.last_value,
            "last_evaluated_at": self.last_evaluated_at,
            "last_error": self.last_error,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _public_channel(item: dict[str, Any]) -> Channel:
    # the stored public form is what the API shows; the settings that are not secret (email's `to`, a severity)
    # are in it too, and `open_channels` adds the sealed ones
    shown = {k: v for k, v in item.items() if k not in ("id", "type")}
    return Channel(item["id"], item["type"], config=shown, shown=shown)


def _rule(row: tuple[Any, ...]) -> StoredRule:
    (
        rid,
        pid,
        name,
        enabled,
        metric,
        window_s,
        filters,
        comparison,
        threshold,
        interval_s,
        renotify_s,
        channels,
        sealed,
        state,
        last_value,
        last_eval,
        last_error,
        created_by,
        created_at,
        updated_at,
    ) = row
    # Without the key, a channel shows its redacted target; `open_channels` puts the real URL and secret back.
    spec = RuleSpec(
        name,
        metric,
        window_s,
        comparison,
        threshold,
        interval_s,
        renotify_s,
        bool(enabled),
        orjson.loads(filters),
        tuple(_public_channel(c) for c in orjson.loads(channels)),
    )
    return StoredRule(
        rid, pid, spec, sealed, state, last_value, last_eval, last_error, created_by, created_at, updated_at
    )


def open_channels(rule: StoredRule, box: SecretBox) -> tuple[Channel, ...]:
    """The rule's channels with their sealed settings (URLs, secrets) put back (SealError when the key does not
    open them)."""
    parts: dict[str, dict[str, Any]] = orjson.loads(box.open(rule.sealed, rule.id)) if rule.sealed else {}
    out = []
    for c in rule.spec.channels:
        part = parts.get(c.id, {})
        out.append(replace(c, config={**c.config, **part}, secret_fields=tuple(part)))
    return tuple(out)


def _sealed_columns(rule_id: str, spec: RuleSpec, box: SecretBox) -> tuple[str, bytes | None]:
    public = orjson.dumps([c.public() for c in spec.channels]).decode()
    parts = {c.id: c.sealed_part() for c in spec.channels if c.sealed_part()}
    return public, box.seal(orjson.dumps(parts), rule_id) if parts else None


def get_rule(conn: apsw.Connection, project_id: str, rule_id: str) -> StoredRule | None:
    sql = f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = ? AND id = ?"
    rows = list(conn.execute(sql, (project_id, rule_id)))
    return _rule(rows[0]) if rows else None


def list_rules(conn: apsw.Connection, project_id: str) -> list[StoredRule]:
    sql = f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = ? ORDER BY created_at, id"
    return [_rule(r) for r in conn.execute(sql, (project_id,))]


def due_rules(conn: apsw.Connection, at_us: int) -> list[StoredRule]:
    """Enabled rules of every project whose evaluation interval has passed since their last evaluation."""
    sql = (
        f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled = 1 AND "
        "(last_evaluated_at IS NULL OR last_evaluated_at + interval_s * 1000000 <= ?) ORDER BY last_evaluated_at"
    )
    return [_rule(r) for r in conn.execute(sql, (at_us,))]


def _spec_columns(spec: RuleSpec) -> tuple[Any, ...]:
    """The rule's settings in alert_rules column order: name .. renotify_s (inserts and updates share it)."""
    return (
        spec.name,
        int(spec.enabled),
        spec.metric,
        spec.window_s,
        orjson.dumps(spec.filters).decode(),
        spec.comparison,
        spec.threshold,
        spec.interval_s,
        spec.renotify_s,
    )


def _audit_details(spec: RuleSpec) -> dict[str, Any]:
    # the channel list is described by type only: targets may carry tokens even redacted
    return {
        "name": spec.name,
        "metric": spec.metric,
        "comparison": spec.comparison,
        "threshold": spec.threshold,
        "window_s": spec.window_s,
        "enabled": spec.enabled,
        "channels": [c.type for c in spec.channels],
    }


def create_rule(
    conn: apsw.Connection, box: SecretBox, project_id: str, spec: RuleSpec, actor: Actor, max_rules: int
) -> StoredRule:
    count = next(iter(conn.execute("SELECT count(*) FROM alert_rules WHERE project_id = ?", (project_id,))))[0]
    if count >= max_rules:
        raise RuleLimitReached(f"this project has {count} alert rules; the limit is {max_rules}")
    rule_id, at = new_id("alr"), now_us()
    public, sealed = _sealed_columns(rule_id, spec, box)
    conn.execute(
        "INSERT INTO alert_rules (id, project_id, name, enabled, metric, window_s, filters, comparison, threshold, "
        "interval_s, renotify_s, channels, sealed_channels, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rule_id,
            project_id,
            *_spec_columns(spec),
            public,
            sealed,
            actor.label,
            at,
            at,
        ),
    )
    audit.record(
        conn,
        actor,
        "alert_rule.created",
        project_id=project_id,
        target_type="alert_rule",
        target_id=rule_id,
        details=_audit_details(spec),
    )
    rule = get_rule(conn, project_id, rule_id)
    assert rule is not None
    return rule


def update_rule(
    conn: apsw.Connection,
    box: SecretBox,
    project_id: str,
    rule_id: str,
    doc: dict[str, Any],
    limits: RuleLimits,
    actor: Actor,
) -> StoredRule | None:
    """Apply a PATCH in one transaction (read, validate, write, audit); None when no such rule here."""
    rule = get_rule(conn, project_id, rule_id)
    if rule is None:
        return None
    current = replace(rule.spec, channels=open_channels(rule, box)) if "channels" in doc else rule.spec
    spec = parse_rule(doc, limits, current)
    public, sealed = _sealed_columns(rule_id, spec, box) if "channels" in doc else (None, rule.sealed)
    at = now_us()
    state = rule.state
    if rule.state == "firing" and not spec.enabled:
        # a disabled rule watches nothing: its open firing ends here (without a notification)
        conn.execute(
            "UPDATE alert_firings SET state = 'resolved', resolved_at = ? WHERE rule_id = ? AND state = 'firing'",
            (at, rule_id),
        )
        state = "ok"
    changed_window = (spec.metric, spec.window_s, spec.filters) != (
        rule.spec.metric,
        rule.spec.window_s,
        rule.spec.filters,
    )
    conn.execute(
        "UPDATE alert_rules SET name = ?, enabled = ?, metric = ?, window_s = ?, filters = ?, comparison = ?, "
        "threshold = ?, interval_s = ?, renotify_s = ?, channels = coalesce(?, channels), sealed_channels = ?, "
        "state = ?, updated_at = ?, last_evaluated_at = CASE WHEN ? THEN NULL ELSE last_evaluated_at END "
        "WHERE id = ? AND project_id = ?",
        (
            *_spec_columns(spec),
            public,
            sealed,
            state,
            at,
            int(changed_window),
            rule_id,
            project_id,
        ),
    )
    details = _audit_details(spec) | {"changed": sorted(doc)}
    audit.record(
        conn,
        actor,
        "alert_rule.updated",
        project_id=project_id,
        target_type="alert_rule",
        target_id=rule_id,
        details=details,
    )
    return get_rule(conn, project_id, rule_id)


def delete_rule(conn: apsw.Connection, project_id: str, rule_id: str, actor: Actor) -> bool:
    """Remove the rule with its firings and deliveries (ON DELETE CASCADE); the audit log keeps the record."""
    rule = get_rule(conn, project_id, rule_id)
    if rule is None:
        return False
    conn.execute("DELETE FROM alert_rules WHERE id = ? AND project_id = ?", (rule_id, project_id))
    audit.record(
        conn,
        actor,
        "alert_rule.deleted",
        project_id=project_id,
        target_type="alert_rule",
        target_id=rule_id,
        details={"name": rule.spec.name, "metric": rule.spec.metric},
    )
    return True


@dataclass(frozen=True, slots=True)
class Transition:
    """What an evaluation changed that must be told: `event` is firing, renotify or resolved."""

    event: str
    rule: StoredRule
    firing: dict[str, Any]
    value: float | None


def _firing(conn: apsw.Connection, firing_id: str) -> dict[str, Any]:
    row = next(iter(conn.execute(f"SELECT {', '.join(FIRING_COLUMNS)} FROM alert_firings WHERE id = ?", (firing_id,))))
    return dict(zip(FIRING_COLUMNS, row, strict=True))


def _open_firing(conn: apsw.Connection, rule_id: str) -> dict[str, Any] | None:
    rows = list(
        conn.execute(
            "SELECT id FROM alert_firings WHERE rule_id = ? AND state = 'firing' ORDER BY started_at DESC LIMIT 1",
            (rule_id,),
        )
    )
    return _firing(conn, rows[0][0]) if rows else None


def apply_evaluation(
    conn: apsw.Connection, rule_id: str, started_us: int, value: float | None, error: str | None
) -> Transition | None:
    """Record one evaluation and move the rule ok -> firing -> ok; the transition to notify, if any.

    The rule is read again inside the transaction, so an edit or a delete that raced the query wins.
    """
    rows = list(conn.execute(f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?", (rule_id,)))
    if not rows:
        return None
    rule = _rule(rows[0])
    if not rule.spec.enabled:
        return None
    at = now_us()
    if error is not None:
        conn.execute(
            "UPDATE alert_rules SET last_evaluated_at = ?, last_error = ? WHERE id = ?",
            (started_us, error[:500], rule_id),
        )
        return None
    hit = breached(value, rule.spec.comparison, rule.spec.threshold)
    event: str | None = None
    firing = _open_firing(conn, rule_id)
    if hit and firing is None:
        firing_id = new_id("fir")
        conn.execute(
            "INSERT INTO alert_firings (id, rule_id, project_id, state, value, threshold, started_at, "
            "last_notified_at) VALUES (?, ?, ?, 'firing', ?, ?, ?, ?)",
            (firing_id, rule_id, rule.project_id, value, rule.spec.threshold, at, at),
        )
        firing, event = _firing(conn, firing_id), "firing"
    elif hit and firing is not None:
        last = firing["last_notified_at"] or firing["started_at"]
        if rule.spec.renotify_s > 0 and at - last >= rule.spec.renotify_s * 1_000_000:
            conn.execute("UPDATE alert_firings SET last_notified_at = ? WHERE id = ?", (at, firing["id"]))
            firing, event = _firing(conn, firing["id"]), "renotify"
    elif firing is not None:
        conn.execute(
            "UPDATE alert_firings SET state = 'resolved', resolved_at = ?, resolved_value = ? WHERE id = ?",
            (at, value, firing["id"]),
        )
        firing, event = _firing(conn, firing["id"]), "resolved"
    state = "firing" if hit else "ok"
    conn.execute(
        "UPDATE alert_rules SET state = ?, last_value = ?, last_evaluated_at = ?, last_error = NULL WHERE id = ?",
        (state, value, started_us, rule_id),
    )
    if event is None or firing is None:
        return None
    return Transition(event, replace(rule, state=state, last_value=value), firing, value)


def mirror_shared(
    conn: apsw.Connection, rule_id: str, started_us: int, value: float | None, state: str, firing: dict[str, Any] | None
) -> StoredRule | None:
    """Record one evaluation in cluster mode, where the rule's state lives in the bucket (`alerts/shared.py`):
    the rule's state and value, and `firing` (the bucket's open or last firing) under its own id, so this node's
    firings list continues an episode another node started. Open firings of the rule other than that one (left by
    this node's previous turn as holder) are closed without a notification. The rule as it is now, or None when
    it was deleted meanwhile."""
    rows = list(conn.execute(f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?", (rule_id,)))
    if not rows:
        return None
    rule = _rule(rows[0])
    at = now_us()
    if firing is not None:
        conn.execute(
            "INSERT INTO alert_firings (id, rule_id, project_id, state, value, threshold, started_at, resolved_at, "
            "resolved_value, last_notified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "state = excluded.state, resolved_at = excluded.resolved_at, resolved_value = excluded.resolved_value, "
            "last_notified_at = excluded.last_notified_at",
            (
                firing["id"],
                rule_id,
                rule.project_id,
                firing["state"],
                firing["value"],
                firing["threshold"],
                firing["started_at"],
                firing["resolved_at"],
                firing["resolved_value"],
                firing["last_notified_at"],
            ),
        )
    conn.execute(
        "UPDATE alert_firings SET state = 'resolved', resolved_at = ? WHERE rule_id = ? AND state = 'firing' "
        "AND id != ?",
        (at, rule_id, firing["id"] if firing is not None else ""),
    )
    conn.execute(
        "UPDATE alert_rules SET state = ?, last_value = ?, last_evaluated_at = ?, last_error = NULL WHERE id = ?",
        (state, value, started_us, rule_id),
    )
    return replace(rule, state=state, last_value=value, last_evaluated_at=started_us, last_error=None)


__all__ = ["RuleError", "RuleLimitReached", "StoredRule", "Transition"]
