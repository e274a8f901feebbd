"""Which requests write the cluster's shared metadata, and so go to the `metadata` lease holder in cluster mode.

One table for the whole API: every route that can change users, orgs, projects, keys, members, invitations,
sign-in state, SSO/SCIM, alert rules, synthetic monitors, a project's plugins, prices, settings, JWT trust, prompts
or deletion tombstones is in `FORWARDED`, with the body cap its own handler applies (checked before forwarding, and
again by the holder's handler); every other route with an unsafe method is in `LOCAL`, with the reason it stays on
the node that received it (ingest goes through each node's WAL). tests/api/test_metawrites.py walks the app's routes
and fails when a route with a method other than GET/HEAD is in neither, so a new write route must be classified
here.

The OIDC login and callback are GET routes but are forwarded too: the callback creates users and sessions, and it
must reach the node that started the login (the state it checks is kept in that node's memory).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from starlette.routing import compile_path

from lynex_box.config import Settings

Cap = Callable[[Settings], int]


def _json(settings: Settings) -> int:
    return settings.api.max_json_body_bytes


def _prompt(settings: Settings) -> int:
    return settings.api.max_prompt_body_bytes


def _prices(settings: Settings) -> int:
    return settings.api.max_price_body_bytes


def _scim(settings: Settings) -> int:
    return settings.scim.max_body_bytes


def _rule(settings: Settings) -> int:
    return settings.alerts.max_rule_body_bytes


def _plugin(settings: Settings) -> int:
    return 2 * settings.plugins.max_project_config_bytes + 4096  # admin/project_plugins.py `body_cap`


def _monitor(settings: Settings) -> int:
    return settings.monitors.max_body_bytes


# (method, route path as the route declares it, body cap)
FORWARDED: Final[tuple[tuple[str, str, Cap], ...]] = (
    # sign-in state and passwords (accounts/auth.py, accounts/oidc.py)
    ("POST", "/api/auth/login", _json),
    ("POST", "/api/auth/logout", _json),
    ("POST", "/api/auth/password", _json),
    ("POST", "/api/auth/password/reset", _json),
    ("POST", "/api/auth/password/forgot", _json),
    ("POST", "/api/invitations/accept", _json),
    ("GET", "/api/auth/oidc/login", _json),
    ("GET", "/api/auth/oidc/callback", _json),
    # orgs, members, invitations (accounts/members.py)
    ("POST", "/api/orgs", _json),
    ("POST", "/api/projects/{project_id}/members", _json),
    ("PATCH", "/api/projects/{project_id}/members/{user_id}", _json),
    ("DELETE", "/api/projects/{project_id}/members/{user_id}", _json),
    ("POST", "/api/orgs/{org_id}/members", _json),
    ("PATCH", "/api/orgs/{org_id}/members/{user_id}", _json),
    ("DELETE", "/api/orgs/{org_id}/members/{user_id}", _json),
    ("POST", "/api/orgs/{org_id}/members/{user_id}/password-reset", _json),
    ("POST", "/api/orgs/{org_id}/invitations", _json),
    ("DELETE", "/api/orgs/{org_id}/invitations/{invitation_id}", _json),
    # SCIM provisioning (accounts/scim.py)
    ("POST", "/scim/v2/Users", _scim),
    ("PUT", "/scim/v2/Users/{id}", _scim),
    ("PATCH", "/scim/v2/Users/{id}", _scim),
    ("DELETE", "/scim/v2/Users/{id}", _scim),
    ("POST", "/scim/v2/Groups", _scim),
    ("PUT", "/scim/v2/Groups/{id}", _scim),
    ("PATCH", "/scim/v2/Groups/{id}", _scim),
    ("DELETE", "/scim/v2/Groups/{id}", _scim),
    ("POST", "/api/orgs/{org_id}/scim-token", _json),
    ("DELETE", "/api/orgs/{org_id}/scim-token", _json),
    # projects, keys, settings (retention, limits, encryption), JWT trust (admin/projects.py, admin/jwt_trust.py)
    ("POST", "/api/projects", _json),
    ("POST", "/api/projects/{project_id}/keys", _json),
    ("DELETE", "/api/projects/{project_id}/keys/{key_id}", _json),
    ("PATCH", "/api/projects/{project_id}/settings", _json),
    ("PUT", "/api/projects/{project_id}/jwt-trust", _json),
    ("DELETE", "/api/projects/{project_id}/jwt-trust", _json),
    # deletion tombstones, prices and repricing (admin/deletion.py, admin/prices.py)
    ("DELETE", "/v1/projects/{project_id}/traces/{trace_id}", _json),
    ("DELETE", "/v1/projects/{project_id}/sessions/{session_id}", _json),
    ("DELETE", "/v1/projects/{project_id}/users/{user_id}", _json),
    ("POST", "/v1/projects/{project_id}/reprice", _json),
    ("PUT", "/v1/projects/{project_id}/prices", _prices),
    ("DELETE", "/v1/projects/{project_id}/prices", _prices),
    # alert rules (admin/alerts.py)
    ("POST", "/api/projects/{project_id}/alerts/rules", _rule),
    ("PATCH", "/api/projects/{project_id}/alerts/rules/{rule_id}", _rule),
    ("DELETE", "/api/projects/{project_id}/alerts/rules/{rule_id}", _rule),
    # plugins turned on and configured per project (admin/project_plugins.py)
    ("PUT", "/api/projects/{project_id}/plugins/{name}", _plugin),
    ("DELETE", "/api/projects/{project_id}/plugins/{name}", _json),
    # synthetic monitors and the alert rules they link (admin/monitors.py)
    ("POST", "/api/projects/{project_id}/monitors", _monitor),
    ("PATCH", "/api/projects/{project_id}/monitors/{monitor_id}", _monitor),
    ("DELETE", "/api/projects/{project_id}/monitors/{monitor_id}", _monitor),
    # a user's saved views (admin/saved_views.py)
    ("POST", "/api/projects/{project_id}/views", _json),
    ("DELETE", "/api/projects/{project_id}/views/{view_id}", _json),
    # a project's custom dashboard (admin/dashboards.py)
    ("PUT", "/api/projects/{project_id}/dashboard", _json),
    # registered prompt templates (query/prompts.py)
    ("POST", "/v1/projects/{project_id}/prompts", _prompt),
)

# (method, route path) -> why it is answered by the node that received it
LOCAL: Final[dict[tuple[str, str], str]] = {
    ("POST", "/v1/projects/{project_id}/events"): "ingest: acknowledged once in this node's WAL",
    ("POST", "/v1/traces"): "ingest (OTLP/HTTP)",
    ("POST", "/v1/logs"): "ingest (OTLP/HTTP)",
    ("POST", "/v1/metrics"): "ingest (OTLP/HTTP)",
    ("POST", "/api/public/otel/v1/traces"): "ingest (OTLP/HTTP, Langfuse's path)",
    ("POST", "/api/public/otel/v1/logs"): "ingest (OTLP/HTTP, Langfuse's path)",
    ("POST", "/api/public/otel/v1/metrics"): "ingest (OTLP/HTTP, Langfuse's path)",
    ("POST", "/v1/trace/log"): "ingest (OTLP/HTTP, alternate path)",
    ("POST", "/v1/trace/log-python"): "ingest (OTLP/HTTP, alternate path)",
    ("POST", "/api/public/ingestion"): "ingest (Langfuse)",
    ("POST", "/api/public/scores"): "ingest: scores go through the WAL",
    ("POST", "/v1/projects/{project_id}/scores"): "ingest: scores go through the WAL",
    ("POST", "/api/invitations/lookup"): "read-only: looks an invitation token up",
    ("POST", "/api/projects/{project_id}/alerts/rules/{rule_id}/test"): "sends test notifications, writes nothing",
    ("POST", "/api/projects/{project_id}/monitors/{monitor_id}/run"): (
        "runs the monitor here: its trace goes through this node's WAL, its run is this node's record"
    ),
}


@dataclass(frozen=True, slots=True)
class MetaWrite:
    """A forwarded route: its method, declared path, the regex its requests match, and its body cap."""

    method: str
    path: str
    pattern: re.Pattern[str]
    cap: Cap


def _by_method() -> dict[str, tuple[MetaWrite, ...]]:
    rules: dict[str, list[MetaWrite]] = {}
    for method, path, cap in FORWARDED:
        rules.setdefault(method, []).append(MetaWrite(method, path, compile_path(path)[0], cap))
    return {method: tuple(found) for method, found in rules.items()}


_RULES: Final = _by_method()  # asked on every request in cluster mode: only the request's method's rules are tried


def metadata_write(method: str, path: str) -> MetaWrite | None:
    """The rule when a request (`method`, decoded `path`) writes shared metadata, else None."""
    for rule in _RULES.get(method.upper(), ()):
        if rule.pattern.match(path):
            return rule
    return None
