"""Named points where crash tests make the real process kill itself with SIGKILL.

Armed only by the environment variable `LYNEX_CRASH_AT=<point>[:<hit>]` (the hit-th time the point is
reached, default 1), read once at import. Unarmed, `crash_point` is a dictionary-free early return;
it must never do anything else in production.
"""

from __future__ import annotations

import os
import signal
import threading

_SPEC = os.environ.get("LYNEX_CRASH_AT", "")
_POINT, _, _HIT = _SPEC.partition(":")
_TARGET = int(_HIT) if _HIT else 1
_count = 0
_lock = threading.Lock()


def crash_hit(name: str) -> bool:
    """Count a pass through `name`; True when this pass is the armed one (the caller then crashes)."""
    global _count
    if name != _POINT:
        return False
    with _lock:
        _count += 1
        return _count == _TARGET


def crash_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_point(name: str) -> None:
    """SIGKILL this process if `name` is the armed point and this is the armed pass."""
    if name == _POINT and crash_hit(name):
        crash_now()
