"""The times an ingested span may carry: not before `[ingest] min_time`, not after the server's clock plus
`[ingest] max_future_s`.

A time outside that window is almost always a mistake (seconds or nanoseconds sent as milliseconds, a wrong
clock, a placeholder date), and one span dated 2199 stretches every time-bounded scan of its project (exports,
newest-first lists) to 2199. Every ingest route refuses such items one by one, in its API's own style (native:
`rejected`; OTLP: `partial_success`; Langfuse: its per-event errors), with the message `problem` gives. The window
is taken once per request, at its arrival. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from lynex_box.config import IngestSettings
from lynex_box.schema.timefmt import format_time_us


def _shown(us: int) -> str:
    try:
        return format_time_us(us)
    except (OverflowError, ValueError):  # past year 9999: say it in microseconds
        return f"{us} µs since 1970"


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accepted times are `lo_us <= t <= hi_us` (epoch µs)."""

    lo_us: int
    hi_us: int
    max_future_s: float

    @classmethod
    def at(cls, settings: IngestSettings, now_us: int) -> TimeWindow:
        """The window of a request that arrived at `now_us`."""
        future_us = round(settings.max_future_s * 1_000_000)
        return cls(settings.min_time_us, now_us + future_us, settings.max_future_s)

    def problem(self, us: int) -> str | None:
        """None if `us` fits, else why not (naming the time and the setting that decides)."""
        if us < self.lo_us:
            return (
                f"{_shown(us)} is before {_shown(self.lo_us)}, the earliest time accepted ([ingest] min_time); "
                "hint: send epoch milliseconds or RFC 3339 with a UTC offset"
            )
        if us > self.hi_us:
            return (
                f"{_shown(us)} is more than {self.max_future_s:g} s ahead of the server's clock "
                "([ingest] max_future_s); hint: check the sender's clock and the time unit (epoch milliseconds)"
            )
        return None
