"""Newest-first pages read through growing time windows equal one query over the whole range.

A store of three days over three segments and the head, with traces that straddle any window (a root days before
its children), is listed page by page (small pages: many windows, many cursors) with and without filters, and each
list must equal what the whole-range SQL answers.
"""

from __future__ import annotations

import random
import time
from typing import Any

import duckdb
import orjson
import pytest

from lynex_box.api.query.filters import parse_filters
from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.query import pages
from lynex_box.query import sql as qs
from lynex_box.query.engine import QueryEngine, SpanScope
from lynex_box.wal.records import RecordHeader, RecordType

PROJECT = "p1"
T0_MS = 1_790_000_000_000
DAY_MS = 86_400_000


def _span(rng: random.Random, trace: int, k: int, t_ms: int, root: bool, user: int) -> dict[str, Any]:
    error = rng.random() < 0.1
    return {
        "event_id": f"e-{trace}-{k}",
        "trace_id": f"t{trace:04d}",
        "span_id": f"s-{trace}-{k}",
        "parent_span_id": None if root else f"s-{trace}-0",
        "name": "agent" if root else rng.choice(("chat", "search", "lookup")),
        "type": "chain" if root else "llm",
        "model": None if root else rng.choice(("m-a", "m-b")),
        "start_time": t_ms,
        "end_time": t_ms + rng.randrange(1, 5000),
        "status": "error" if error else "ok",
        "user_id": f"u{user}",
        "session_id": f"u{user}-d{(t_ms - T0_MS) // DAY_MS}",
        "tags": [rng.choice(("x", "y"))],
        "usage": {"input_tokens": rng.randrange(1, 100), "output_tokens": rng.randrange(1, 100)},
        "cost": {"total": rng.randrange(0, 100) / 1000},
        "input": [{"role": "user", "content": "needle here" if rng.random() < 0.05 else "hay"}],
    }


def _days(rng: random.Random) -> list[list[dict[str, Any]]]:
    """Three days of spans; traces 0-9 start on day 0 and have children on day 2 (straddling every window)."""
    days: list[list[dict[str, Any]]] = [[], [], []]
    for trace in range(240):
        t = T0_MS + rng.randrange(3 * DAY_MS - 60_000)
        user = rng.randrange(12)
        day = (t - T0_MS) // DAY_MS
        days[day].append(_span(rng, trace, 0, t, True, user))
        for k in range(1, rng.randrange(2, 6)):
            days[day].append(_span(rng, trace, k, t + k * 700, False, user))
    for trace in range(1000, 1010):
        t = T0_MS + rng.randrange(DAY_MS // 2)
        days[0].append(_span(rng, trace, 0, t, True, 0))
        late = T0_MS + 2 * DAY_MS + rng.randrange(DAY_MS - 60_000)
        days[2].append({**_span(rng, trace, 1, late, False, 0), "model": "m-late"})
    return days


@pytest.fixture(scope="module")
def query(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("pages")
    settings = load_settings(
        env={}, overrides={"server": {"data_dir": str(tmp)}, "retention": {"days": 0}}
    )  # fixed, old start times: keep them
    engine = Engine.open(settings)
    rng = random.Random(7)
    for i, day in enumerate(_days(rng)):
        rng.shuffle(day)
        header = RecordHeader(PROJECT, time.time_ns() // 1000, "sdk")
        engine.append(RecordType.EVENTS, header, orjson.dumps({"events": day}))
        engine.catch_up()
        if i < 2:  # day 2 stays in the head
            engine.flush()
    assert len(engine.store.segment_entries(PROJECT)) == 2
    yield engine.query
    engine.close()


def _params(**kw: Any) -> qs.Filters:
    return parse_filters({k: str(v) for k, v in kw.items()})


FILTERS = [
    {},
    {"model": "m-late"},
    {"model": "m-a", "status": "error"},
    {"q": "needle"},
    {"user_id": "u3"},
    {"tag": "y", "min_cost": 0.05},
    {"from": T0_MS + DAY_MS // 3, "to": T0_MS + 2 * DAY_MS + DAY_MS // 2},
    {"from": T0_MS + DAY_MS, "model": "m-late"},
    {"from": T0_MS + 5 * DAY_MS},
]


def _scope(f: qs.Filters) -> SpanScope:
    return SpanScope(PROJECT, f.start_us, f.end_us)


def _rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sums of floats depend on DuckDB's (parallel) order of addition: compare them to 9 places."""
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def _walk(fetch: Any, limit: int, key: str) -> list[dict[str, Any]]:
    """Every page in turn, following the cursor as the API builds it."""
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        rows = fetch(cursor, limit).to_pylist()
        out.extend(_rounded(rows[:limit]))
        if len(rows) <= limit:
            return out
        last = rows[limit - 1]
        cursor = [last["_t"], last[key]]
    raise AssertionError("no last page")


@pytest.mark.parametrize("kw", FILTERS)
def test_trace_pages_equal_one_query_over_the_range(query: QueryEngine, kw: dict[str, Any]) -> None:
    f = _params(**kw)
    where, params = qs.where_clause(f)
    ids = query.run(_scope(f), f"SELECT DISTINCT trace_id FROM spans WHERE {where}", params).column(0).to_pylist()
    sql, bound = qs.traces_sql(ids)
    expected = _rounded(query.run(_scope(f), sql, bound).to_pylist())
    got = _walk(lambda c, n: pages.trace_page(query, PROJECT, f, c, n), 7, "trace_id")
    assert got == expected
    if kw in ({}, {"model": "m-late"}):
        assert len(expected) >= 10


@pytest.mark.parametrize("kw", FILTERS)
def test_span_pages_equal_one_query_over_the_range(query: QueryEngine, kw: dict[str, Any]) -> None:
    f = _params(**kw)
    sql, bound = qs.spans_sql(f, None, 100_000)
    expected = _rounded(query.run(_scope(f), sql, bound).to_pylist())
    got = _walk(lambda c, n: pages.span_page(query, PROJECT, f, c, n), 9, "event_id")
    assert got == expected


@pytest.mark.parametrize("key", ["session_id", "user_id"])
@pytest.mark.parametrize("kw", FILTERS[:1] + FILTERS[3:7])
def test_group_pages_equal_one_query_over_the_range(query: QueryEngine, key: str, kw: dict[str, Any]) -> None:
    f = _params(**kw)
    where, params = qs.where_clause(f)
    ids = query.run(_scope(f), f"SELECT DISTINCT {key} FROM spans WHERE {where}", params).column(0).to_pylist()
    sql, bound = qs.grouped_sql(key, f, [i for i in ids if i is not None], ", max(user_id) AS user_id")
    expected = _rounded(query.run(_scope(f), sql, bound).to_pylist())
    got = _walk(lambda c, n: pages.grouped_page(query, PROJECT, key, f, c, n, ", max(user_id) AS user_id"), 5, "id")
    assert got == expected
    assert len(expected) > 0 or kw.get("from") == T0_MS + 5 * DAY_MS


def test_an_empty_project_answers_empty_pages(query: QueryEngine) -> None:
    f = _params()
    assert pages.trace_page(query, "nobody", f, None, 10).num_rows == 0
    assert pages.span_page(query, "nobody", f, None, 10).num_rows == 0
    assert pages.grouped_page(query, "nobody", "user_id", f, None, 10, "").num_rows == 0


@pytest.mark.parametrize(
    "q", ["needle", "NEEDLE here", "a.b*(c)", "[x]+{2}|^$", "back\\slash \\E", "tab\there", "Grüße", "50%_off"]
)
def test_full_text_filter_finds_the_literal_text_ignoring_case(q: str) -> None:
    texts = [
        "a needle Here", "a.b*(c) and [x]+{2}|^$", "aXbbb(c)", "back\\slash \\E end", "tab\there", "GRÜSSE grüße",
        "50%_off", "500 off", "", None,
    ]  # fmt: skip
    where, params = qs.where_clause(_params(q=q))
    con = duckdb.connect()
    con.execute("CREATE TABLE spans (i INTEGER, input VARCHAR, output VARCHAR)")
    con.executemany("INSERT INTO spans VALUES (?, ?, ?)", [(i, t, None) for i, t in enumerate(texts)])
    got = [r[0] for r in con.execute(f"SELECT i FROM spans WHERE {where} ORDER BY i", params).fetchall()]
    assert got == [i for i, t in enumerate(texts) if t is not None and q.lower() in t.lower()]
    assert got, "each text is found somewhere"
