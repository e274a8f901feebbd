"""Usage metering: events, spans, traces, tokens and cost of one project per UTC day.

Computed from the span store (segments plus head) with one DuckDB query, deduplicated like every
query; this is what the seed's billing service consumed. Pure: the SQL and the day range only.
`events` counts every stored item (native events and OTLP spans), `spans` those that are not point
events (`kind` other than `event`), both bucketed by the day their span started.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from lynex_box.schema.timefmt import parse_time_us

DAY_US: Final = 86_400_000_000
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 3_660

USAGE_SQL: Final = """
SELECT strftime(date_trunc('day', start_time), '%Y-%m-%d') AS day,
       count(*) AS events,
       count(*) FILTER (WHERE kind IS DISTINCT FROM 'event') AS spans,
       count(DISTINCT trace_id) AS traces,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(total_tokens), 0) AS total_tokens,
       coalesce(sum(total_cost), 0.0) AS total_cost
FROM spans GROUP BY 1 ORDER BY 1
"""


def _day_start(us: int) -> int:
    return us - us % DAY_US


def _bound(value: str | None, name: str, inclusive_day: bool = False) -> int | None:
    """Epoch µs of a bound; a plain date is that day's midnight UTC (or the next midnight when inclusive)."""
    if value is None or value == "":
        return None
    text = value.strip()
    plain_date = len(text) == 10 and text[4] == "-" and text[7] == "-"
    if plain_date:
        text += "T00:00:00Z"
    try:
        us = parse_time_us(int(text) if text.isascii() and text.isdigit() else text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return us + DAY_US if plain_date and inclusive_day else us


def day_range(start: str | None, end: str | None, now_us: int) -> tuple[int, int]:
    """[from, to) in epoch µs, widened to whole UTC days; `to` as a plain date includes that day.

    Default: the last 30 days including today.
    """
    end_us = _bound(end, "to", inclusive_day=True)
    start_us = _bound(start, "from")
    hi = _day_start(end_us - 1) + DAY_US if end_us is not None else _day_start(now_us) + DAY_US
    lo = _day_start(start_us) if start_us is not None else hi - DEFAULT_DAYS * DAY_US
    if hi <= lo:
        raise ValueError("`to` must be after `from`")
    if hi - lo > MAX_DAYS * DAY_US:
        raise ValueError(f"the range is longer than {MAX_DAYS} days")
    return lo, hi


def iso_day(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).date().isoformat()
