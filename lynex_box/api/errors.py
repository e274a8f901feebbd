"""API errors: every failure answers with a status and a JSON body `{"error": {"code", "message"}}`."""

from __future__ import annotations

import decimal
from collections.abc import Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lynex_box.auth.errors import Conflict, Denied, NotFound


class ApiError(Exception):
    """Raised anywhere below a route; turned into a JSON error response by the app."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def _fallback(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=_fallback)
    return Response(body, status_code=status, media_type="application/json", headers=dict(headers or {}))


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def domain_error(exc: Exception) -> ApiError:
    """The HTTP error for an account-operation failure; its message never holds a secret."""
    if isinstance(exc, Denied):
        return ApiError(403, "forbidden", str(exc))
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return ApiError(409, "conflict", str(exc))
    return ApiError(400, "bad_request", str(exc))
