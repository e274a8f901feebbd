"""The OpenAPI dialect every route module describes its operations in, next to its routes.

A route module declares `OPENAPI = {path: {method: spec.op(...)}}` beside its `routes`, its package's `__init__.py`
joins its modules' tables (`merge`), and api/openapi.py makes `/openapi.json` of them; tests/api/test_openapi.py
fails when a route has no entry or an entry no route. Operations list their query parameters only: the document
adds a parameter for every `{name}` of the path. Request bodies are JSON Schemas built with `obj`, `list_of` and the
constants here; they are open (unknown members are allowed; the handler decides) and never replace the handler's
own validation. `returns` is the schema of an operation's 2xx JSON answers, the members clients rely on, which the
conformance suite (tests/api/test_conformance.py) checks the server against. A list's `limit` is described from
the `PageLimit` its route parses with (`page`), so the document states the bounds the route enforces.

Data only: nothing here reads a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from lynex_box.api.params import PageLimit

Schema = dict[str, Any]
Operation = dict[str, Any]
Paths = dict[str, dict[str, Operation]]
Security = list[dict[str, list[str]]]

JSON: Final = "application/json"
SCIM_JSON: Final = "application/scim+json"

# who may call: an API key (Bearer, or Basic project:key as Langfuse sends it), a browser session (state-changing
# calls also need X-CSRF-Token), either, nobody in particular, an org's SCIM token
KEY: Final[Security] = [{"bearer": []}]
BASIC: Final[Security] = [{"basic": []}]
SESSION: Final[Security] = [{"session": [], "csrf": []}]
KEY_OR_SESSION: Final[Security] = [{"bearer": []}, {"session": [], "csrf": []}]
PUBLIC: Final[Security] = []
SCIM: Final[Security] = [{"scimToken": []}]

STR: Final[Schema] = {"type": "string"}
ROLE: Final[Schema] = {"enum": ["owner", "admin", "member", "viewer"]}
TIME: Final[Schema] = {"description": "RFC 3339 or epoch ms", "type": ["string", "number"]}
ANY: Final[Schema] = {}
OBJECT: Final[Schema] = {"type": "object"}

DEFAULT_ERRORS: Final = (400, 401, 403, 404)
# a read may need an encrypted project's key or offloaded segments: 503 (key or bucket unavailable) and 422 (an
# offloaded range larger than the local cache) come from the app's exception handlers, on any data read
READ_ERRORS: Final = (400, 401, 403, 422, 503)


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    """An object schema with these members (`required` among them)."""
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def list_of(items: Schema) -> Schema:
    return {"type": "array", "items": items}


# answers of lists: `{"items"}`, and a page `{"items", "next_cursor"}` (LIST: the same, its members not promised)
ITEMS: Final = obj(("items",), items={"type": "array"})
PAGE: Final = obj(("items", "next_cursor"), items={"type": "array"}, next_cursor={"type": ["string", "null"]})
LIST: Final = obj((), items={"type": "array"}, next_cursor={"type": ["string", "null"]})


def error(media: str = JSON) -> dict[str, Any]:
    """An error answer: `{"error": {code, message}}`, or SCIM's error shape for SCIM's media type."""
    ref = "#/components/schemas/ScimError" if media == SCIM_JSON else "#/components/schemas/Error"
    return {"description": "error", "content": {media: {"schema": {"$ref": ref}}}}


def answer(description: str, schema: Schema = OBJECT, media: str = JSON) -> dict[str, Any]:
    """A success answer with a body of `media` described by `schema`."""
    return {"description": description, "content": {media: {"schema": schema}}}


def query(*described: tuple[str, str]) -> list[dict[str, Any]]:
    """Optional query parameters, each (name, description), taken as text."""
    return [
        {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
        for name, text in described
    ]


def page(limit: PageLimit, *extra: tuple[str, str]) -> list[dict[str, Any]]:
    """A list's `limit` (described from what its route enforces), `cursor`, and `extra` query parameters."""
    bounds = {"type": "integer", "minimum": 1, "maximum": limit.most, "default": limit.default}
    return [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"1..{limit.most}, default {limit.default}",
            "schema": bounds,
        },
        *query(("cursor", "next_cursor of the previous page"), *extra),
    ]


def json_body(schema: Schema, media: str = JSON, description: str | None = None) -> dict[str, Any]:
    """A required request body of `media` described by `schema`."""
    out: dict[str, Any] = {"required": True, "content": {media: {"schema": schema}}}
    if description is not None:
        out["description"] = description
    return out


def op(
    summary: str,
    ok: Mapping[int, str | dict[str, Any]],
    *,
    security: Security | None = KEY_OR_SESSION,
    params: Sequence[dict[str, Any]] = (),
    body: Schema | None = None,
    body_text: str | None = None,
    errors: Iterable[int] = DEFAULT_ERRORS,
    media: str = JSON,
    returns: Schema | None = None,
) -> Operation:
    """One operation. `ok` maps each success status to its description (a JSON object of `media`, or nothing for
    204 and redirects) or to a whole answer object (a file, protobuf); `returns` is the schema of its JSON answers.
    A `body` (JSON Schema; `body_text` says it in words) makes the operation also answer 415, for a body sent
    without its media type. `security` None leaves the operation without one (the health checks)."""
    codes = set(errors)
    if body is not None or body_text is not None:
        codes.add(415)
    responses: dict[str, Any] = {}
    for code, described in ok.items():
        if isinstance(described, dict):
            responses[str(code)] = described
        elif code == 204 or 300 <= code < 400:
            responses[str(code)] = {"description": described}
        else:
            responses[str(code)] = answer(described, OBJECT if returns is None else returns, media)
    responses.update({str(code): error(media) for code in sorted(codes)})
    out: Operation = {"summary": summary}
    if security is not None:
        out["security"] = security
    out["responses"] = responses
    if params:
        out["parameters"] = list(params)
    if body is not None or body_text is not None:
        out["requestBody"] = json_body(OBJECT if body is None else body, media, body_text)
    return out


def read(
    summary: str, params: Sequence[dict[str, Any]] = (), returns: Schema = OBJECT, item: bool = False
) -> Operation:
    """A GET of project data with an API key: the read errors, and 404 for one that names an `item` in its path
    (a trace, a prompt) that is not there."""
    errors = (*READ_ERRORS, 404) if item else READ_ERRORS
    return op(summary, {200: "ok"}, security=KEY, params=params, errors=errors, returns=returns)


def merge(*tables: Paths) -> Paths:
    """One table of several modules' (a path's methods may be described in different modules); ValueError for an
    operation described twice."""
    out: Paths = {}
    for table in tables:
        for path, methods in table.items():
            described = out.setdefault(path, {})
            for method, operation in methods.items():
                if method in described:
                    raise ValueError(f"{method.upper()} {path} is described twice")
                described[method] = operation
    return out
