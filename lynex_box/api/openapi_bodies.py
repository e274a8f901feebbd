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
