"""Lynex Box plugin: each closed UTC day's usage per project (the `usage_day_closed` topic) to a signed webhook, a
CSV object per day in the bucket, and/or Stripe metered-billing meter events.

`create(config)` is the entry point (`lynex_box.plugins` group, name `usage-export`): the plugin host calls it with
the `[plugins.usage-export]` table (config.py). The plugin needs its `PluginContext` (`lynex_started`): every
request goes through `context.http_post`, under the server's outbound address policy, and the CSV through
`context.put_object`; so it runs in-process only. The topic hook writes the day's deliveries into a durable
outbox (outbox.py) and returns; the outbox's thread sends them with retries and backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from lynex_box.alerts.payloads import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from lynex_box.plugins.context import OutboundRefused, PluginContext
from lynex_box.plugins.hookspecs import hookimpl
from lynex_usage_export.config import ConfigError, ExportConfig, parse
from lynex_usage_export.formats import TOPIC, csv_bytes, csv_key, stripe_form, webhook_body
from lynex_usage_export.outbox import GiveUp, Outbox, Retry

__all__ = ["ConfigError", "UsageExport", "create"]

log = logging.getLogger("lynex.plugins.usage_export")
DELIVERY_HEADER = "X-Lynex-Delivery"
KEEP_DAYS = 40  # a day's rows are kept this long for its CSV, then removed


def _check_answer(status: int, what: str) -> None:
    """Raise what an answer means for the outbox: 2xx is done, 408/429/5xx are worth retrying, the rest is not."""
    if 200 <= status < 300:
        return
    if status in (408, 429) or status >= 500:
        raise Retry(f"{what} answered {status}")
    raise GiveUp(f"{what} answered {status}")


class UsageExport:
    """The plugin object: `lynex_started` and `lynex_usage_day_closed`."""

    def __init__(self, config: ExportConfig) -> None:
        self.config = config
        self.outbox: Outbox | None = None
        self._context: PluginContext | None = None
        self._days_lock = threading.Lock()

    @hookimpl
    def lynex_started(self, context: PluginContext) -> None:
        c = self.config
        if (c.webhook is not None or c.stripe is not None) and context.http_post is None:
            raise RuntimeError("usage-export needs the server's http_post (a Lynex Box with PluginContext.http_post)")
        if c.csv is not None and context.put_object is None:
            raise RuntimeError("usage-export needs the server's put_object (a Lynex Box with PluginContext.put_object)")
        self._context = context
        (context.data_dir / "days").mkdir(parents=True, exist_ok=True, mode=0o700)
        self.outbox = Outbox(
            context.data_dir, self._send, attempts=c.attempts, backoff_s=c.backoff_s, backoff_max_s=c.backoff_max_s
        )
        self.outbox.start()

    @hookimpl
    def lynex_usage_day_closed(self, event: dict[str, Any]) -> None:
        if self.outbox is None:
            raise RuntimeError(
                "usage-export got no context (lynex_started): it runs in-process only; hint: remove it from "
                "[plugins] out_of_process"
            )
        c, project, day = self.config, str(event["project_id"]), str(event["day"])
        if c.csv is not None:
            self._keep_row(day, event)
            self.outbox.add("csv", {"day": day}, key=f"csv:{day}")
        if c.webhook is not None:
            self.outbox.add("webhook", {"event": event})
        if c.stripe is not None:
            customer = c.stripe.customers.get(project)
            if customer is None:
                log.info("usage export: no stripe customer for project=%s; its usage is not metered", project)
                return
            for metric, event_name in c.stripe.meters.items():
                form = stripe_form(event, metric, event_name, customer)
                if form["payload[value]"] != "0":  # a zero adds nothing to a meter: no request
                    self.outbox.add("stripe", {"form": form})

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.stop()

    # ---- the day's rows, for its CSV -------------------------------------------------------------------------

    def _day_path(self, day: str) -> Path:
        assert self._context is not None
        return self._context.data_dir / "days" / f"{day}.json"

    def _keep_row(self, day: str, event: dict[str, Any]) -> None:
        """Add the project's row to the day's rows (kept on disk, so a restart mid-day still writes every row)."""
        with self._days_lock:
            path = self._day_path(day)
            rows = orjson.loads(path.read_bytes()) if path.exists() else {}
            rows[str(event["project_id"])] = event
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(orjson.dumps(rows))
            tmp.replace(path)
            for old in sorted(path.parent.glob("*.json"))[:-KEEP_DAYS]:
                old.unlink(missing_ok=True)

    # ---- sending (the outbox's thread) ------------------------------------------------------------------------

    def _send(self, doc: dict[str, Any]) -> None:
        kind, payload = doc["kind"], doc["payload"]
        if kind == "csv":
            self._send_csv(str(payload["day"]))
        elif kind == "webhook":
            self._send_webhook(payload["event"])
        elif kind == "stripe":
            self._send_stripe(payload["form"])
        else:
            raise GiveUp(f"unknown delivery kind {kind!r}")

    def _post(self, url: str, body: bytes, headers: dict[str, str], what: str) -> None:
        assert self._context is not None and self._context.http_post is not None
        try:
            status, _ = self._context.http_post(url, body, headers, self.config.timeout_s)
        except OutboundRefused as exc:
            raise GiveUp(f"{what}: {exc}") from None
        except Exception as exc:  # network errors, timeouts: retried
            raise Retry(f"{what}: {exc}") from None
        _check_answer(status, what)

    def _send_webhook(self, event: dict[str, Any]) -> None:
        hook = self.config.webhook
        assert hook is not None
        sent_at = int(time.time())
        body = webhook_body(event, sent_at)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lynex-usage-export",
            EVENT_HEADER: TOPIC,
            TIMESTAMP_HEADER: str(sent_at),
            DELIVERY_HEADER: f"usage:{event['project_id']}:{event['day']}",
        }
        if hook.secret:
            headers[SIGNATURE_HEADER] = sign(hook.secret, str(sent_at), body)
        self._post(hook.url, body, headers, "the usage webhook")

    def _send_stripe(self, form: dict[str, str]) -> None:
        stripe = self.config.stripe
        assert stripe is not None
        headers = {
            "Authorization": f"Bearer {stripe.api_key}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Idempotency-Key": form["identifier"],
            "User-Agent": "lynex-usage-export",
        }
        self._post(f"{stripe.api_base}/v1/billing/meter_events", urlencode(form).encode(), headers, "Stripe")

    def _send_csv(self, day: str) -> None:
        csv = self.config.csv
        assert csv is not None and self._context is not None and self._context.put_object is not None
        with self._days_lock:
            path = self._day_path(day)
            rows = list(orjson.loads(path.read_bytes()).values()) if path.exists() else []
        if not rows:
            return
        try:
            where = self._context.put_object(csv_key(csv.prefix, day), csv_bytes(rows))
        except ValueError as exc:  # InvalidKey: the prefix makes no valid key
            raise GiveUp(f"the CSV of {day}: {exc}") from None
        log.info("usage export wrote the csv of day=%s rows=%d to %s", day, len(rows), where)


def create(config: dict[str, Any]) -> UsageExport:
    """The entry point: the plugin object for `[plugins.usage-export]` (ConfigError naming a bad key)."""
    return UsageExport(parse(config))
