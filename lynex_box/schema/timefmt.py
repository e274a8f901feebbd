"""Parsing the two time forms events may carry: RFC 3339 strings and epoch milliseconds."""

from __future__ import annotations

import datetime as dt

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Epoch-ms numbers outside years 1970..2200 are almost surely seconds or nanoseconds by mistake.
MAX_EPOCH_MS = 7_258_118_400_000
_MAX_MS = MAX_EPOCH_MS


def parse_time_us(value: object) -> int:
    """Return epoch microseconds; raise ValueError with a message naming the value otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"time {value!r} must be an RFC 3339 string or epoch milliseconds")
    if isinstance(value, int | float):
        if not 0 <= value <= _MAX_MS:
            raise ValueError(f"epoch milliseconds {value!r} out of range (1970..2200)")
        return round(value * 1000)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"time {value!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise ValueError(f"time {value!r} has no UTC offset")
        delta = parsed - _EPOCH
        us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        if not 0 <= us <= _MAX_MS * 1000:
            raise ValueError(f"time {value!r} out of range (1970..2200)")
        return us
    raise ValueError(f"time {value!r} must be an RFC 3339 string or epoch milliseconds")


def format_time_us(us: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")
