"""Client JSON bodies: `parse_json` for every route (valid UTF-8 JSON, nested at most `[ingest] max_json_depth`
levels, else 400), and `json_object` for the small bodies of the account and admin APIs (bounded,
`application/json` only, an object).

Requiring `Content-Type: application/json` also keeps cross-site HTML forms out: a browser cannot send
that type to another origin without a CORS preflight, which this server never approves.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from lynex_box.api.body import read_body
from lynex_box.api.errors import ApiError
from lynex_box.api.services import services
from lynex_box.sources.common.jsondepth import TooDeep, check_depth


def parse_json(raw: bytes, max_depth: int, what: str = "body") -> Any:
    """The parsed JSON document; 400 `bad_json` when it is not JSON (invalid UTF-8 included), 400 `too_deep` when it
    nests deeper than `max_depth`. Never raises anything else, whatever the bytes."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):  # orjson stops at 1,024 levels
            message = f"{what} nests more than 1024 levels deep; the limit is {max_depth}"
            raise ApiError(400, "too_deep", message) from None
        raise ApiError(400, "bad_json", f"{what} is not valid JSON: {exc}") from None
    try:
        check_depth(raw, max_depth, what)
    except TooDeep as exc:
        raise ApiError(400, "too_deep", str(exc)) from None
    return doc


async def json_object(request: Request, limit: int | None = None) -> dict[str, Any]:
    """The body as a JSON object, at most `limit` bytes (default `[api] max_json_body_bytes`)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    settings = services(request).settings
    raw, encoding = await read_body(request, settings.api.max_json_body_bytes if limit is None else limit)
    if encoding != "identity":
        raise ApiError(415, "unsupported_encoding", "this endpoint takes an uncompressed body")
    doc = parse_json(raw or b"{}", settings.ingest.max_json_depth)
    if not isinstance(doc, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    return doc


def text_field(doc: dict[str, Any], key: str, required: bool = True, max_len: int = 1024) -> str | None:
    """A string member of the body; 400 naming the key (never the value) when it is missing or not a string."""
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_len:
        raise ApiError(400, "bad_request", f"{key} must be a non-empty string of at most {max_len} characters")
    return value
