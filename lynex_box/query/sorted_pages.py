"""Pages of the traces, sessions and users lists sorted by any of their columns, and the lists' totals.

A sorted page is two queries over the whole range: the `limit + 1` ids after the cursor in the sort's order with their
keys (`sorting.py`), then their rows as the newest-first lists answer them (`sql.traces_sql`, `sql.grouped_sql`),
put back in the sort's order with the key as `_k` (the next page's cursor is the last row's `_k` and id).
The default order (newest first) is `pages.py`'s, which reads only the newest data.

Blocking (engine queries): the routes (`lynex_box/api/query/`) run these in a worker thread.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lynex_box.query import sorting
from lynex_box.query import sql as qs
from lynex_box.query.engine import QueryEngine, SpanScope
from lynex_box.query.sorting import Sort, SortCursor


def _in_order(rows: pa.Table, id_column: str, ids: list[str], keys: list[Any]) -> pa.Table:
    """`rows` in the order of `ids`, with each id's sort key as `_k` (ids without a row are left out)."""
    at = {item_id: i for i, item_id in enumerate(rows.column(id_column).to_pylist())}
    picked = [(at[item_id], key) for item_id, key in zip(ids, keys, strict=True) if item_id in at]
    ordered = rows.take(pa.array([i for i, _ in picked], pa.int64()))
    return ordered.append_column("_k", pa.array([k for _, k in picked]))


def _keys(query: QueryEngine, scope: SpanScope, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
    table = query.run(scope, sql, params)
    return table.column("_id").to_pylist(), table.column("_k").to_pylist()


def sorted_trace_page(
    query: QueryEngine, project_id: str, f: qs.Filters, sort: Sort, cursor: SortCursor | None, limit: int
) -> pa.Table:
    """Up to `limit + 1` traces after the cursor in the sort's order, as `sql.traces_sql` answers them, plus `_k`."""
    scope = SpanScope(project_id, f.start_us, f.end_us)
    ids, keys = _keys(query, scope, *sorting.sorted_traces_sql(f, sort, cursor, limit + 1))
    sql, params = qs.traces_sql(ids)
    rows = query.run(scope if ids else SpanScope(project_id, 0, 1), sql, params)
    return _in_order(rows, "trace_id", ids, keys)


def sorted_grouped_page(
    query: QueryEngine,
    project_id: str,
    key: str,
    f: qs.Filters,
    sort: Sort,
    cursor: SortCursor | None,
    limit: int,
    extra: str,
) -> pa.Table:
    """Up to `limit + 1` sessions or users after the cursor in the sort's order, as `sql.grouped_sql` answers them."""
    scope = SpanScope(project_id, f.start_us, f.end_us)
    ids, keys = _keys(query, scope, *sorting.sorted_grouped_sql(key, f, sort, cursor, limit + 1))
    sql, params = qs.grouped_sql(key, f, ids, extra)
    rows = query.run(scope if ids else SpanScope(project_id, 0, 1), sql, params)
    return _in_order(rows, "id", ids, keys)


def total(query: QueryEngine, project_id: str, key: str, f: qs.Filters) -> int:
    """How many traces, sessions or users (`key`) the list holds over its whole range."""
    sql, params = sorting.total_sql(key, f)
    table = query.run(SpanScope(project_id, f.start_us, f.end_us), sql, params)
    return int(table.column("n")[0].as_py() or 0)
