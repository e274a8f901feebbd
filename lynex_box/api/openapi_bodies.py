"""JSON Schemas of the API's request bodies, for `/openapi.json` (data only; openapi*.py put them in place).

They describe what the handlers read, so a client generator or a fuzzer (tests/api/test_conformance.py) can
build requests that get past the first check. They are open (unknown members are allowed by the schema; the
handler decides), and they never replace the handlers' own validation: a body that matches can still be
refused with a 4xx naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

Schema = dict[str, Any]

STR: Final[Schema] = {"type": "string"}
ROLE: Final[Schema] = {"enum": ["owner", "admin", "member", "viewer"]}
TIME: Final[Schema] = {"description": "RFC 3339 or epoch ms", "type": ["string", "number"]}
ANY: Final[Schema] = {}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def _list(items: Schema) -> Schema:
    return {"type": "array", "items": items}


LOGIN = obj(("email", "password"), email=STR, password=STR)
PASSWORD_CHANGE = obj(("current_password", "new_password"), current_password=STR, new_password=STR)
PASSWORD_RESET = obj(("token", "password"), token=STR, password=STR)
FORGOT = obj(("email",), email=STR)
TOKEN = obj(("token",), token=STR)
ACCEPT = obj(("token",), token=STR, password=STR, name=STR, email=STR)
NAME = obj(("name",), name=STR)
MEMBER = obj(("role",), user_id=STR, email=STR, role=ROLE)
ORG_MEMBER = obj(("email", "role"), email=STR, role=ROLE)
ROLE_ONLY = obj(("role",), role=ROLE)
INVITATION = obj(("role",), role=ROLE, email=STR, project_id=STR, project_role=ROLE)
PROJECT = obj(("name",), name=STR, org_id=STR)
KEY = obj(
    (),
    scope={"enum": ["ingest", "read", "admin"]},
    name=STR,
    expires_at=TIME,
    expires_in_days={"type": "number"},
)
_COUNT = {"type": ["number", "null"], "minimum": 0}
SETTINGS = obj(
    (),
    name=STR,
    retention_days={"type": ["integer", "null"], "minimum": 0},
    hot_window_s={"type": ["integer", "null"], "minimum": 0},
    limits=obj((), events_per_s=_COUNT, events_burst=_COUNT, bytes_per_s=_COUNT, bytes_burst=_COUNT),
    encryption={"type": "boolean"},
)
_CHANNEL = obj(
    (),
    id=STR,
    type={"enum": ["webhook", "slack", "email"]},
    url=STR,
    secret={"type": ["string", "null"]},
    to=_list(STR),
)
_RULE_FIELDS: Final[dict[str, Schema]] = {
    "name": STR,
    "metric": {"enum": ["error_rate", "error_count", "span_count", "total_cost", "p95_latency_ms", "tokens"]},
    "window_s": {"type": "integer"},
    "comparison": {"enum": ["gt", "gte", "lt", "lte"]},
    "threshold": {"type": "number"},
    "interval_s": {"type": "integer"},
    "renotify_s": {"type": "integer"},
    "enabled": {"type": "boolean"},
    "filters": obj((), model=STR, name=STR, environment=STR),
    "channels": _list(_CHANNEL),
}
RULE = obj(("name", "metric", "window_s", "comparison", "threshold"), **_RULE_FIELDS)
RULE_CHANGE = obj((), **_RULE_FIELDS)

SCIM_USER = obj(
    ("userName",),
    schemas=_list(STR),
    userName=STR,
    externalId=STR,
    active={"type": "boolean"},
    name=obj((), givenName=STR, familyName=STR, formatted=STR),
    emails=_list(obj((), value=STR, primary={"type": "boolean"})),
)
SCIM_GROUP = obj(("displayName",), schemas=_list(STR), displayName=STR, members=_list(obj(("value",), value=STR)))
SCIM_PATCH = obj(
    ("Operations",),
    schemas=_list(STR),
    Operations=_list(obj(("op",), op={"enum": ["add", "replace", "remove"]}, path=STR, value=ANY)),
)

_SCORE = obj(
    ("name", "value"),
    id=STR,
    trace_id=STR,
    span_id=STR,
    session_id=STR,
    name=STR,
    value={"type": ["number", "string", "boolean"]},
    data_type={"enum": ["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"]},
    source={"enum": ["API", "ANNOTATION", "EVAL"]},
    comment=STR,
    timestamp=TIME,
    metadata=ANY,
)
SCORES = {"anyOf": [_SCORE, obj(("scores",), scores=_list(_SCORE))]}
LANGFUSE_SCORES = _list(
    obj(("name", "value"), traceId=STR, observationId=STR, name=STR, value=_SCORE["properties"]["value"])
)
_PRICE = obj(
    ("model", "input_per_mtok", "output_per_mtok"),
    model=STR,
    provider={"type": ["string", "null"]},
    input_per_mtok={"type": "number"},
    output_per_mtok={"type": "number"},
    cache_read_per_mtok={"type": ["number", "null"]},
    cache_write_per_mtok={"type": ["number", "null"]},
)
PRICES = obj(("prices",), prices=_list(_PRICE))
REPRICE = obj(("from", "to"), **{"from": TIME, "to": TIME})
LANGFUSE_BATCH = obj(
    ("batch",), batch=_list(obj(("id", "type", "body"), id=STR, type=STR, timestamp=STR, body={"type": "object"}))
)
PROMPT = obj(("name", "template"), name=STR, template=STR, version={"type": ["string", "integer"]})
OTLP_JSON = obj((), resourceSpans=_list({"type": "object"}), resourceLogs=_list({"type": "object"}))


def event_schema() -> Schema:
    """lynex_box/schema/event.schema.json, with its `$defs` references rewritten to where the document puts it."""
    raw = (Path(__file__).parent.parent / "schema" / "event.schema.json").read_text()
    schema: Schema = json.loads(raw.replace('"#/$defs/', '"#/components/schemas/Event/$defs/'))
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return schema


EVENTS = obj(("events",), events=_list({"$ref": "#/components/schemas/Event"}))


def json_body(schema: Schema, media: str = "application/json", description: str | None = None) -> Schema:
    """A required request body of `media` described by `schema`."""
    out: Schema = {"required": True, "content": {media: {"schema": schema}}}
    if description is not None:
        out["description"] = description
    return out


# The success answers whose members clients rely on: path -> method -> JSON Schema of every 2xx JSON body of
# that operation (openapi.py puts them in place; the conformance suite checks the server against them).
_ITEMS = obj(("items",), items={"type": "array"})
_PAGE = obj(("items", "next_cursor"), items={"type": "array"}, next_cursor={"type": ["string", "null"]})
_USER = obj(("id", "email", "name"), id=STR, email=STR, name=STR)
_DELETED = obj(("deleted", "tombstone_id", "purge_by"), deleted=obj(("kind", "id")))
RETURNS: Final[dict[str, dict[str, Schema]]] = {
    "/healthz": {"get": obj(("status", "version"), status=STR, version=STR)},
    "/readyz": {"get": obj(("status",), status=STR)},
    "/api/auth/login": {"post": obj(("user", "csrf_token"), user=_USER, csrf_token=STR)},
    "/api/auth/me": {"get": obj(("user", "orgs", "projects"), user=_USER, orgs=_list(obj(("id", "name", "role"))))},
    "/api/auth/oidc": {"get": obj(("enabled",), enabled={"type": "boolean"})},
    "/api/projects": {"get": _ITEMS, "post": obj(("project_id", "name", "org_id", "role"))},
    "/api/projects/{project_id}/keys": {
        "get": _ITEMS,
        "post": obj(("key_id", "api_key", "prefix", "scope", "name", "project_id", "expires_at"), api_key=STR),
    },
    "/api/projects/{project_id}/members": {"get": _ITEMS},
    "/api/projects/{project_id}/audit": {"get": _PAGE},
    "/api/projects/{project_id}/usage": {"get": obj(("project_id", "from", "to", "days", "totals"))},
    "/api/projects/{project_id}/settings": {
        "get": obj(("name", "retention_days", "hot_window_s", "limits", "defaults", "offload_enabled", "encryption")),
        "patch": obj(("name", "retention_days", "hot_window_s", "limits", "defaults", "offload_enabled", "encryption")),
    },
    "/api/projects/{project_id}/alerts/rules": {"get": _ITEMS, "post": obj(("id", "name", "metric", "channels"))},
    "/api/projects/{project_id}/alerts/rules/{rule_id}": {
        "get": obj(("id", "name", "metric", "channels")),
        "patch": obj(("id", "name", "metric", "channels")),
    },
    "/api/projects/{project_id}/alerts/firings": {"get": _PAGE},
    "/api/projects/{project_id}/alerts/deliveries": {"get": _PAGE},
    "/api/orgs": {"post": obj(("id", "name"))},
    "/api/orgs/{org_id}/members": {
        "get": _ITEMS,
        "post": obj(("id", "token", "url", "emailed", "org_id", "role", "expires_at"), token=STR, url=STR),
    },
    "/api/orgs/{org_id}/invitations": {
        "get": _ITEMS,
        "post": obj(("id", "token", "url", "emailed", "org_id", "role", "expires_at"), token=STR, url=STR),
    },
    "/api/orgs/{org_id}/audit": {"get": _PAGE},
    "/api/orgs/{org_id}/scim-token": {"post": obj(("token", "base_url"), token=STR, base_url=STR)},
    "/api/orgs/{org_id}/members/{user_id}/password-reset": {"post": obj(("reset_token", "url", "expires_at"))},
    "/v1/projects/{project_id}/events": {
        "post": obj(("accepted", "rejected"), rejected=_list(obj(("index", "error"))))
    },
    "/v1/projects/{project_id}/scores": {"get": _PAGE, "post": obj(("accepted", "rejected", "ids"))},
    "/v1/projects/{project_id}/prices": {"get": _ITEMS, "put": _ITEMS, "delete": _ITEMS},
    "/v1/projects/{project_id}/traces/{trace_id}": {"delete": _DELETED},
    "/v1/projects/{project_id}/sessions/{session_id}": {"delete": _DELETED},
    "/v1/projects/{project_id}/users/{user_id}": {"delete": _DELETED},
    "/api/public/projects": {"get": obj(("data",), data=_list(obj(("id", "name", "organization"))))},
    "/api/public/ingestion": {"post": obj(("successes", "errors"))},
}
