"""The OpsGenie channel (Alert API v2): a firing creates an alert, its resolution closes it by its alias. One rule
has one alias, so OpsGenie folds a renotification into the open alert; a test creates an alert under an alias of its
own. Requests carry `Authorization: GenieKey <api key>`; the key is sealed at rest. `api_base` selects the region
(https://api.eu.opsgenie.com for the EU)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from lynex_box.plugins.channels import Notice, Outbound, Outcome, redact_url, unknown_keys
from lynex_box.plugins.hookspecs import hookimpl
from lynex_channels._common import JSON_HEADERS, choice_problems, dumps, field, text_problems, url_problems

API_BASE: Final = "https://api.opsgenie.com"
PRIORITIES: Final = ("P1", "P2", "P3", "P4", "P5")


def alias(notice: Notice) -> str:
    key = f"lynex-box/{notice.project_id}/{notice.rule_id}"
    return f"{key}/test/{notice.delivery_id}" if notice.event == "test" else key


def request(notice: Notice, api_base: str, priority: str) -> tuple[str, dict[str, Any]]:
    """(URL, body): create an alert, or close the rule's open one by its alias."""
    base = api_base.rstrip("/")
    if notice.event == "resolved":
        path = urllib.parse.quote(alias(notice), safe="")
        return f"{base}/v2/alerts/{path}/close?identifierType=alias", {
            "source": "Lynex Box", "note": notice.summary[:25000],
        }  # fmt: skip
    description = notice.summary + (f"\n{notice.link}" if notice.link else "")
    details = {"project_id": notice.project_id, "rule_id": notice.rule_id, "event": notice.event}
    if notice.link:
        details["url"] = notice.link
    doc = {
        "message": notice.summary[:130],
        "alias": alias(notice),
        "description": description[:15000],
        "priority": priority,
        "source": "Lynex Box",
        "entity": notice.rule_name[:512],
        "tags": ["lynex-box"],
        "details": details,
    }
    return f"{base}/v2/alerts", doc


class OpsGenieChannel:
    name = "opsgenie"
    label = "OpsGenie"
    fields = ("api_key", "priority", "api_base")
    secret_fields = ("api_key", "api_base")
    url_fields = ("api_base",)
    form = (
        field("api_key", "API key (an API integration's key)", "secret", required=True),
        field("priority", "Priority", "choice", choices=list(PRIORITIES), default="P3"),
        field("api_base", f"API base URL (optional, default {API_BASE})", "url"),
    )

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        return (
            unknown_keys(config, self.fields)
            + text_problems(config, "api_key", required=True, hi=128)
            + choice_problems(config, "priority", PRIORITIES)
            + url_problems(config, "api_base", required=False)
        )

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        # `priority` is not sealed: it is stored as shown
        return {"priority": config.get("priority", "P3"), "target": redact_url(config.get("api_base", API_BASE))}

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        url, doc = request(notice, str(config.get("api_base", API_BASE)), str(config.get("priority", "P3")))
        headers = {**JSON_HEADERS, "Authorization": f"GenieKey {config['api_key']}"}
        return await out.post(url, dumps(doc), headers)


@hookimpl
def lynex_notification_channels() -> list[Any]:
    return [OpsGenieChannel()]
