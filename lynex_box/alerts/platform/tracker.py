"""One platform alert condition's state over time: ok → pending → firing → ok. Pure: the caller passes the clock.

A condition that holds starts pending; once it has held at every evaluation for `for_s` it fires (one `firing`
notification). A firing condition that stops holding resolves only after it has been clear for `resolve_after_s`
(one `resolved`), so a value hovering at the threshold does not notify at every evaluation; it holds again within
that time and nothing is sent. While it fires, `renotify` is sent every `renotify_s` (0: never). A pending condition
that stops holding goes back to ok silently. An unknown reading (too little history, no metric) changes nothing.
Times are wall-clock seconds, so a firing restored from the state file after a restart keeps its start and its last
notification (`service.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["ok", "pending", "firing"]


@dataclass(frozen=True, slots=True)
class Timing:
    for_s: float
    resolve_after_s: float
    renotify_s: float


@dataclass(slots=True)
class Track:
    """What one condition is doing; `since` is the pending start, then the firing's start (when it began to hold)."""

    condition: str
    state: State = "ok"
    since: float | None = None
    clear_since: float | None = None
    last_notified: float | None = None
    fired_value: float | None = None  # the value when it fired
    resolved_at: float | None = None  # the last resolution

    def step(self, holds: bool | None, value: float | None, now: float, t: Timing) -> str | None:
        """Move on with one evaluation's outcome; the notification to send (firing, renotify, resolved) or None."""
        if holds is None:
            return None
        if self.state == "ok":
            if not holds:
                return None
            self.state, self.since, self.clear_since = "pending", now, None
        if self.state == "pending":
            if not holds:
                self.state, self.since = "ok", None
                return None
            if self.since is not None and now - self.since < t.for_s:
                return None
            self.state, self.last_notified, self.fired_value, self.resolved_at = "firing", now, value, None
            return "firing"
        if holds:  # firing and still holding
            self.clear_since = None
            last = self.last_notified if self.last_notified is not None else now
            if t.renotify_s > 0 and now - last >= t.renotify_s:
                self.last_notified = now
                return "renotify"
            return None
        if self.clear_since is None:
            self.clear_since = now
        if now - self.clear_since < t.resolve_after_s:
            return None
        self.state, self.resolved_at, self.clear_since = "ok", now, None
        return "resolved"
