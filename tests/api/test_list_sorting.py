"""Sorted pages of the traces, sessions and users lists: walked cursor by cursor, every item once, in order.

The store is `test_query_pages`' (three days over two segments and the head, traces straddling days). Each list is
walked in small pages, sorted by each of its columns both ways, with the cursors the API writes and reads
(`encode_sorted_cursor` / `decode_sorted_cursor`); the walk must hold every item of the list exactly once, in the
order of the sort key computed here from the spans themselves for cost, and equal to the list's own items.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from lynex_box.api.errors import ApiError
from lynex_box.api.query.sorting import decode_sorted_cursor, encode_sorted_cursor, parse_sort
from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.query import sorted_pages
from lynex_box.query.engine import QueryEngine
from lynex_box.query.sorting import GROUP_EXTRA, LISTS
from lynex_box.wal.records import RecordHeader, RecordType
from tests.api.test_query_pages import DAY_MS, PROJECT, T0_MS, _days, _params

LIMIT = 7


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QueryEngine, list[dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("sorting")
    settings = load_settings(env={}, overrides={"server": {"data_dir": str(tmp)}, "retention": {"days": 0}})
    engine = Engine.open(settings)
    rng = random.Random(11)
    events: list[dict[str, Any]] = []
    for i, day in enumerate(_days(rng)):
        events += day
        header = RecordHeader(PROJECT, time.time_ns() // 1000, "sdk")
        engine.append(RecordType.EVENTS, header, orjson.dumps({"events": day}))
        engine.catch_up()
        if i < 2:
            engine.flush()
    yield engine.query, events
    engine.close()


def _walk(
    fetch: Any, list_name: str, column: str, order: str, id_column: str, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Every page in turn, each cursor through its text form as a client would pass it."""
    sort = parse_sort({"sort": column, "order": order}, list_name)
    out: list[dict[str, Any]] = []
    raw = None
    for _ in range(1000):
        table = fetch(sort, decode_sorted_cursor(raw, sort), limit)
        rows = table.to_pylist()
        out.extend(rows[:limit])
        if len(rows) <= limit:
            return out
        raw = encode_sorted_cursor(rows[limit - 1]["_k"], rows[limit - 1][id_column], sort)
    raise AssertionError("no last page")


def _cost_by(events: list[dict[str, Any]], key: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        totals[e[key]] += e["cost"]["total"]
    return totals


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("column", list(LISTS["traces"][0]))
def test_trace_pages_sorted_by_any_column_hold_every_trace_once(
    store: tuple[QueryEngine, list[dict[str, Any]]], column: str, order: str
) -> None:
    query, events = store
    f = _params()
    got = _walk(lambda s, c, n: sorted_pages.sorted_trace_page(query, PROJECT, f, s, c, n), "traces", column, order,
                "trace_id", 31)  # fmt: skip
    ids = [r["trace_id"] for r in got]
    assert sorted(ids) == sorted({e["trace_id"] for e in events}), "every trace exactly once"
    keys = [r["_k"] for r in got]
    present = [k for k in keys if k is not None]
    assert keys == present + [None] * (len(keys) - len(present)), "nulls last"
    assert present == sorted(present, reverse=order == "desc")
    if column == "cost":
        cost = _cost_by(events, "trace_id")
        walked = [cost[i] for i in ids]
        assert walked == pytest.approx(sorted(walked, reverse=order == "desc"))
        assert [r["total_cost"] for r in got] == pytest.approx(walked)


@pytest.mark.parametrize("kw", [{"model": "m-a", "status": "error"}, {"from": T0_MS + DAY_MS, "tag": "y"}])
def test_sorted_trace_pages_keep_the_filters_and_the_total_counts_them(
    store: tuple[QueryEngine, list[dict[str, Any]]], kw: dict[str, Any]
) -> None:
    query, _ = store
    f = _params(**kw)
    by_time = _walk(lambda s, c, n: sorted_pages.sorted_trace_page(query, PROJECT, f, s, c, n), "traces", "time",
                    "desc", "trace_id")  # fmt: skip
    by_cost = _walk(lambda s, c, n: sorted_pages.sorted_trace_page(query, PROJECT, f, s, c, n), "traces", "cost",
                    "desc", "trace_id")  # fmt: skip
    assert len(by_time) > LIMIT
    assert sorted(r["trace_id"] for r in by_cost) == sorted(r["trace_id"] for r in by_time)
    assert sorted_pages.total(query, PROJECT, "trace_id", f) == len(by_time)


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize(("list_name", "key"), [("sessions", "session_id"), ("users", "user_id")])
def test_group_pages_sorted_by_any_column_hold_every_group_once(
    store: tuple[QueryEngine, list[dict[str, Any]]], list_name: str, key: str, order: str
) -> None:
    query, events = store
    f = _params()
    for column in LISTS[list_name][0]:
        got = _walk(lambda s, c, n: sorted_pages.sorted_grouped_page(query, PROJECT, key, f, s, c, n, GROUP_EXTRA),
                    list_name, column, order, "id")  # fmt: skip
        ids = [r["id"] for r in got]
        assert sorted(ids) == sorted({e[key] for e in events}), column
        present = [r["_k"] for r in got if r["_k"] is not None]
        assert present == sorted(present, reverse=order == "desc"), column
    assert sorted_pages.total(query, PROJECT, key, f) == len({e[key] for e in events})


def test_users_count_failed_traces_and_llm_calls(store: tuple[QueryEngine, list[dict[str, Any]]]) -> None:
    query, events = store
    sort = parse_sort({"sort": "error_rate"}, "users")
    rows = sorted_pages.sorted_grouped_page(query, PROJECT, "user_id", _params(), sort, None, 100, GROUP_EXTRA)
    for row in rows.to_pylist():
        mine = [e for e in events if e["user_id"] == row["id"]]
        failed = {e["trace_id"] for e in mine if e["status"] == "error"}
        traces = {e["trace_id"] for e in mine}
        assert row["error_traces"] == len(failed) and row["trace_count"] == len(traces)
        assert row["_k"] == pytest.approx(len(failed) / len(traces))
        assert row["llm_calls"] == sum(1 for e in mine if e["type"] == "llm") < row["span_count"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "price"}, "sort 'price' is not one of ['time', 'name'"),
        ({"sort": "cost", "order": "up"}, "order 'up' is not one of ['asc', 'desc']"),
    ],
)
def test_a_sort_outside_the_allow_list_is_a_400_naming_the_columns(params: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_sort(params, "traces")
    assert caught.value.status == 400 and caught.value.code == "bad_sort" and message in caught.value.message


def test_a_cursor_of_another_sort_or_of_a_wrong_key_type_is_a_400() -> None:
    cost = parse_sort({"sort": "cost"}, "traces")
    name = parse_sort({"sort": "name", "order": "asc"}, "traces")
    raw = encode_sorted_cursor(0.25, "t1", cost)
    assert decode_sorted_cursor(raw, cost) == (0.25, "t1")
    cost_asc = parse_sort({"sort": "cost", "order": "asc"}, "traces")
    text_key = encode_sorted_cursor("x", "t1", cost)
    for bad_sort, bad in [(name, raw), (cost, text_key), (cost_asc, raw), (cost, "bm90IGpzb24")]:
        with pytest.raises(ApiError) as caught:
            decode_sorted_cursor(bad, bad_sort)
        assert caught.value.status == 400 and caught.value.code == "bad_cursor"
