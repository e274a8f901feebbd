"""OpenAPI descriptions of the alerts routes (`/api/projects/{project_id}/alerts/...`, lynex_box/api/admin/alerts.py).

Data only: openapi.py joins these to the app's routes; docs/alerts.md is the prose for the same routes.
"""

from __future__ import annotations

from typing import Any, Final

from lynex_box.api.openapi_accounts import op
from lynex_box.api.openapi_bodies import RULE, RULE_CHANGE

_BASE: Final = "/api/projects/{project_id}/alerts"
_RULE_BODY: Final = (
    "name, metric (error_rate, error_count, span_count, total_cost, p95_latency_ms, tokens), window_s, comparison "
    "(gt, gte, lt, lte), threshold, interval_s?, renotify_s?, enabled?, filters? {model, name, environment}, "
    "channels? [{type: webhook|slack|email, url?, secret?, to?}] (docs/alerts.md)"
)
_PAGE: Final = (
    ("limit", "1..500, default 50"),
    ("cursor", "next_cursor of the previous page"),
    ("rule_id", "one rule"),
)


def alert_paths() -> dict[str, dict[str, Any]]:
    """path -> method -> operation, for every alerts route."""
    return {
        f"{_BASE}/rules": {
            "get": op("Alert rules of the project with their state (alerts.read)", {200: "{items}"}),
            "post": op(
                "Create an alert rule (alerts.manage; audited)",
                {201: "the rule; channel URLs redacted, secrets never shown"},
                body=_RULE_BODY,
                schema=RULE,
                errors=(400, 401, 403, 404, 409, 415),
            ),
        },
        f"{_BASE}/rules/{{rule_id}}": {
            "get": op("One alert rule (alerts.read)", {200: "the rule"}),
            "patch": op(
                "Change an alert rule (alerts.manage; audited); a channel sent with only its id keeps its URL and "
                "secret",
                {200: "the rule"},
                body=_RULE_BODY,
                schema=RULE_CHANGE,
                errors=(400, 401, 403, 404, 409, 415),
            ),
            "delete": op(
                "Delete an alert rule with its firings and deliveries (alerts.manage; audited)", {204: "deleted"}
            ),
        },
        f"{_BASE}/rules/{{rule_id}}/test": {
            "post": op(
                "Send a test notification to each channel of the rule now, one attempt each (alerts.manage)",
                {200: "{items: [{delivery_id, channel_id, channel_type, status, response_status, error}]}"},
                errors=(400, 401, 403, 404, 409),
            )
        },
        f"{_BASE}/firings": {
            "get": op(
                "Firings of the project's rules, newest first (alerts.read)", {200: "{items, next_cursor}"}, query=_PAGE
            )
        },
        f"{_BASE}/deliveries": {
            "get": op(
                "Notification deliveries with their attempts and errors, newest first (alerts.read)",
                {200: "{items, next_cursor}"},
                query=(*_PAGE, ("status", "pending, delivered or failed")),
            )
        },
    }
