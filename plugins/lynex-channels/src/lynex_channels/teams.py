"""The Microsoft Teams channel: an incoming webhook (a Teams Workflows "post to a channel when a webhook request is
received" URL, or a legacy connector URL) gets a message with one Adaptive Card: the notification line, the rule's
facts and a button to the rule in Lynex Box."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lynex_box.plugins.channels import Notice, Outbound, Outcome, redact_url, unknown_keys
from lynex_box.plugins.hookspecs import hookimpl
from lynex_channels._common import JSON_HEADERS, dumps, field, url_problems

COLORS = {"firing": "attention", "renotify": "attention", "resolved": "good", "test": "accent"}


def card(notice: Notice) -> dict[str, Any]:
    """The Adaptive Card (schema 1.4, what Teams renders) of a notification."""
    doc = notice.document
    facts = [{"title": "Rule", "value": notice.rule_name}, {"title": "Project", "value": notice.project_id}]
    if doc.get("value") is not None:
        facts.append({"title": "Value", "value": f"{doc['value']:.6g}"})
    firing = doc.get("firing")
    if firing:
        facts.append({"title": "Started", "value": str(firing["started_at"])})
        if firing.get("resolved_at"):
            facts.append({"title": "Resolved", "value": str(firing["resolved_at"])})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": notice.summary, "wrap": True, "weight": "Bolder",
             "color": COLORS.get(notice.event, "default")},
            {"type": "FactSet", "facts": facts},
        ],
    }  # fmt: skip
    if notice.link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Lynex Box", "url": notice.link}]
    return content


def body(notice: Notice) -> bytes:
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card(notice)}
    return dumps({"type": "message", "summary": notice.summary[:200], "attachments": [attachment]})


class TeamsChannel:
    name = "teams"
    label = "Microsoft Teams incoming webhook"
    fields = ("url",)
    secret_fields = ("url",)  # the webhook URL is the credential
    url_fields = ("url",)
    form = (field("url", "Incoming webhook URL", "url", required=True),)

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        return unknown_keys(config, self.fields) + url_problems(config, "url", required=True)

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"target": redact_url(str(config.get("url", ""))), "signed": False}

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        return await out.post(str(config["url"]), body(notice), JSON_HEADERS)


@hookimpl
def lynex_notification_channels() -> list[Any]:
    return [TeamsChannel()]
