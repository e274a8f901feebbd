"""A platform alert's notification as the channel types see it (`Notice`, lynex_box/plugins/channels.py): pure.

Every notification names the node (and its host), the condition, the value and the threshold, and a hint of what
to do; in cluster mode it says that the node watches only itself. The JSON document (the webhook channel's body)
has the shape of a rule's (docs/alerts.md: `firing`, `value`, `summary`, `url`, `sent_at`) with `type`
`platform_alert.<event>` and a `platform` part; PagerDuty and OpsGenie fold the notifications of one condition on one
node into one incident (their dedup key is `lynex-box/platform/<node>.<condition>`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lynex_box.alerts.platform.conditions import Condition, Reading
from lynex_box.alerts.platform.tracker import Track
from lynex_box.plugins.channels import Notice

PROJECT: str = "platform"  # what a platform notice carries where a rule's carries its project


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    host: str
    cluster: bool

    @property
    def scope(self) -> str:
        if self.cluster:
            return "cluster mode: this node watches only itself (its requests, WAL and disk); the others report theirs"
        return "single node"


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


STATES = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED", "test": "TEST"}


def summary(event: str, cond: Condition, reading: Reading, node: Node, for_s: float) -> str:
    """One line: `[FIRING] Lynex Box node node-1a2b (db-3): WAL backlog: WAL backlog 300.0 MiB (threshold > ...)`."""
    held = f", held {for_s:g}s" if event in ("firing", "renotify") else ""
    return f"[{STATES[event]}] Lynex Box node {node.node_id} ({node.host}): {cond.title}: {reading.shown}{held}"


def notice(
    event: str, cond: Condition, reading: Reading, track: Track, node: Node, for_s: float, link: str,
    delivery_id: str, now: float,
) -> Notice:  # fmt: skip
    """The notice of `event` (firing, renotify, resolved, test) of `cond` on `node`."""
    line = summary(event, cond, reading, node, for_s)
    started = track.since
    firing_id = f"platform.{node.node_id}.{cond.name}.{int((now if started is None else started) * 1000)}"
    notification_id = f"{firing_id}.{event}" + (f".{int(now * 1000)}" if event in ("renotify", "test") else "")
    resolved = event == "resolved"
    document: dict[str, Any] = {
        "type": f"platform_alert.{event}",
        "delivery_id": delivery_id,
        "notification_id": notification_id,
        "project_id": None,
        "rule": {"id": f"{node.node_id}.{cond.name}", "name": f"platform: {cond.title}", "metric": cond.name,
                 "threshold": reading.threshold},
        "firing": {
            "id": firing_id, "state": "resolved" if resolved else "firing", "value": track.fired_value,
            "started_at": iso(started), "resolved_at": iso(now) if resolved else None,
            "resolved_value": reading.value if resolved else None,
        },
        "value": reading.value,
        "summary": line,
        "url": link,
        "sent_at": iso(now),
        "platform": {
            "node_id": node.node_id, "host": node.host, "cluster": node.cluster, "scope": node.scope,
            "condition": cond.name, "title": cond.title, "value": reading.value, "threshold": reading.threshold,
            "detail": reading.shown, "hint": cond.hint,
        },
    }  # fmt: skip
    return Notice(
        event=event,
        summary=f"{line}. Hint: {cond.hint}. ({node.scope})",
        link=link,
        project_id=PROJECT,
        rule_id=f"{node.node_id}.{cond.name}",
        rule_name=f"{cond.title} on {node.node_id}",
        notification_id=notification_id,
        delivery_id=delivery_id,
        sent_at_us=int(now * 1_000_000),
        document=document,
    )
