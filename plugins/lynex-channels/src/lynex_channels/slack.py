"""The Slack channel: an incoming-webhook message, `text` (the notification line) plus one section block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lynex_box.plugins.channels import Notice, Outbound, Outcome, redact_url, unknown_keys
from lynex_box.plugins.hookspecs import hookimpl
from lynex_channels._common import JSON_HEADERS, dumps, field, url_problems

ICONS = {
    "firing": ":rotating_light:",
    "renotify": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "test": ":information_source:",
}


def body(notice: Notice) -> bytes:
    text = f"{ICONS.get(notice.event, '')} {notice.summary}"
    block_text = f"{text}\n<{notice.link}|Open in Lynex Box>" if notice.link else text
    return dumps({"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": block_text}}]})


class SlackChannel:
    name = "slack"
    label = "Slack incoming webhook"
    fields = ("url",)
    secret_fields = ("url",)  # the webhook URL is the credential
    url_fields = ("url",)
    form = (field("url", "Incoming webhook URL", "url", required=True),)

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        if config.get("secret"):
            return ["secret is for webhook channels (Slack checks its own URL)"]
        rest = {k: v for k, v in config.items() if k != "secret"}
        return unknown_keys(rest, self.fields) + url_problems(config, "url", required=True)

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"target": redact_url(str(config.get("url", ""))), "signed": False}

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        return await out.post(str(config["url"]), body(notice), JSON_HEADERS)


@hookimpl
def lynex_notification_channels() -> list[Any]:
    return [SlackChannel()]
