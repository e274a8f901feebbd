"""The usage_day_closed job with a fake clock: which days are due (grace delay, catch-up bound, first run), one
event per project with data, the mark kept in a real meta.db so a restarted closer neither emits a day again nor
skips one, nothing done while no plugin subscribes, and a refused mark (another node) stops the turn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lynex_box.config import PluginsSettings
from lynex_box.lifecycle.usage_close import (
    DAY_US,
    TOPIC,
    MetaClosedDays,
    UsageCloser,
    day_start_us,
    days_due,
    iso_day,
)
from lynex_box.meta.db import MetaDB

H_US = 3_600_000_000


def at(day: str, hours: float = 0.0) -> int:
    return day_start_us(day) + int(hours * H_US)


class Recorder:
    def __init__(self, wanted: bool = True) -> None:
        self.wanted = wanted
        self.got: list[tuple[str, dict[str, Any]]] = []

    def emit(self, topic: str, event: dict[str, Any]) -> None:
        self.got.append((topic, event))

    def wants(self, topic: str) -> bool:
        return self.wanted and topic == TOPIC


class Clock:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


# usage per (project, day start): what the query engine would answer
USAGE = {
    ("p1", "2026-12-01"): {"spans": 3, "traces": 1, "llm_calls": 2, "errors": 1, "input_tokens": 10,
                           "output_tokens": 5, "total_tokens": 15, "cost_usd": 0.5},
    ("p2", "2026-12-01"): {"spans": 1, "traces": 1, "llm_calls": 0, "errors": 0, "input_tokens": 0,
                           "output_tokens": 0, "total_tokens": 0, "cost_usd": 0.0},
    ("p1", "2026-12-02"): {"spans": 7, "traces": 2, "llm_calls": 7, "errors": 0, "input_tokens": 70,
                           "output_tokens": 7, "total_tokens": 77, "cost_usd": 1.25},
}  # fmt: skip


async def compute(project_id: str, start_us: int, end_us: int) -> dict[str, Any] | None:
    assert end_us - start_us == DAY_US
    return USAGE.get((project_id, iso_day(start_us)))


def closer(meta: MetaDB, events: Recorder, clock: Clock, **settings: Any) -> UsageCloser:
    s = PluginsSettings(**{"usage_close_delay_s": 900.0, "usage_catchup_days": 7, **settings})
    return UsageCloser(s, events, lambda: ["p1", "p2", "p3"], compute, MetaClosedDays(meta), clock)


@pytest.fixture
def meta(tmp_path: Path) -> Any:
    db = MetaDB(tmp_path / "meta.db")
    yield db
    db.close()


def test_days_due_waits_for_the_grace_delay_and_bounds_the_catch_up() -> None:
    # 00:10 on the 3rd: the 2nd ended 10 minutes ago, inside a 15-minute grace delay
    assert days_due(at("2026-12-03", 10 / 60), 900, "2026-12-01", 7) == []
    assert days_due(at("2026-12-03", 0.25), 900, "2026-12-01", 7) == ["2026-12-02"]
    assert days_due(at("2026-12-03", 0.25), 900, None, 7) == ["2026-12-02"]  # first run: the newest day only
    assert days_due(at("2026-12-03", 0.25), 900, "2026-12-02", 7) == []
    assert days_due(at("2026-12-20", 1), 900, "2026-12-01", 3) == ["2026-12-17", "2026-12-18", "2026-12-19"]
    assert days_due(at("2026-12-04", 1), 0, "2026-12-01", 7) == ["2026-12-02", "2026-12-03"]
    # a delay longer than a day moves the newest due day back
    assert days_due(at("2026-12-04", 1), 86_400 + 3_600, None, 7) == ["2026-12-02"]


def test_one_event_per_project_with_data_then_the_mark_survives_a_restart(meta: MetaDB) -> None:
    events, clock = Recorder(), Clock(at("2026-12-02", 0.1))  # 00:06 on the 2nd: the 1st is still in its grace
    first = closer(meta, events, clock)
    # the first turn ever closes the newest day due (the 30th: no data, no event) and starts the mark there
    assert asyncio.run(first.close_due()) == ["2026-11-30"] and events.got == []
    assert asyncio.run(first.close_due()) == []
    clock.now_us = at("2026-12-02", 0.5)
    assert asyncio.run(first.close_due()) == ["2026-12-01"]
    assert [e["project_id"] for _, e in events.got] == ["p1", "p2"]  # p3 had no data that day: no event
    topic, event = events.got[0]
    assert topic == TOPIC
    assert event == {
        "project_id": "p1", "day": "2026-12-01", "start_us": at("2026-12-01"), "end_us": at("2026-12-02"),
        **USAGE[("p1", "2026-12-01")],
    }  # fmt: skip
    assert asyncio.run(first.close_due()) == []  # the same turn again: nothing more
    # a restart (a new closer on the same meta.db) emits nothing again; after three days down it catches up
    events.got.clear()
    second = closer(meta, events, clock)
    assert asyncio.run(second.close_due()) == [] and events.got == []
    clock.now_us = at("2026-12-05", 2)
    assert asyncio.run(second.close_due()) == ["2026-12-02", "2026-12-03", "2026-12-04"]
    assert [(e["project_id"], e["day"]) for _, e in events.got] == [("p1", "2026-12-02")]
    assert MetaClosedDays(meta).last() == "2026-12-04"


def test_catch_up_is_bounded_by_usage_catchup_days(meta: MetaDB) -> None:
    MetaClosedDays(meta).mark("2026-11-01")
    events = Recorder()
    closed = asyncio.run(closer(meta, events, Clock(at("2026-12-03", 1)), usage_catchup_days=2).close_due())
    assert closed == ["2026-12-01", "2026-12-02"]
    assert [e["day"] for _, e in events.got] == ["2026-12-01", "2026-12-01", "2026-12-02"]  # p1, p2; p1


def test_nothing_is_computed_or_marked_while_no_plugin_subscribes(meta: MetaDB) -> None:
    events = Recorder(wanted=False)
    job = closer(meta, events, Clock(at("2026-12-03", 1)))
    assert job.jobs() == []
    assert asyncio.run(job.close_due()) == [] and MetaClosedDays(meta).last() is None
    assert [j.id for j in closer(meta, Recorder(), Clock(0)).jobs()] == ["usage_close"]


class Refusing(MetaClosedDays):
    """A mark another node moved first (cluster mode's conditional write refused)."""

    def mark(self, day: str) -> bool:
        return False


def test_a_refused_mark_stops_the_turn(meta: MetaDB) -> None:
    events = Recorder()
    s = PluginsSettings(usage_close_delay_s=0.0)
    job = UsageCloser(s, events, lambda: ["p1"], compute, Refusing(meta), Clock(at("2026-12-03", 1)))
    MetaClosedDays(meta).mark("2026-11-30")
    assert asyncio.run(job.close_due()) == []
    assert [e["day"] for _, e in events.got] == ["2026-12-01"]  # emitted, then the refusal stopped the turn
