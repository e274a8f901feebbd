"""SQL of the lists sorted by a column other than their default (newest first), of their totals and of facets.

Pure functions, no I/O. The traces, sessions and users lists are newest first by default, and `pages.py` serves those
pages from time windows. Sorted by another column (cost, duration, tokens, a name...) a page's rows may lie anywhere
in the range, so the sort key is aggregated over the whole range, once per item, and the page is the `n` items after
the cursor `(key, id)` in `key, id` order (nulls last in both directions; the id breaks ties, so pages never repeat
or skip an item). Identifiers in the SQL come from the fixed tables below, never from a request; the cursor's values
are bound parameters.

Costs are sums of floats, which DuckDB adds in whatever order its threads meet them: a sort key must compare the same
on every page, so the cost key is rounded to 10 decimals (far below a price's precision, far above the sums' noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from lynex_box.query import sql as qs
from lynex_box.schema.span import LLM_CALL_KINDS

SortCursor = tuple[Any, str]  # (sort key of the last item of a page, its id)

_LLM: Final = "kind IN ({})".format(", ".join(f"'{k}'" for k in sorted(LLM_CALL_KINDS)))  # fixed names, no input
_TOKENS: Final = "(coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0))::BIGINT"
_COST: Final = "round(sum(total_cost), 10)"


@dataclass(frozen=True, slots=True)
class Column:
    """A sortable column: its aggregate SQL over an item's spans, and whether its key is text (else a number)."""

    sql: str
    text: bool = False


# A trace's columns as `sql.traces_sql` answers them (aggregates over the trace's spans in the range).
TRACE_COLUMNS: Final = {
    "time": Column("epoch_us(min(start_time))"),
    "name": Column(qs.TRACE_NAME, text=True),
    "status": Column("CASE WHEN bool_or(status = 'error') THEN 'error' ELSE 'ok' END", text=True),
    "duration": Column("(epoch_us(max(coalesce(end_time, start_time))) - epoch_us(min(start_time))) / 1000.0::DOUBLE"),
    "spans": Column("count(DISTINCT span_id)"),
    "tokens": Column(_TOKENS),
    "cost": Column(_COST),
    "user": Column(qs.TRACE_USER, text=True),
    "session": Column(qs.TRACE_SESSION, text=True),
    "environment": Column(qs.TRACE_ENVIRONMENT, text=True),
    "trace_id": Column("trace_id", text=True),
    "hallucination_risk": Column("max(hallucination_risk)"),  # the detectors' and judges' highest in the trace
}
# The columns sessions and users share (aggregates over the group's spans that match the filters).
_GROUP_COMMON: Final = {
    "last_seen": Column("epoch_us(max(start_time))"),
    "first_seen": Column("epoch_us(min(start_time))"),
    "traces": Column("count(DISTINCT trace_id)"),
    "llm_calls": Column(f"count(*) FILTER (WHERE {_LLM})"),
    "spans": Column("count(*)"),
    "error_traces": Column("count(DISTINCT trace_id) FILTER (WHERE status = 'error')"),
    "tokens": Column(_TOKENS),
    "cost": Column(_COST),
}
SESSION_COLUMNS: Final = {
    **_GROUP_COMMON,
    "session": Column("session_id", text=True),
    "user": Column("max(user_id)", text=True),
}
USER_COLUMNS: Final = {
    **_GROUP_COMMON,
    "user": Column("user_id", text=True),
    "sessions": Column("count(DISTINCT session_id)"),
    "error_rate": Column("count(DISTINCT trace_id) FILTER (WHERE status = 'error') / count(DISTINCT trace_id)"),
}
# Each list's columns and its default sort (the one `pages.py` serves from time windows, newest first).
LISTS: Final = {
    "traces": (TRACE_COLUMNS, "time"),
    "sessions": (SESSION_COLUMNS, "last_seen"),
    "users": (USER_COLUMNS, "last_seen"),
}
# The extra columns `sql.grouped_sql` answers for the sessions and users lists: LLM calls and failed traces.
GROUP_EXTRA: Final = (
    f", count(*) FILTER (WHERE {_LLM}) AS llm_calls,"
    " count(DISTINCT trace_id) FILTER (WHERE status = 'error') AS error_traces"
)


@dataclass(frozen=True, slots=True)
class Sort:
    """A list's order: a column of `LISTS[list]` and its direction."""

    list: str
    column: str
    descending: bool = True

    @property
    def is_default(self) -> bool:
        return self.column == LISTS[self.list][1] and self.descending

    @property
    def spec(self) -> Column:
        return LISTS[self.list][0][self.column]


def _after(sort: Sort, cursor: SortCursor | None, params: dict[str, Any]) -> str:
    """Items after the cursor in `_k, _id` order with nulls last: `_k` and `_id` are the sort key and the id."""
    if cursor is None:
        return "TRUE"
    op = "<" if sort.descending else ">"
    value, item_id = cursor
    params["c_id"] = item_id
    if value is None:
        return f"(_k IS NULL AND _id {op} $c_id)"
    params["c_k"] = value
    return f"(_k IS NULL OR _k {op} $c_k OR (_k = $c_k AND _id {op} $c_id))"


def _order(sort: Sort) -> str:
    way = "DESC" if sort.descending else "ASC"
    return f"ORDER BY _k IS NULL, _k {way}, _id {way}"


def sorted_traces_sql(f: qs.Filters, sort: Sort, cursor: SortCursor | None, n: int) -> tuple[str, dict[str, Any]]:
    """The `n` traces (`_id`, `_k`) after the cursor in the sort's order, of those with a span matching `f`."""
    where, params = qs.where_clause(f)
    matched = "" if where == "TRUE" else f" WHERE trace_id IN (SELECT trace_id FROM spans WHERE {where})"
    page = _after(sort, cursor, params)
    params["w_n"] = n
    sql = f"""
    , keys AS (SELECT trace_id AS _id, {sort.spec.sql} AS _k FROM spans{matched} GROUP BY trace_id)
    SELECT _id, _k FROM keys WHERE {page} {_order(sort)} LIMIT $w_n
    """
    return sql, params


def sorted_grouped_sql(
    key: str, f: qs.Filters, sort: Sort, cursor: SortCursor | None, n: int
) -> tuple[str, dict[str, Any]]:
    """The `n` sessions or users (`_id`, `_k`) after the cursor in the sort's order (`key`: the route's choice)."""
    assert key in ("session_id", "user_id")
    where, params = qs.where_clause(f)
    page = _after(sort, cursor, params)
    params["w_n"] = n
    sql = f"""
    , keys AS (SELECT {key} AS _id, {sort.spec.sql} AS _k FROM spans
               WHERE {key} IS NOT NULL AND {where} GROUP BY {key})
    SELECT _id, _k FROM keys WHERE {page} {_order(sort)} LIMIT $w_n
    """
    return sql, params


def total_sql(key: str, f: qs.Filters) -> tuple[str, dict[str, Any]]:
    """How many traces (`key` trace_id), sessions or users the list holds: one count over the range."""
    assert key in ("trace_id", "session_id", "user_id")
    where, params = qs.where_clause(f)
    return f"SELECT count(DISTINCT {key}) AS n FROM spans WHERE {key} IS NOT NULL AND {where}", params


def facets_sql(f: qs.Filters, group: str, top: int) -> tuple[str, dict[str, Any]]:
    """The `top` values of `group` by how many traces of the list have a span with that value (and matching `f`):
    the traces the list shows once that value is added as a filter. Spans are counted too."""
    assert group in qs.GROUP_COLUMNS and group != "tag"
    column = qs.GROUP_EXPRESSIONS.get(group, group)  # fixed text, never the client's
    where, params = qs.where_clause(f)
    params["top"] = top
    sql = f"""
    SELECT coalesce({column}, '(none)') AS value, count(DISTINCT trace_id) AS traces, count(*) AS spans
    FROM spans WHERE {where} GROUP BY ALL ORDER BY traces DESC, value LIMIT $top
    """
    return sql, params
