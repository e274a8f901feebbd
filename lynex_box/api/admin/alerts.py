"""The alerts API: rules of the caller's project (CRUD), their firings, delivery records, a test notification.

Reading needs `alerts.read` (every role; read and admin keys), changing `alerts.manage` (owners and admins;
admin keys). Access is checked before the body is read, the project comes from the path checked against the
caller, and a rule id is looked up in that project only (another project's id is 404). Rule changes are
audited in their own transaction. Channel URLs and secrets go in but never come out: answers show a redacted
target and whether the channel signs.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.alerts import history, store
from lynex_box.alerts.payloads import Notification
from lynex_box.alerts.rules import RuleError, parse_rule
from lynex_box.alerts.sealing import SealError
from lynex_box.alerts.service import AlertService
from lynex_box.api import spec
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import json_object
from lynex_box.api.params import PageLimit, decode_cursor, encode_cursor
from lynex_box.api.principal import Access, project_access
from lynex_box.api.services import services

DELIVERY_STATES = ("pending", "delivered", "failed")
HISTORY_LIMIT: Final = PageLimit(history.MAX_PAGE, 50)  # firings and deliveries


async def _access(request: Request, action: str) -> tuple[AlertService, Access]:
    svc = services(request)
    access = await project_access(request, svc, request.path_params["project_id"], action)
    if svc.alerts is None:
        raise ApiError(503, "starting", "alerts are not running yet", {"Retry-After": "1"})
    return svc.alerts, access


def _rule_id(request: Request) -> str:
    rule_id = str(request.path_params["rule_id"])
    if len(rule_id) > 64:
        raise ApiError(404, "not_found", "no alert rule with that id in this project")
    return rule_id


async def _check_targets(alerts: AlertService, doc: dict[str, Any]) -> None:
    """Refuse channel URLs whose host name resolves to an address notifications may not reach (literal
    addresses were checked by `parse_rule`; every delivery checks again)."""
    refused = await alerts.refused_targets(doc)
    if refused:
        raise RuleError("; ".join(refused))


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no alert rule with that id in this project")


async def channel_types(request: Request) -> Response:
    """The notification channel types rules may use (the loaded channel plugins), with the fields the UI's form
    shows; `available` is false for email while `[smtp]` is off."""
    alerts, _ = await _access(request, "alerts.read")
    return json_response({"items": alerts.channel_types()})


async def list_rules(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.read")
    rules = await asyncio.to_thread(lambda: store.list_rules(alerts.db.reader(), access.project_id))
    return json_response({"items": [r.as_dict() for r in rules]})


async def get_rule(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.read")
    rule_id = _rule_id(request)
    rule = await asyncio.to_thread(lambda: store.get_rule(alerts.db.reader(), access.project_id, rule_id))
    if rule is None:
        raise _not_found()
    return json_response(rule.as_dict())


async def create_rule(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.manage")
    doc = await json_object(request, alerts.settings.alerts.max_rule_body_bytes)
    try:
        spec = parse_rule(doc, alerts.limits)
        await _check_targets(alerts, doc)
        max_rules = alerts.settings.alerts.max_rules_per_project
        rule = await asyncio.to_thread(
            alerts.db.write,
            lambda c: store.create_rule(c, alerts.box, access.project_id, spec, access.actor, max_rules),
        )
    except RuleError as exc:
        raise ApiError(400, "bad_rule", str(exc)) from None
    except store.RuleLimitReached as exc:
        raise ApiError(
            409, "too_many_rules", f"{exc}; hint: delete rules or raise [alerts] max_rules_per_project"
        ) from None
    return json_response(rule.as_dict(), 201)


async def update_rule(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.manage")
    rule_id = _rule_id(request)
    doc = await json_object(request, alerts.settings.alerts.max_rule_body_bytes)
    try:
        await _check_targets(alerts, doc)
        rule = await asyncio.to_thread(
            alerts.db.write,
            lambda c: store.update_rule(c, alerts.box, access.project_id, rule_id, doc, alerts.limits, access.actor),
        )
    except RuleError as exc:
        raise ApiError(400, "bad_rule", str(exc)) from None
    except SealError as exc:
        raise ApiError(409, "channels_unreadable", str(exc)) from None
    if rule is None:
        raise _not_found()
    return json_response(rule.as_dict())


async def delete_rule(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.manage")
    rule_id = _rule_id(request)
    deleted = await asyncio.to_thread(
        alerts.db.write, lambda c: store.delete_rule(c, access.project_id, rule_id, access.actor)
    )
    if not deleted:
        raise _not_found()
    return Response(status_code=204)


async def test_rule(request: Request) -> Response:
    """Send a test notification to every channel of the rule now (one attempt each) and answer the outcomes."""
    alerts, access = await _access(request, "alerts.manage")
    rule_id = _rule_id(request)
    rule = await asyncio.to_thread(lambda: store.get_rule(alerts.db.reader(), access.project_id, rule_id))
    if rule is None:
        raise _not_found()
    if not rule.spec.channels:
        raise ApiError(400, "no_channels", "this rule has no channels to test; add a webhook, Slack or email channel")
    note = Notification("test", rule.as_dict(), None, rule.last_value, store.now_us(), alerts.link(rule.id))
    try:
        results = await alerts.deliverer.test(rule, note)
    except SealError as exc:
        raise ApiError(409, "channels_unreadable", str(exc)) from None
    return json_response({"items": results})


def _page_args(request: Request) -> tuple[int, tuple[int, str] | None, str | None]:
    params = request.query_params
    limit = HISTORY_LIMIT.parse(params)
    before = decode_cursor(params.get("cursor"))
    rule_id = params.get("rule_id") or None
    if rule_id is not None and len(rule_id) > 64:
        raise ApiError(400, "bad_filter", "rule_id is longer than 64 characters")
    return limit, before, rule_id


def _page(items: list[dict[str, Any]], limit: int, time_key: str) -> dict[str, Any]:
    cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        cursor = encode_cursor(last[time_key], last["id"])
    return {"items": items, "next_cursor": cursor}


async def list_firings(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.read")
    limit, before, rule_id = _page_args(request)
    items = await asyncio.to_thread(
        lambda: history.list_firings(alerts.db.reader(), access.project_id, rule_id, before, limit + 1)
    )
    return json_response(_page(items, limit, "started_at"))


async def list_deliveries(request: Request) -> Response:
    alerts, access = await _access(request, "alerts.read")
    limit, before, rule_id = _page_args(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in DELIVERY_STATES:
        raise ApiError(400, "bad_filter", f"status must be one of {list(DELIVERY_STATES)}")
    items = await asyncio.to_thread(
        lambda: history.list_deliveries(alerts.db.reader(), access.project_id, rule_id, status, before, limit + 1)
    )
    return json_response(_page(items, limit, "created_at"))


_BASE = "/api/projects/{project_id}/alerts"
routes = [
    Route(f"{_BASE}/channel-types", channel_types, methods=["GET"]),
    Route(f"{_BASE}/rules", list_rules, methods=["GET"]),
    Route(f"{_BASE}/rules", create_rule, methods=["POST"]),
    Route(f"{_BASE}/rules/{{rule_id}}", get_rule, methods=["GET"]),
    Route(f"{_BASE}/rules/{{rule_id}}", update_rule, methods=["PATCH"]),
    Route(f"{_BASE}/rules/{{rule_id}}", delete_rule, methods=["DELETE"]),
    Route(f"{_BASE}/rules/{{rule_id}}/test", test_rule, methods=["POST"]),
    Route(f"{_BASE}/firings", list_firings, methods=["GET"]),
    Route(f"{_BASE}/deliveries", list_deliveries, methods=["GET"]),
]

_RULE_TEXT: Final = (
    "name, metric (error_rate, error_count, span_count, total_cost, p95_latency_ms, tokens), window_s, comparison "
    "(gt, gte, lt, lte), threshold, interval_s?, renotify_s?, enabled?, filters? {model, name, environment}, "
    "channels? [{type: webhook|slack|email|teams|pagerduty|opsgenie|<a channel plugin's>, ...its settings}] "
    "(docs/alerts.md; GET .../alerts/channel-types lists the types)"
)
# the built-in channel types' settings (plugins/lynex-channels); a channel plugin's type brings its own
_CHANNEL: Final = spec.obj(
    (),
    id=spec.STR,
    type=spec.STR,
    url=spec.STR,
    secret={"type": ["string", "null"]},
    to=spec.list_of(spec.STR),
    routing_key=spec.STR,
    severity={"enum": ["critical", "error", "warning", "info"]},
    events_url=spec.STR,
    api_key=spec.STR,
    priority={"enum": ["P1", "P2", "P3", "P4", "P5"]},
    api_base=spec.STR,
)
_RULE_FIELDS: Final[dict[str, spec.Schema]] = {
    "name": spec.STR,
    "metric": {"enum": ["error_rate", "error_count", "span_count", "total_cost", "p95_latency_ms", "tokens"]},
    "window_s": {"type": "integer"},
    "comparison": {"enum": ["gt", "gte", "lt", "lte"]},
    "threshold": {"type": "number"},
    "interval_s": {"type": "integer"},
    "renotify_s": {"type": "integer"},
    "enabled": {"type": "boolean"},
    "filters": spec.obj((), model=spec.STR, name=spec.STR, environment=spec.STR),
    "channels": spec.list_of(_CHANNEL),
}
_RULE: Final = spec.obj(("id", "name", "metric", "channels"))
_HISTORY: Final = spec.page(HISTORY_LIMIT, ("rule_id", "one rule"))
OPENAPI: Final[spec.Paths] = {
    f"{_BASE}/channel-types": {
        "get": spec.op(
            "The notification channel types rules may use, from the loaded channel plugins (alerts.read)",
            {200: "{items: [{type, label, available, fields: [{name, label, kind, required}]}]}"},
            returns=spec.ITEMS,
        )
    },
    f"{_BASE}/rules": {
        "get": spec.op(
            "Alert rules of the project with their state (alerts.read)", {200: "{items}"}, returns=spec.ITEMS
        ),
        "post": spec.op(
            "Create an alert rule (alerts.manage; audited)",
            {201: "the rule; channel URLs redacted, secrets never shown"},
            body_text=_RULE_TEXT,
            body=spec.obj(("name", "metric", "window_s", "comparison", "threshold"), **_RULE_FIELDS),
            errors=(400, 401, 403, 404, 409, 415),
            returns=_RULE,
        ),
    },
    f"{_BASE}/rules/{{rule_id}}": {
        "get": spec.op("One alert rule (alerts.read)", {200: "the rule"}, returns=_RULE),
        "patch": spec.op(
            "Change an alert rule (alerts.manage; audited); a channel sent with only its id keeps its URL and secret",
            {200: "the rule"},
            body_text=_RULE_TEXT,
            body=spec.obj((), **_RULE_FIELDS),
            errors=(400, 401, 403, 404, 409, 415),
            returns=_RULE,
        ),
        "delete": spec.op(
            "Delete an alert rule with its firings and deliveries (alerts.manage; audited)", {204: "deleted"}
        ),
    },
    f"{_BASE}/rules/{{rule_id}}/test": {
        "post": spec.op(
            "Send a test notification to each channel of the rule now, one attempt each (alerts.manage)",
            {200: "{items: [{delivery_id, channel_id, channel_type, status, response_status, error}]}"},
            errors=(400, 401, 403, 404, 409),
        )
    },
    f"{_BASE}/firings": {
        "get": spec.op(
            "Firings of the project's rules, newest first (alerts.read)",
            {200: "{items, next_cursor}"},
            params=_HISTORY,
            returns=spec.PAGE,
        )
    },
    f"{_BASE}/deliveries": {
        "get": spec.op(
            "Notification deliveries with their attempts and errors, newest first (alerts.read)",
            {200: "{items, next_cursor}"},
            params=[*_HISTORY, *spec.query(("status", "pending, delivered or failed"))],
            returns=spec.PAGE,
        )
    },
}
