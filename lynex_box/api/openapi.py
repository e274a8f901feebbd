"""The OpenAPI 3.1 document served at `/openapi.json` (and described for humans in docs/api.md).

The document's paths are derived from the app's routes, so it lists every route the server answers and nothing
else. Each route is described next to it, in its module's `OPENAPI` table (the dialect is `spec.py`); each audience
package joins its modules' tables, and `documented_paths` joins the packages'. The few routes mounted outside
`api/` (the health checks and this document in app.py, the account links in web/routes.py, layers that api/ may
not import) are described here. A route without a description still appears (described by its handler's
docstring, marked `x-undocumented`), and tests/api/test_openapi.py fails until it gets one. The web UI's files
(`/`, `/ui/...`) are left out.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from starlette.routing import BaseRoute, Route

from lynex_box import __version__
from lynex_box.api import accounts, admin, ingest, platform_metrics, query, spec
from lynex_box.api.readonly import SAFE_METHODS, SIGN_IN

# Routes mounted outside api/: the health checks, the version and this document (app.py), the links the API and its
# emails hand out (web/routes.py, which redirects them into the UI).
_OUTSIDE: Final[spec.Paths] = {
    "/healthz": {
        "get": spec.op(
            "Alive",
            {200: "alive"},
            security=None,
            errors=(),
            returns=spec.obj(("status", "version"), status=spec.STR, version=spec.STR),
        )
    },
    "/readyz": {
        "get": spec.op(
            "Recovered and accepting; 503 while starting, under backpressure, or when every query "
            "worker has been busy for query.saturated_after_s",
            {200: '{"status": "ready", "workers": {"query", "export"}}'},
            security=None,
            errors=(503,),
            returns=spec.obj(("status",), status=spec.STR),
        )
    },
    "/v1/version": {
        "get": spec.op(
            "The server's version and its API's major version (`api`); SDKs warn once when theirs differs",
            {200: '{"version": "<package version>", "api": "1"}'},
            security=spec.PUBLIC,
            errors=(),
            returns=spec.obj(("version", "api"), version=spec.STR, api=spec.STR),
        )
    },
    "/openapi.json": {"get": spec.op("This document", {200: "OpenAPI 3.1"}, security=spec.PUBLIC, errors=())},
    **{
        path: {
            "get": spec.op(
                f"The link the API and emails hand out for {what} (the token is in the URL fragment, which the "
                "server never sees): redirects into the web UI",
                {307: "to /ui" + path},
                security=spec.PUBLIC,
                errors=(),
            )
        }
        for path, what in (("/invite", "an invitation"), ("/reset-password", "a password reset"))
    },
}


def documented_paths() -> spec.Paths:
    """Every described path -> method -> operation (the tables the document is made from)."""
    return spec.merge(
        ingest.openapi, query.openapi, accounts.openapi, admin.openapi, platform_metrics.OPENAPI, _OUTSIDE
    )


def _returns() -> dict[str, dict[str, spec.Schema]]:
    """path -> method -> the schema every 2xx JSON answer of that operation promises (`spec.op`'s `returns`)."""
    out: dict[str, dict[str, spec.Schema]] = {}
    for path, methods in documented_paths().items():
        for method, operation in methods.items():
            schemas = [
                answer["content"][spec.JSON].get("schema")
                for code, answer in operation["responses"].items()
                if code.startswith("2") and spec.JSON in answer.get("content", {})
            ]
            if schemas and schemas[0] not in (None, spec.OBJECT):
                out.setdefault(path, {})[method] = schemas[0]
    return out


# The success answers whose members clients rely on; the conformance suite checks the server against them.
RETURNS: Final = _returns()
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
    return {"summary": summary, "x-undocumented": True, "responses": {"default": spec.error()}}


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


def _with_read_only(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """A write (any method but GET, HEAD, OPTIONS; sign-in aside) also answers 503 `read_only` (api/readonly.py)."""
    if method.upper() in SAFE_METHODS or path in SIGN_IN or "503" in operation.get("responses", {}):
        return operation
    return {**operation, "responses": {**operation.get("responses", {}), "503": spec.error()}}


def event_schema() -> spec.Schema:
    """lynex_box/schema/event.schema.json, with its `$defs` references rewritten to where the document puts it."""
    raw = (Path(__file__).parent.parent / "schema" / "event.schema.json").read_text()
    schema: spec.Schema = json.loads(raw.replace('"#/$defs/', '"#/components/schemas/Event/$defs/'))
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return schema


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    described = documented_paths()
    paths: dict[str, dict[str, Any]] = {}
    for path, method, route in route_operations(routes):
        operation = described.get(path, {}).get(method) or _fallback(route)
        paths.setdefault(path, {})[method] = _with_read_only(path, method, _with_path_params(path, operation))
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
                "Event": event_schema(),
            },
        },
        "paths": dict(sorted(paths.items())),
    }
