"""The usage day range: whole UTC days, sensible defaults, clear refusals."""

from __future__ import annotations

import pytest

from lynex_box.auth.usage import DAY_US, day_range, iso_day
from lynex_box.schema.timefmt import parse_time_us


def test_dates_widen_to_whole_days_and_a_to_date_is_inclusive() -> None:
    lo, hi = day_range("2026-11-01", "2026-11-03", 0)
    assert (iso_day(lo), iso_day(hi - 1)) == ("2026-11-01", "2026-11-03")
    lo, hi = day_range("2026-11-01", "2026-11-01", 0)
    assert (iso_day(lo), iso_day(hi - 1)) == ("2026-11-01", "2026-11-01")
    lo, hi = day_range("2026-11-01", "2026-11-03T00:00:00Z", 0)
    assert iso_day(hi - 1) == "2026-11-02"
    lo, hi = day_range("2026-11-01T10:00:00Z", "2026-11-03T00:00:01Z", 0)
    assert (iso_day(lo), iso_day(hi - 1)) == ("2026-11-01", "2026-11-03")


def test_default_is_the_last_30_days_including_today() -> None:
    now = parse_time_us("2026-11-27T15:00:00Z")
    lo, hi = day_range(None, None, now)
    assert iso_day(hi - 1) == "2026-11-27" and (hi - lo) == 30 * DAY_US


@pytest.mark.parametrize(("start", "end"), [("2026-11-05", "2026-11-01"), ("yesterday", None), ("1990-01-01", None)])
def test_bad_ranges_are_refused(start: str, end: str | None) -> None:
    with pytest.raises(ValueError):
        day_range(start, end, parse_time_us("2026-11-27T00:00:00Z"))
