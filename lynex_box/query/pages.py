"""Newest-first pages that read the newest data only: time windows growing backwards from the page's top.

The traces, spans, sessions and users lists are ordered newest first, and a page needs only its newest rows: a
query over the whole range (30 days: millions of spans) would read, group and sort all of them to keep 100. Each
page instead searches a window ending at the page's top (the range's end or the cursor), sized from the catalog's
row counts to hold about a page, and widens it backwards (×2 to ×16, from how much the last window found) until the
page is full or the window reaches the range's start. A page holds the rows one query over the whole range would
give (the pick and the window checks are exact, below); it is then aggregated over just its own traces or groups.

- Spans: windows `[lo, hi)` follow each other backwards; every span of one is newer than those of the next.
- Traces, by their first span: over `[lo, end)`, a trace that started in `[lo, top)` has all its spans in the
  window, so its start and its match are exact; one that started before `lo` would look later, so the picked ids
  are looked up before `lo` (one column, one semi-join) and those found there wait for a wider window.
- Sessions and users, by their last span: over `[lo, end)` a group last seen after `lo` has its exact last time.

Blocking (engine queries): the routes (`lynex_box/api/query/`) run these in a worker thread.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from lynex_box.query import sql as qs
from lynex_box.query.engine import QueryEngine, SpanScope
from lynex_box.query.sql import Cursor

MIN_WINDOW_US: Final = 60_000_000
ROWS_PER_ITEM: Final = 8  # spans scanned per trace or group looked for, for the first window's size
EXTRA_TRACES: Final = 16  # traces picked beyond the page, so a few that started earlier need no wider window


class _Windows:
    """The range `[lo_bound, end)` a list may read, and the first window's width."""

    def __init__(self, query: QueryEngine, project_id: str, f: qs.Filters, rows_wanted: int) -> None:
        extent = query.extent(project_id)
        self.empty = extent is None
        self.lo_bound = self.end = 0
        self.width = MIN_WINDOW_US
        if extent is None:
            return
        self.lo_bound = max(extent.min_us, f.start_us) if f.start_us is not None else extent.min_us
        self.end = min(extent.max_us + 1, f.end_us) if f.end_us is not None else extent.max_us + 1
        self.empty = self.end <= self.lo_bound
        density = extent.rows / max(1, extent.max_us + 1 - extent.min_us)  # rows per µs, on average
        self.width = max(MIN_WINDOW_US, int(2 * rows_wanted / max(density, 1e-12)))

    def grow(self, found: int, wanted: int) -> None:
        factor = 8.0 if found == 0 else min(16.0, max(2.0, 1.5 * wanted / found))
        self.width = int(self.width * factor)
        if 2 * self.width >= self.end - self.lo_bound:
            # Most of the range: take all of it now rather than scan most of it twice (the last window is
            # read whole again, which costs seconds when a full-text filter reads gigabytes).
            self.width = self.end - self.lo_bound


def _cursor_top(cursor: Cursor | None, end: int) -> int:
    return min(end, cursor[0] + 1) if cursor is not None else end


def trace_page(query: QueryEngine, project_id: str, f: qs.Filters, cursor: Cursor | None, limit: int) -> pa.Table:
    """Up to `limit + 1` traces, newest first, as `sql.traces_sql` answers them."""
    need = limit + 1
    win = _Windows(query, project_id, f, need * ROWS_PER_ITEM)
    picked: list[tuple[str, int]] = []
    if not win.empty:
        top = _cursor_top(cursor, win.end)
        while True:
            lo = max(win.lo_bound, top - win.width)
            sql, params = qs.trace_starts_sql(f, cursor, top, need + EXTRA_TRACES)
            found = query.run(SpanScope(project_id, lo, win.end), sql, params)
            picked = list(zip(found.column("trace_id").to_pylist(), found.column("_t").to_pylist(), strict=True))
            if lo > win.lo_bound and len(picked) >= need:
                ids = [trace_id for trace_id, _ in picked]
                earlier = query.run(SpanScope(project_id, win.lo_bound, lo), qs.TRACES_PRESENT_SQL, {"ids": ids})
                started_before = set(earlier.column("trace_id").to_pylist())
                picked = [p for p in picked if p[0] not in started_before]
            if lo <= win.lo_bound or len(picked) >= need:
                break
            win.grow(len(picked), need)
        picked = picked[:need]
    first = min((t for _, t in picked), default=win.lo_bound)
    sql, params = qs.traces_sql([trace_id for trace_id, _ in picked])
    return query.run(SpanScope(project_id, first, win.end if not win.empty else first + 1), sql, params)


def span_page(
    query: QueryEngine, project_id: str, f: qs.Filters, cursor: Cursor | None, limit: int, summary: bool = False
) -> pa.Table:
    """Up to `limit + 1` spans, newest first, as `sql.spans_sql` answers them over the whole range."""
    need = limit + 1
    win = _Windows(query, project_id, f, need)
    if win.empty:
        sql, params = qs.spans_sql(f, cursor, limit, summary)
        return query.run(SpanScope(project_id, 0, 1), sql, params)
    parts: list[pa.Table] = []
    got = 0
    hi = _cursor_top(cursor, win.end)
    while True:
        lo = max(win.lo_bound, hi - win.width)
        sql, params = qs.spans_sql(f, cursor, need - got - 1, summary)
        part = query.run(SpanScope(project_id, lo, hi), sql, params)
        parts.append(part)
        got += part.num_rows
        if got >= need or lo <= win.lo_bound:
            break
        win.grow(part.num_rows, need - got)
        hi = lo
    return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]


def grouped_page(
    query: QueryEngine, project_id: str, key: str, f: qs.Filters, cursor: Cursor | None, limit: int, extra: str
) -> pa.Table:
    """Up to `limit + 1` sessions or users, last seen first, as `sql.grouped_sql` answers them."""
    need = limit + 1
    win = _Windows(query, project_id, f, need * ROWS_PER_ITEM)
    ids: list[str] = []
    if not win.empty:
        top = _cursor_top(cursor, win.end)
        while True:
            lo = max(win.lo_bound, top - win.width)
            sql, params = qs.grouped_last_sql(key, f, cursor, need)
            ids = query.run(SpanScope(project_id, lo, win.end), sql, params).column("id").to_pylist()
            if len(ids) >= need or lo <= win.lo_bound:
                break
            win.grow(len(ids), need)
    sql, params = qs.grouped_sql(key, f, ids, extra)
    return query.run(SpanScope(project_id, f.start_us, f.end_us), sql, params)
