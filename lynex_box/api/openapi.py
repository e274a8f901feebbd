"""The OpenAPI 3.1 document served at `/openapi.json` (and described for humans in docs/api.md).

The document's paths are derived from the app's routes, so it lists every route the server answers and
nothing else; the descriptions come from the tables here, in openapi_accounts.py and openapi_alerts.py.
A route without a table entry still appears (described by its handler's docstring, marked
`x-undocumented`), and tests/api/test_openapi.py fails until it gets one. The web UI's files (`/`,
`/ui/...`) are left out.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Route

from lynex_box import __version__
from lynex_box.api import openapi_bodies as b
from lynex_box.api.ingest.otlp import JSON, PROTOBUF
from lynex_box.api.openapi_accounts import KEY, PUBLIC, account_paths, op
from lynex_box.api.openapi_alerts import alert_paths
from lynex_box.lifecycle.export import FORMATS

_FILTERS = [
    ("from", "RFC 3339 time or epoch ms: spans starting at or after"),
    ("to", "RFC 3339 time or epoch ms: spans starting before"),
    ("name", "span name"),
    ("model", "requested model"),
    ("provider", "provider"),
    ("status", "ok, error or unset"),
    ("user_id", "end user"),
    ("session_id", "session"),
    ("environment", "environment"),
    ("kind", "span kind"),
    ("tag", "a tag the span carries"),
    ("q", "case-insensitive text in input or output"),
    ("min_cost", "USD"),
    ("max_cost", "USD"),
    ("min_duration_ms", "ms"),
    ("max_duration_ms", "ms"),
]
_GROUPS = "model, provider, name, user_id, environment, kind, session_id, prompt_name"
_PAGE = [("limit", "1..1000, default 50"), ("cursor", "next_cursor of the previous page")]


def _params(names: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}} for n, d in names
    ]


_PROJECT = {"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_TRACE = {"name": "trace_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PROMPT_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_LIST = {"type": "object", "properties": {"items": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}}
_OBJECT = {"type": "object"}
# a read may need an encrypted project's key or offloaded segments: 503 (key or bucket unavailable) and 422 (an
# offloaded range larger than the local cache) come from the app's exception handlers, on any data read
_READ_ERRORS = (400, 401, 403, 422, 503)


def _json(description: str, schema: dict[str, Any] = _OBJECT) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _get(summary: str, extra: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    """A GET of project data; one that names an item in its path (a trace, a prompt) answers 404 without it."""
    by_id = any(p["in"] == "path" for p in extra)
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": [_PROJECT, *extra],
            "responses": {
                "200": _json("ok", schema),
                **{str(code): _ERROR for code in sorted((*_READ_ERRORS, 404) if by_id else _READ_ERRORS)},
            },
        }
    }


def _post(
    summary: str, responses: dict[str, str], codes: tuple[int, ...], body: b.Schema, basic: bool = False
) -> dict[str, Any]:
    """A JSON body in, a JSON object out; 415 for a Content-Encoding the server does not decode."""
    return {
        "post": {
            "summary": summary,
            "security": [{"basic": []}] if basic else [{"bearer": []}],
            "parameters": [] if basic else [_PROJECT],
            "requestBody": b.json_body(body),
            "responses": {
                **{c: _json(d) for c, d in responses.items()},
                **{str(c): _ERROR for c in sorted({*codes, 415})},
            },
        }
    }


def _scores_and_prices() -> dict[str, Any]:
    score_filters = [("trace_id", "trace"), ("span_id", "span"), ("session_id", "session"), ("name", "score name")]
    price = "{model, provider?, input_per_mtok, output_per_mtok, cache_read_per_mtok?, cache_write_per_mtok?}"
    prices = {
        **_get("The project's custom model prices (USD per million tokens)", [], _LIST),
        "put": _post(
            f'Upsert custom prices {{"prices": [{price}]}} (admin key)',
            {"200": "the prices"},
            (400, 401, 403, 413),
            b.PRICES,
        )["post"],
        "delete": {
            "summary": "Delete one custom price (admin key)",
            "security": [{"bearer": []}],
            "parameters": [_PROJECT, *_params([("model", "model (required)"), ("provider", "provider, if any")])],
            "responses": {"200": _json("the prices left"), **{str(c): _ERROR for c in (400, 401, 403, 404)}},
        },
    }
    return {
        "/v1/projects/{project_id}/scores": {
            **_get("Scores, newest first", _params(score_filters + _PAGE), _LIST),
            **_post(
                'Store scores: one score or {"scores": [...]} ({trace_id, span_id?, name, value, data_type?, ...})',
                {"202": "{accepted, rejected: [{index, error}], ids}"},
                (400, 401, 403, 413, 503),
                b.SCORES,
            ),
        },
        "/v1/projects/{project_id}/prices": prices,
        "/v1/projects/{project_id}/reprice": _post(
            'Recompute stored costs of spans in [from, to) with the current prices {"from", "to"} (RFC 3339 or epoch '
            "ms; admin key or project admin; audited). Reported costs stay; answers when the new costs are visible",
            {"200": "{from, to, files, rewritten, spans, spans_changed}"},
            (400, 401, 403, 503),
            b.REPRICE,
        ),
        "/api/public/projects": {
            "get": {
                "summary": "Langfuse auth check: the key's project (Basic public key = project id, secret = API key)",
                "security": [{"basic": []}],
                "responses": {"200": _json('{"data": [{id, name, organization, metadata}]}'), "401": _ERROR},
            }
        },
        "/api/public/ingestion": _post(
            'Langfuse legacy batch {"batch": [{id, type, timestamp, body}]} (docs/langfuse.md)',
            {"207": '{"successes": [{id, status}], "errors": [{id, status, message}]}'},
            (400, 401, 403, 413, 429, 503),
            b.LANGFUSE_BATCH,
            basic=True,
        ),
        "/api/public/scores": _post(
            "Langfuse v5 scores (a JSON list)",
            {"202": '{"message": "Accepted"}', "207": "{accepted, rejected, errors: [{message}]}"},
            (400, 401, 403, 413, 429),
            b.LANGFUSE_SCORES,
            basic=True,
        ),
    }


def _add_lifecycle(paths: dict[str, Any]) -> None:
    """Deletion (GDPR) and export (lynex_box/api/query/export.py)."""
    for kind, param in (("trace", "trace_id"), ("session", "session_id"), ("user", "user_id")):
        path = f"/v1/projects/{{project_id}}/{kind}s/{{{param}}}"
        paths.setdefault(path, {})["delete"] = {
            "summary": f"Delete every span of this {kind}: hidden from queries at once, purged from every file "
            "within lifecycle.deletion_max_delay_s (admin key or project admin; audited)",
            "security": [{"bearer": []}],
            "parameters": [_PROJECT, {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "202": _json('{"deleted": {"kind", "id"}, "tombstone_id", "purge_by"}'),
                **{str(code): _ERROR for code in (400, 401, 403, 404)},
            },
        }
    paths["/v1/projects/{project_id}/export"] = {
        "get": {
            "summary": "Download the project's spans (format=parquet|jsonl|csv, from, to), streamed; at most "
            "lifecycle.export_per_project at once per project (429 + Retry-After), stopped after "
            "lifecycle.export_timeout_s (the body then ends incomplete)",
            "security": [{"bearer": []}],
            "parameters": [_PROJECT, *_params([("format", "parquet (default), jsonl or csv"), *_FILTERS[:2]])],
            "responses": {
                "200": {"description": "the file", "content": {media: {} for media in FORMATS.values()}},
                **{str(c): _ERROR for c in (*_READ_ERRORS, 429)},
            },
        }
    }


def _data_paths() -> dict[str, Any]:
    """The project data API (`/v1/...`) and the Langfuse-compatible API."""
    lists = _params(_FILTERS + _PAGE)
    paths: dict[str, Any] = {
        "/v1/projects/{project_id}/events": {
            "post": {
                "summary": "Ingest native events (docs/events.md); 202 once durable",
                "security": [{"bearer": []}],
                "parameters": [_PROJECT],
                "requestBody": b.json_body(b.EVENTS),
                "responses": {
                    "202": _json("accepted: {accepted, rejected: [{index, error}]}"),
                    **{str(code): _ERROR for code in (400, 401, 403, 413, 415, 429, 503)},
                },
            }
        },
        "/v1/projects/{project_id}/traces": _get("Traces, newest first", lists, _LIST),
        "/v1/projects/{project_id}/traces/{trace_id}": _get(
            "One trace with all its spans and its scores",
            [{"name": "trace_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            {
                "type": "object",
                "properties": {
                    "trace_id": {"type": "string"},
                    "spans": {"type": "array"},
                    "scores": {"type": "array"},
                },
            },
        ),
        "/v1/projects/{project_id}/traces/{trace_id}/outline": _get(
            "A trace's spans with the columns of its waterfall only (null values left out)",
            [_TRACE],
            {"type": "object", "properties": {"trace_id": {"type": "string"}, "spans": {"type": "array"}}},
        ),
        "/v1/projects/{project_id}/traces/{trace_id}/spans/{span_id}": _get(
            "One span of a trace with every column",
            [_TRACE, {"name": "span_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            {"type": "object"},
        ),
        "/v1/projects/{project_id}/spans": _get("Spans, newest first", lists, _LIST),
        "/v1/projects/{project_id}/prompts": {
            **_get("Prompt versions seen in spans or registered, with their metrics", _params(_FILTERS[:2]), _LIST),
            "post": {
                "summary": "Register a prompt version's template text (immutable): {name, template, version?}",
                "security": [{"bearer": []}],
                "parameters": [_PROJECT],
                "requestBody": b.json_body(b.PROMPT),
                "responses": {
                    "201": _json("registered"),
                    "200": _json("already registered with the same text"),
                    **{str(code): _ERROR for code in (400, 401, 403, 409, 413, 415)},
                },
            },
        },
        "/v1/projects/{project_id}/prompts/{name}/versions": _get(
            "One prompt's versions with their templates and metrics",
            [_PROMPT_NAME, *_params(_FILTERS[:2])],
            {"type": "object", "properties": {"name": {"type": "string"}, "items": {"type": "array"}}},
        ),
        "/v1/projects/{project_id}/metrics": _get(
            "Counts, errors, tokens, cost and latency percentiles over time",
            _params(
                [
                    *_FILTERS,
                    ("interval", "30s, 5m, 1h, 1d; none = one point"),
                    ("group_by", "model, provider, name, user_id, environment, kind, session_id, prompt_name"),
                    ("top", "keep the N groups ranked highest by top_by"),
                    ("top_by", "total_cost (default), count or errors"),
                ]
            ),
            {"type": "object", "properties": {"series": {"type": "array"}}},
        ),
        "/v1/projects/{project_id}/sessions": _get("Aggregates per session", lists, _LIST),
        "/v1/projects/{project_id}/users": _get("Aggregates per end user", lists, _LIST),
        **_scores_and_prices(),
        "/healthz": {"get": {"summary": "Alive", "responses": {"200": _json("alive")}}},
        "/readyz": {
            "get": {
                "summary": "Recovered and accepting; 503 while starting, under backpressure, or when every query "
                "worker has been busy for query.saturated_after_s",
                "responses": {"200": _json('{"status": "ready", "workers": {"query", "export"}}'), "503": _ERROR},
            }
        },
    }
    _add_lifecycle(paths)
    return paths


def _otlp(summary: str) -> dict[str, Any]:
    """An OTLP/HTTP receiver: protobuf or JSON in, the same out, errors as google.rpc.Status in that encoding."""
    status = {PROTOBUF: {}, JSON: {"schema": {"$ref": "#/components/schemas/Status"}}}
    return {
        "summary": summary,
        "security": KEY,
        "requestBody": {"required": True, "content": {PROTOBUF: {}, JSON: {"schema": b.OTLP_JSON}}},
        "responses": {
            "200": {"description": "Export(Trace|Logs|Metrics)ServiceResponse", "content": {PROTOBUF: {}, JSON: {}}},
            **{str(code): {"description": "error", "content": status} for code in (400, 401, 403, 413, 415, 503)},
        },
    }


def _other_paths() -> dict[str, Any]:
    """OTLP receivers, the links the API hands out, and this document."""
    otlp = (
        "Body: ExportTrace/Logs/MetricsServiceRequest as protobuf or JSON (gzip or zstd allowed). 200 with an "
        "export response (partial_success names spans that could not be stored), google.rpc.Status bodies on "
        "failure, 503 + Retry-After when over limits or under backpressure"
    )
    paths: dict[str, Any] = {}
    for signal, what in (("traces", "spans"), ("logs", "log records"), ("metrics", "metrics (accepted and dropped)")):
        for prefix in ("", "/api/public/otel"):
            paths[f"{prefix}/v1/{signal}"] = {"post": _otlp(f"OTLP/HTTP: ingest {what}. {otlp}")}
    for path in ("/v1/trace/log", "/v1/trace/log-python"):
        paths[path] = {"post": _otlp(f"OTLP/HTTP traces at Helicone's path. {otlp}")}
    for path, what in (("/invite", "an invitation"), ("/reset-password", "a password reset")):
        paths[path] = {
            "get": op(
                f"The link the API and emails hand out for {what} (the token is in the URL fragment, which the "
                "server never sees): redirects into the web UI",
                {307: "to /ui" + path},
                security=PUBLIC,
                errors=(),
            )
        }
    paths["/openapi.json"] = {"get": op("This document", {200: "OpenAPI 3.1"}, security=PUBLIC, errors=())}
    return paths


def documented_paths() -> dict[str, Any]:
    """Every described path -> method -> operation (the tables the document is made from)."""
    return {**_data_paths(), **account_paths(), **alert_paths(), **_other_paths()}


UI_PATHS = ("/", "/ui", "/ui/{path}")  # the web UI's files: pages and assets, not API
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def route_operations(routes: Sequence[BaseRoute]) -> list[tuple[str, str, Route]]:
    """(OpenAPI path, lowercase method, route) of every API route; HEAD (implied by GET) and the UI left out."""
    out: list[tuple[str, str, Route]] = []
    for route in routes:
        if not isinstance(route, Route):
            continue
        path = _CONVERTOR.sub(r"{\1}", route.path)
        if path in UI_PATHS:
            continue
        out.extend((path, method.lower(), route) for method in sorted(route.methods or ()) if method != "HEAD")
    return out


def _fallback(route: Route) -> dict[str, Any]:
    doc = inspect.getdoc(route.endpoint) or ""
    summary = doc.split("\n\n")[0].replace("\n", " ") or f"{route.name} (not described yet)"
    return {"summary": summary, "x-undocumented": True, "responses": {"default": _ERROR}}


def _with_path_params(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The operation with a path parameter for every `{name}` of the path (derived, so it cannot drift)."""
    declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
    missing = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
        if name not in declared
    ]
    if not missing:
        return operation
    return {**operation, "parameters": [*missing, *operation.get("parameters", [])]}


def _with_returns(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The operation with the schema of its 2xx JSON answers from `openapi_bodies.RETURNS`, if it has one."""
    schema = b.RETURNS.get(path, {}).get(method)
    if schema is None:
        return operation
    responses = dict(operation["responses"])
    for code, response in responses.items():
        if code.startswith("2") and "application/json" in response.get("content", {}):
            responses[code] = {**response, "content": {"application/json": {"schema": schema}}}
    return {**operation, "responses": responses}


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    described = documented_paths()
    paths: dict[str, dict[str, Any]] = {}
    for path, method, route in route_operations(routes):
        operation = described.get(path, {}).get(method) or _fallback(route)
        paths.setdefault(path, {})[method] = _with_returns(path, method, _with_path_params(path, operation))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lynex Box API", "version": __version__},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a project API key (lx_...)"},
                "basic": {"type": "http", "scheme": "basic", "description": "Langfuse style: project id : API key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "lynex_session"},
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRF-Token",
                    "description": "the session's CSRF token; required on POST, PUT, PATCH and DELETE with a session",
                },
                "scimToken": {"type": "http", "scheme": "bearer", "description": "the org's SCIM token (lxscim_...)"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "ScimError": {
                    "type": "object",
                    "required": ["schemas", "status", "detail"],
                    "properties": {
                        "schemas": {"type": "array", "items": {"type": "string"}},
                        "status": {"type": "string"},
                        "detail": {"type": "string"},
                        "scimType": {"type": "string"},
                    },
                },
                "Status": {
                    "description": "google.rpc.Status (OTLP/JSON)",
                    "type": "object",
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                },
                "Event": b.event_schema(),
            },
        },
        "paths": dict(sorted(paths.items())),
    }
