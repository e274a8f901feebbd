"""Prices that depend on when the call was made: new list prices from a date, off-peak hours.

genai-prices expresses these as constraints evaluated on a `datetime`; here they are compiled to
integer windows on epoch microseconds (the span's `start_time`), so that choosing a price on the
hot path never builds a datetime. It must keep genai-prices' semantics exactly: UTC dates, naive
times meaning UTC, half-open daily intervals that may wrap past midnight.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day

from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

from lynex_box.pricing.rates import Rates, TieredRates

_US_PER_DAY = 86_400_000_000
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class StartsAt:
    """Active from UTC midnight of a date on."""

    start_us: int

    def active(self, at_us: int) -> bool:
        return at_us >= self.start_us


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """Active between two UTC times of day, start included, end excluded; wraps past midnight."""

    start_us: int  # microseconds since UTC midnight
    end_us: int

    def active(self, at_us: int) -> bool:
        now = at_us % _US_PER_DAY
        if self.end_us < self.start_us:
            return now >= self.start_us or now < self.end_us
        return self.start_us <= now < self.end_us


Window = StartsAt | DailyWindow
Tariff = Rates | TieredRates


@dataclass(frozen=True, slots=True)
class Schedule:
    """The first tariff whose window holds at the request time, else `default`.

    `conditional` is in genai-prices' precedence order (its last listed price first); a None
    window always holds.
    """

    default: Tariff
    conditional: tuple[tuple[Window | None, Tariff], ...]

    def for_call(self, input_tokens: int, at_us: int | None) -> Rates:
        when = _time.time_ns() // 1000 if at_us is None else at_us
        for window, tariff in self.conditional:
            if window is None or window.active(when):
                return tariff.for_call(input_tokens, when)
        return self.default.for_call(input_tokens, when)


def compile_constraint(constraint: StartDateConstraint | TimeOfDateConstraint | None) -> Window | None:
    if constraint is None:
        return None
    if isinstance(constraint, StartDateConstraint):
        return StartsAt((constraint.start_date - _EPOCH_DAY).days * _US_PER_DAY)
    return DailyWindow(_utc_us_of_day(constraint.start_time), _utc_us_of_day(constraint.end_time))


def _utc_us_of_day(value: time_of_day) -> int:
    """Microseconds since UTC midnight; a naive time is UTC (converted on 1970-01-01, as genai-prices does)."""
    if value.tzinfo is not None:
        value = datetime.combine(_EPOCH_DAY, value).astimezone(UTC).time()
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
