"""The ingest time window: times before [ingest] min_time or too far ahead of the clock are refused, named."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lynex_box.config import ConfigError, IngestSettings, load_settings
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.native.fastcheck import all_valid
from lynex_box.sources.native.validate import validate_event

NOW_US = 1_796_000_000_000_000  # 2026-11-30
NOW_MS = NOW_US // 1000
WINDOW = TimeWindow.at(IngestSettings(), NOW_US)
YEAR_2199_MS = 7_258_032_000_000


def test_the_default_window_runs_from_2000_to_a_day_ahead_of_the_clock() -> None:
    assert WINDOW.lo_us == 946_684_800_000_000 and WINDOW.hi_us == NOW_US + 86_400_000_000
    assert WINDOW.problem(NOW_US) is None and WINDOW.problem(WINDOW.hi_us) is None
    env = {"LYNEX_INGEST_MIN_TIME": "2020-01-01T00:00:00+01:00", "LYNEX_INGEST_MAX_FUTURE_S": "60"}
    settings = load_settings(env=env)
    window = TimeWindow.at(settings.ingest, NOW_US)
    assert (window.lo_us, window.hi_us) == (1_577_833_200_000_000, NOW_US + 60_000_000)


@pytest.mark.parametrize("value", ["2000-01-01", "yesterday", "2000-01-01T00:00:00"])
def test_a_min_time_that_is_not_rfc3339_with_an_offset_stops_the_start(value: str) -> None:
    with pytest.raises(ConfigError, match=r"ingest\.min_time"):
        IngestSettings(min_time=value)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("start_time", YEAR_2199_MS, "start_time: 2199-12-31T00:00:00Z is more than 86400 s ahead of the server"),
        ("start_time", "2199-12-31T00:00:00Z", "([ingest] max_future_s)"),
        ("end_time", NOW_MS + 2 * 86_400_000, "end_time: "),
        ("start_time", 86_400_000, "start_time: 1970-01-02T00:00:00Z is before 2000-01-01T00:00:00Z"),
        ("end_time", "1999-12-31T23:59:59Z", "the earliest time accepted ([ingest] min_time)"),
    ],
)
def test_native_events_with_times_outside_the_window_are_refused_by_name(field: str, value: Any, needle: str) -> None:
    event = {"event_id": "e1", "start_time": NOW_MS, field: value}
    error = validate_event(event, 10_000, WINDOW)
    assert error is not None and needle in error
    assert validate_event(event, 10_000) is None  # no window: the format check alone, as before
    body = orjson.dumps({"events": [{"event_id": "e0", "start_time": NOW_MS}, event]})
    assert all_valid(body, 10_000, WINDOW) is None  # the fast path hands the request to the reference check
    assert all_valid(body, 10_000) == 2


def test_times_inside_the_window_pass_both_checks() -> None:
    events = [{"start_time": NOW_MS - 3_600_000, "end_time": f"{'2026-11-30T12:00:00Z'}"},
              {"start_time": float(NOW_MS + 3_600_000)}, {"name": "no times: the arrival time"}]  # fmt: skip
    assert [validate_event(e, 10_000, WINDOW) for e in events] == [None, None, None]
    assert all_valid(orjson.dumps({"events": events}), 10_000, WINDOW) == 3
