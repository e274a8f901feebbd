"""The PagerDuty channel (Events API v2): a firing triggers an alert, its resolution resolves it. Every event of
one rule carries the same `dedup_key`, so a renotification folds into the open incident and the resolution closes
it; a test sends a trigger under a key of its own. The routing key (the integration key) is sealed at rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lynex_box.plugins.channels import Notice, Outbound, Outcome, redact_url, unknown_keys
from lynex_box.plugins.hookspecs import hookimpl
from lynex_channels._common import JSON_HEADERS, choice_problems, dumps, field, text_problems, url_problems

EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES: Final = ("critical", "error", "warning", "info")


def dedup_key(notice: Notice) -> str:
    key = f"lynex-box/{notice.project_id}/{notice.rule_id}"
    return f"{key}/test/{notice.delivery_id}" if notice.event == "test" else key


def event(notice: Notice, routing_key: str, severity: str) -> dict[str, Any]:
    """The Events API v2 body: `resolve` for a resolution, `trigger` otherwise."""
    if notice.event == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(notice)}
    out: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(notice),
        "client": "Lynex Box",
        "payload": {
            "summary": notice.summary[:1024],
            "source": f"lynex-box project {notice.project_id}",
            "severity": severity,
            "timestamp": notice.document.get("sent_at"),
            "component": notice.rule_name[:255],
            "class": str(notice.document.get("rule", {}).get("metric", "")),
            "custom_details": dict(notice.document),
        },
    }
    if notice.link:
        out["client_url"] = notice.link
        out["links"] = [{"href": notice.link, "text": "Open in Lynex Box"}]
    return out


class PagerDutyChannel:
    name = "pagerduty"
    label = "PagerDuty (Events API v2)"
    fields = ("routing_key", "severity", "events_url")
    secret_fields = ("routing_key", "events_url")
    url_fields = ("events_url",)
    form = (
        field("routing_key", "Integration (routing) key", "secret", required=True),
        field("severity", "Severity", "choice", choices=list(SEVERITIES), default="error"),
        field("events_url", f"Events API URL (optional, default {EVENTS_URL})", "url"),
    )

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        return (
            unknown_keys(config, self.fields)
            + text_problems(config, "routing_key", required=True, hi=128)
            + choice_problems(config, "severity", SEVERITIES)
            + url_problems(config, "events_url", required=False)
        )

    def public(self, config: Mapping[str, Any]) -> dict[str, Any]:
        # `severity` is not sealed: it is stored as shown
        return {"severity": config.get("severity", "error"), "target": redact_url(config.get("events_url", EVENTS_URL))}

    async def send(self, config: Mapping[str, Any], notice: Notice, out: Outbound) -> Outcome:
        doc = event(notice, str(config["routing_key"]), str(config.get("severity", "error")))
        return await out.post(str(config.get("events_url", EVENTS_URL)), dumps(doc), JSON_HEADERS)


@hookimpl
def lynex_notification_channels() -> list[Any]:
    return [PagerDutyChannel()]
