"""What each destination receives, built from `usage_day_closed` events. Pure: no I/O, no clock.

- webhook: `{"topic": "usage_day_closed", "sent_at": <s>, "event": {...}}`, the webhook-events plugin's shape;
- CSV: one object per day, a header row then one row per project (sorted by project id), columns `COLUMNS`;
- Stripe: one meter event per project and metric, form-encoded as `POST /v1/billing/meter_events` takes it, with
  an `identifier` (`lynex:<project>:<day>:<metric>`) Stripe deduplicates on, so a day sent twice is billed once.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

import orjson

TOPIC: Final = "usage_day_closed"
COLUMNS: Final = (
    "day", "project_id", "traces", "spans", "llm_calls", "errors", "input_tokens", "output_tokens", "total_tokens",
    "cost_usd", "start_us", "end_us",
)  # fmt: skip


def metric_value(event: dict[str, Any], metric: str) -> int:
    """The integer a Stripe meter sums for `metric` (config.METRICS); cost in whole cents, rounded half up."""
    if metric == "tokens":
        return int(event["total_tokens"])
    if metric == "cost_cents":
        return int(float(event["cost_usd"]) * 100 + 0.5)
    return int(event[metric])


def identifier(event: dict[str, Any], metric: str) -> str:
    """Stripe's idempotency identifier of one meter event (at most 100 characters)."""
    return f"lynex:{event['project_id']}:{event['day']}:{metric}"[:100]


def stripe_form(event: dict[str, Any], metric: str, event_name: str, customer: str) -> dict[str, str]:
    """The form fields of one meter event; its timestamp is the day's last second (Stripe counts it in that day)."""
    return {
        "event_name": event_name,
        "payload[stripe_customer_id]": customer,
        "payload[value]": str(metric_value(event, metric)),
        "identifier": identifier(event, metric),
        "timestamp": str(int(event["end_us"]) // 1_000_000 - 1),
    }


def webhook_body(event: dict[str, Any], sent_at: int) -> bytes:
    return orjson.dumps({"topic": TOPIC, "sent_at": sent_at, "event": event})


def csv_key(prefix: str, day: str) -> str:
    """`<prefix>/YYYY/MM/DD.csv` for `day` (`YYYY-MM-DD`)."""
    year, month, dom = day.split("-")
    return f"{prefix}/{year}/{month}/{dom}.csv"


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """The day's CSV: a header, then one row per project in project id order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: str(r["project_id"])):
        writer.writerow([row.get(c, "") for c in COLUMNS])
    return out.getvalue().encode()
