"""Decoding query parameters and page cursors: whatever a client puts in a URL is a value or a 400, never a 500.

`str.isdigit` alone is no guard before `int()`: it accepts superscripts and other Unicode digits that `int` refuses,
and numbers past 4,300 digits that `int` refuses too; numbers past 2^63 then overflow SQLite and DuckDB. A cursor is
base64 JSON written by this API, `[time_us, id]`, but a client can send any JSON there: each member is checked for
the type and range the queries bind it as.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import orjson
from starlette.requests import Request

from lynex_box.api.errors import ApiError
from lynex_box.query.sql import Cursor

MAX_WHOLE: Final = 2**62  # far above any limit, time or id the API takes, and far below BIGINT's 2^63 - 1
MAX_CURSOR_ID: Final = 1024  # ids are at most 256 characters on ingest; a little room for other lists
MAX_PATH_ID: Final = 100  # ids of projects, orgs, users, keys, invitations in account and admin paths
_BAD_CURSOR: Final = "cursor is not one this API returned; hint: pass next_cursor from the previous page unchanged"


def whole_number(raw: str) -> int | None:
    """An ASCII decimal number in 0..2^62, or None for anything else."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    number = int(raw)
    return number if number <= MAX_WHOLE else None


def bounded_int(params: Mapping[str, str], key: str, lo: int, hi: int, default: int, code: str) -> int:
    """`key` as a whole number in [lo, hi] (`default` when absent or empty); 400 `code` naming the key otherwise."""
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    number = whole_number(raw)
    if number is None or not lo <= number <= hi:
        raise ApiError(400, code, f"{key} must be a whole number in {lo}..{hi}")
    return number


@dataclass(frozen=True, slots=True)
class PageLimit:
    """The `limit` query parameter of one list: a whole number in 1..`most`, `default` when absent. The route parses
    with it and its OpenAPI description is made from it (`spec.page`), so the two cannot disagree."""

    most: int
    default: int

    def parse(self, params: Mapping[str, str]) -> int:
        """The limit asked for; 400 `bad_limit` naming the bounds otherwise."""
        return bounded_int(params, "limit", 1, self.most, self.default, "bad_limit")


def encode_cursor(time_us: int, item_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([time_us, item_id])).decode().rstrip("=")


def decode_cursor(raw: str | None) -> Cursor | None:
    """`(time_us, id)` of a cursor `encode_cursor` wrote; None when absent; 400 `bad_cursor` for anything else."""
    if not raw:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):  # orjson.JSONDecodeError is a ValueError; so is non-ASCII base64 text
        raise ApiError(400, "bad_cursor", _BAD_CURSOR) from None
    if not isinstance(values, list) or len(values) != 2:
        raise ApiError(400, "bad_cursor", _BAD_CURSOR)
    time_us, item_id = values
    if type(time_us) is not int or not -MAX_WHOLE <= time_us <= MAX_WHOLE:
        raise ApiError(400, "bad_cursor", _BAD_CURSOR)
    if not isinstance(item_id, str) or len(item_id) > MAX_CURSOR_ID:
        raise ApiError(400, "bad_cursor", _BAD_CURSOR)
    return time_us, item_id


def path_id(request: Request, name: str) -> str:
    """The path parameter `name`; 404 (never a 400 naming the value) for one longer than any id this API hands out."""
    value: str = request.path_params[name]
    if len(value) > MAX_PATH_ID:
        raise ApiError(404, "not_found", f"no {name} with that id")
    return value
