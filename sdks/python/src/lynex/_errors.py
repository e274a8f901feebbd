"""What the SDK reports when it cannot deliver something; passed to the `on_error` callback and logged.

The SDK never raises these into the application: recording must not break the code being recorded. Each carries a
message that names the value and says what to do.
"""

from __future__ import annotations

from typing import Any


class LynexError(Exception):
    """Base of everything the SDK reports."""


class ConfigError(LynexError, ValueError):
    """A missing or wrong setting when a client is built (raised: this one happens before any recording)."""


class InvalidEvent(LynexError):
    """An event that does not match the event schema (or cannot be written as JSON); it is never sent."""

    def __init__(self, reason: str, event: Any) -> None:
        super().__init__(f"event not sent: {reason}")
        self.reason = reason
        self.event = event


class EventsRejected(LynexError):
    """The server refused events for good (a 4xx other than 408/429, or per-item rejections in a 202)."""

    def __init__(self, reason: str, count: int, status: int | None = None, kind: str = "events") -> None:
        super().__init__(f"{count} {kind} refused by the server: {reason}")
        self.reason = reason
        self.count = count
        self.status = status
        self.kind = kind


class EventsDropped(LynexError):
    """Events recorded but not delivered: the queue was full, or the process ended while the server was away."""

    def __init__(self, reason: str, count: int) -> None:
        super().__init__(f"{count} events dropped: {reason}")
        self.reason = reason
        self.count = count
