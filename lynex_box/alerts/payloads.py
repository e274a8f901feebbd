"""A notification's words and JSON document, and the webhook signature scheme: pure, no I/O.

Each channel type (plugins/lynex-channels and other plugins) formats its own message from the `Notice` the
deliverer builds of these (`summary`, `document`, `notification_id`). A webhook request carries
`X-Lynex-Timestamp` (Unix seconds) and, when the channel has a secret,
`X-Lynex-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, so a receiver can check both who sent
it and that it is fresh (docs/alerts.md shows the check). Nothing here includes a channel URL or secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Final

from lynex_box.alerts.rules import COMPARISONS

SIGNATURE_HEADER: Final = "X-Lynex-Signature"
TIMESTAMP_HEADER: Final = "X-Lynex-Timestamp"
EVENT_HEADER: Final = "X-Lynex-Event"
DELIVERY_HEADER: Final = "X-Lynex-Delivery"
NOTIFICATION_HEADER: Final = "X-Lynex-Notification"
METRIC_LABELS: Final = {
    "error_rate": "error rate",
    "error_count": "errors",
    "span_count": "spans",
    "total_cost": "cost (USD)",
    "p95_latency_ms": "p95 latency (ms)",
    "tokens": "tokens",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about one rule: `event` is firing, renotify, resolved or test."""

    event: str
    rule: dict[str, Any]  # the rule's public form (StoredRule.as_dict)
    firing: dict[str, Any] | None
    value: float | None
    sent_at_us: int
    link: str
    notification_id: str = ""  # the idempotency id; derived from the firing when empty (`notification_id()`)


def notification_id(n: Notification, delivery_id: str) -> str:
    """The id every delivery of this one notification carries, on every node and every retry: the firing's id and
    the event (`fir_….firing`, `fir_….resolved`, `fir_….renotify.<at>`); a test notification's is its delivery's."""
    if n.notification_id:
        return n.notification_id
    if n.firing is None:
        return delivery_id
    if n.event == "renotify":
        return f"{n.firing['id']}.renotify.{n.firing['last_notified_at']}"
    return f"{n.firing['id']}.{n.event}"


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")


def summary(n: Notification) -> str:
    """One line a person reads: `[FIRING] checkout errors: error rate 0.42 > 0.1 over 300s (project p_x)`."""
    r = n.rule
    value = "no data" if n.value is None else f"{n.value:.6g}"
    state = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED", "test": "TEST"}[n.event]
    condition = f"{METRIC_LABELS.get(r['metric'], r['metric'])} {value} (threshold {COMPARISONS[r['comparison']]} "
    where = ", ".join(f"{k}={v}" for k, v in sorted(r["filters"].items()))
    scope = f" where {where}" if where else ""
    return (
        f"[{state}] {r['name']}: {condition}{r['threshold']:.6g}) over the last {r['window_s']}s{scope} "
        f"(project {r['project_id']})"
    )


def document(n: Notification, delivery_id: str) -> dict[str, Any]:
    """The JSON document of a notification: the webhook channel's body (docs/alerts.md)."""
    firing = None
    if n.firing is not None:
        f = n.firing
        firing = {
            "id": f["id"],
            "state": f["state"],
            "value": f["value"],
            "started_at": _iso(f["started_at"]),
            "resolved_at": _iso(f["resolved_at"]),
            "resolved_value": f["resolved_value"],
        }
    r = n.rule
    rule = {k: r[k] for k in ("id", "name", "metric", "comparison", "threshold", "window_s", "filters")}
    doc = {
        "type": f"alert.{n.event}",
        "delivery_id": delivery_id,
        "notification_id": notification_id(n, delivery_id),
        "project_id": r["project_id"],
        "rule": rule,
        "firing": firing,
        "value": n.value,
        "summary": summary(n),
        "url": n.link,
        "sent_at": _iso(n.sent_at_us),
    }
    return doc


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"
