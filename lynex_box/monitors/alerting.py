"""The alert rules a monitor creates in one step: pure rule bodies, and their writes inside the caller's transaction.

A monitor body may carry `alert`: `{"on_failure": true, "latency_ms": N, "channels": [...], "renotify_s": N}`.
Each part becomes an ordinary alert rule of the project (docs/alerts.md), validated by the alerts' own
`parse_rule`, watching the monitor's root spans by name (`synthetic <name>`) over a window of one period:
`on_failure` an `error_count > 0` rule, `latency_ms` a `p95_latency_ms > N` rule. Their ids are kept on the monitor;
after each run the runner evaluates them at once, so a failing run notifies within the period it ran in. The rules
follow the monitor's name and period, and go with it when it is deleted; they can be read, tested and changed
through the alerts API like any other.
"""

from __future__ import annotations

from typing import Any, Final

import apsw

from lynex_box.alerts import store as rules_store
from lynex_box.alerts.rules import RuleError, RuleLimits, parse_rule
from lynex_box.alerts.sealing import SecretBox
from lynex_box.meta.audit import Actor
from lynex_box.monitors.spec import MonitorError, MonitorSpec
from lynex_box.monitors.store import span_name

ALERT_KEYS: Final = ("on_failure", "latency_ms", "channels", "renotify_s")


def _schedule(spec: MonitorSpec, limits: RuleLimits) -> dict[str, int]:
    period = spec.interval_s
    return {
        "window_s": min(max(period, 1), limits.max_window_s),
        "interval_s": min(max(period, limits.min_interval_s), 86_400),
    }


def rule_bodies(alert: object, spec: MonitorSpec, limits: RuleLimits) -> list[dict[str, Any]]:
    """The alert rule bodies of a monitor's `alert` (none for null)."""
    if alert is None:
        return []
    if not isinstance(alert, dict):
        raise MonitorError(f"alert must be an object with some of {list(ALERT_KEYS)}, or null")
    unknown = sorted(set(alert) - set(ALERT_KEYS))
    if unknown:
        raise MonitorError(f"alert has unknown keys {unknown}; allowed: {list(ALERT_KEYS)}")
    on_failure = alert.get("on_failure", True)
    latency = alert.get("latency_ms")
    if not isinstance(on_failure, bool):
        raise MonitorError("alert.on_failure must be true or false")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency <= 0):
        raise MonitorError("alert.latency_ms must be a positive number of milliseconds, or null")
    common: dict[str, Any] = {"filters": {"name": span_name(spec.name)}, "comparison": "gt", **_schedule(spec, limits)}
    common |= {"channels": alert.get("channels", [])} | (
        {"renotify_s": alert["renotify_s"]} if "renotify_s" in alert else {}
    )
    bodies = []
    if on_failure:
        bodies.append({"name": f"monitor {spec.name}: failing", "metric": "error_count", "threshold": 0, **common})
    if latency is not None:
        slow = {"name": f"monitor {spec.name}: slow", "metric": "p95_latency_ms", "threshold": latency}
        bodies.append(slow | common)
    for body in bodies:  # validated now, so a bad channel is a 400 before anything is written
        try:
            parse_rule(body, limits)
        except RuleError as exc:
            raise MonitorError(f"alert: {exc}") from None
    return bodies


def create_rules(
    conn: apsw.Connection,
    box: SecretBox,
    project_id: str,
    bodies: list[dict[str, Any]],
    limits: RuleLimits,
    actor: Actor,
    max_rules: int,
) -> list[str]:
    """Create the rules (audited as any rule) in the caller's transaction; their ids."""
    ids = []
    for body in bodies:
        rule = rules_store.create_rule(conn, box, project_id, parse_rule(body, limits), actor, max_rules)
        ids.append(rule.id)
    return ids


def delete_rules(conn: apsw.Connection, project_id: str, rule_ids: tuple[str, ...], actor: Actor) -> None:
    for rule_id in rule_ids:
        rules_store.delete_rule(conn, project_id, rule_id, actor)


def follow(
    conn: apsw.Connection,
    box: SecretBox,
    project_id: str,
    rule_ids: tuple[str, ...],
    old: MonitorSpec,
    new: MonitorSpec,
    limits: RuleLimits,
    actor: Actor,
) -> None:
    """Keep the linked rules on the monitor's spans and period after a rename or a new interval."""
    if (old.name, old.interval_s) == (new.name, new.interval_s):
        return
    for rule_id in rule_ids:
        rule = rules_store.get_rule(conn, project_id, rule_id)
        if rule is None:
            continue
        doc: dict[str, Any] = {"filters": rule.spec.filters | {"name": span_name(new.name)}, **_schedule(new, limits)}
        doc["name"] = rule.spec.name.replace(f"monitor {old.name}:", f"monitor {new.name}:", 1)
        rules_store.update_rule(conn, box, project_id, rule_id, doc, limits, actor)
