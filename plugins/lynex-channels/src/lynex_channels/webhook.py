"""The signed webhook channel: the notification's JSON document (docs/alerts.md), POSTed with `X-Lynex-*` headers
and, when the channel has a secret, `X-Lynex-Signature` (HMAC-SHA256 over `"<timestamp>." + body`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lynex_box.alerts.payloads import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    NOTIFICATION_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from lynex_box.plugins.channels import Notice, Outbound, Outcome, redact_url, unknown_keys
from lynex_box.plugins.hookspecs import hookimpl
from lynex_channels._common import JSON_HEADERS, MAX_TEXT, dumps, field, url_problems

MIN_SECRET_LEN: Final = 16


def body(notice: Notice) -> bytes:
    return dumps(dict(notice.document))


def headers(notice: Notice, sent: bytes, secret: str | None) -> dict[str, str]:
    timestamp = str(notice.sent_at_us // 1_000_000)
    out = {
        **JSON_HEADERS,
        EVENT_HEADER: f"alert.{notice.event}",
        DELIVERY_HEADER: notice.delivery_id,
        NOTIFICATION_HEADER: notice.notification_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, timestamp, sent)
    return out


class WebhookChannel:
    name = "webhook"
    label = "Webhook (signed JSON)"
    fields = ("url", "secret")
    secret_fields = ("url", "secret")
    url_fields = ("url",)
    form = (
        field("url", "Channel URL", "url", required=True),
        field("secret", f"Signing secret (optional, {MIN_SECRET_LEN}+ characters)", "secret"),
    )

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        problems = unknown_keys(config, self.fields) + url_problems(config, "url", required=True)
        secret = config.get("secret")
        if secret is not None and (not isinstance(secret, str) or not MIN_SECRET_LEN <= len(secret) <= MAX_TEXT):
            problems.append(f"secret must be a string of {MIN_SECRET_LEN}..{MAX_TEXT} characters, or null")
        return problems

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"target": redact_url(str(config.get("url", ""))), "signed": bool(config.get("secret"))}

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        sent = body(notice)
        return await out.post(str(config["url"]), sent, headers(notice, sent, config.get("secret")))


@hookimpl
def lynex_notification_channels() -> list[Any]:
    return [WebhookChannel()]
