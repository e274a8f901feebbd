"""`sort`, `order` and sorted cursors of the traces, sessions and users lists, and their `total`: values or a 400.

`sort` names a column of the list (`query.sorting.LISTS`, an allow-list: the SQL never sees the client's text) and
`order` is `asc` or `desc` (default `desc`). Without them, or with the default (`time` / `last_seen`, `desc`), a list
keeps its newest-first pages and its `[time_us, id]` cursor (`params.decode_cursor`). A sorted page's cursor is
`[key, id, sort, order]`: a cursor of another sort, or a key of the wrong type, is a 400, never a page of another
list or a 500. `total` (items over the whole range with the same filters) is counted on the first page only
(no cursor), alongside the page's own query.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

import orjson
import pyarrow as pa

from lynex_box.api import spec
from lynex_box.api.errors import ApiError
from lynex_box.api.params import MAX_CURSOR_ID
from lynex_box.api.query.reads import rows_out
from lynex_box.query import sorted_pages
from lynex_box.query.engine import QueryEngine
from lynex_box.query.sorting import LISTS, Sort, SortCursor
from lynex_box.query.sql import Filters

T = TypeVar("T")
ORDERS: Final = ("asc", "desc")
MAX_TEXT_KEY: Final = 4096  # a name or id a sorted cursor carries
_BAD_CURSOR: Final = (
    "cursor is not one this API returned for this sort; hint: pass next_cursor from the previous page unchanged,"
    " with the same sort and order"
)


def parse_sort(params: Mapping[str, str], list_name: str) -> Sort:
    """The list's order from `sort` and `order`; 400 `bad_sort` naming the allowed values otherwise."""
    columns, default = LISTS[list_name]
    column = params.get("sort") or default
    if column not in columns:
        raise ApiError(
            400,
            "bad_sort",
            f"sort {column!r} is not one of {list(columns)}; hint: sort by a column of the {list_name} list",
        )
    order = params.get("order") or "desc"
    if order not in ORDERS:
        raise ApiError(400, "bad_sort", f"order {order!r} is not one of {list(ORDERS)}")
    return Sort(list_name, column, order == "desc")


def encode_sorted_cursor(key: Any, item_id: str, sort: Sort) -> str:
    raw = orjson.dumps([key, item_id, sort.column, "desc" if sort.descending else "asc"])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key_ok(key: Any, text: bool) -> bool:
    if key is None:
        return True
    if text:
        return isinstance(key, str) and len(key) <= MAX_TEXT_KEY
    return type(key) in (int, float) and math.isfinite(key) and abs(key) <= 2**62


def decode_sorted_cursor(raw: str | None, sort: Sort) -> SortCursor | None:
    """`(key, id)` of a cursor `encode_sorted_cursor` wrote for this sort; None when absent; 400 otherwise."""
    if not raw:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        raise ApiError(400, "bad_cursor", _BAD_CURSOR) from None
    if not isinstance(values, list) or len(values) != 4:
        raise ApiError(400, "bad_cursor", _BAD_CURSOR)
    key, item_id, column, order = values
    if column != sort.column or order != ("desc" if sort.descending else "asc"):
        raise ApiError(400, "bad_cursor", _BAD_CURSOR)
    if not isinstance(item_id, str) or len(item_id) > MAX_CURSOR_ID or not _key_ok(key, sort.spec.text):
        raise ApiError(400, "bad_cursor", _BAD_CURSOR)
    return key, item_id


def sorted_page_of(table: pa.Table, limit: int, id_column: str, sort: Sort) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` rows of a sorted page and the cursor after them (None when it was the last page)."""
    rows = table.slice(0, limit)
    next_cursor = None
    if table.num_rows > limit:
        last = rows.slice(limit - 1, 1).to_pylist()[0]
        next_cursor = encode_sorted_cursor(last["_k"], last[id_column], sort)
    return rows_out(rows, drop=("_t", "_k")), next_cursor


async def with_total(
    query: QueryEngine, project_id: str, key: str, f: Filters, first_page: bool, page: Awaitable[T]
) -> tuple[T, int | None]:
    """The page, and on the first page the list's total counted alongside it (None on later pages)."""
    if not first_page:
        return await page, None
    counted = query.call_async(sorted_pages.total, query, project_id, key, f)
    result, total = await asyncio.gather(page, counted)
    return result, total


def params_of(list_name: str) -> list[dict[str, Any]]:
    """The OpenAPI description of a list's `sort` and `order`."""
    columns, default = LISTS[list_name]
    return spec.query(
        ("sort", f"column to sort by: {', '.join(columns)} (default {default})"),
        ("order", "asc or desc (default desc); nulls come last either way"),
    )
