"""Identifiers made on the client: event ids (UUIDv7, time-ordered) and W3C-sized trace and span ids.

An event id is made once, when the event is recorded, and travels with it through every retry and every process
that resends it from the disk buffer: the server stores an event id once, so a retry never makes a duplicate.
The random bits come from a private generator (a user's `random.seed()` must never make two processes repeat
ids), reseeded in a forked child for the same reason.
"""

from __future__ import annotations

import os
import random
import time

_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)


def uuid7() -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, then version, variant and 74 random bits (RFC 9562)."""
    ms = time.time_ns() // 1_000_000
    rand = _rng.getrandbits(74)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & (1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def trace_id() -> str:
    """32 hex digits, the size of an OpenTelemetry trace id."""
    return f"{_rng.getrandbits(128):032x}"


def span_id() -> str:
    """16 hex digits, the size of an OpenTelemetry span id."""
    return f"{_rng.getrandbits(64):016x}"
