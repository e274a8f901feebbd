"""The `Events` interface components emit topics through, and the topic names.

A component gets an `Events` at construction (app.py passes the plugin host; tests and tools pass `NO_EVENTS`).
`emit` never blocks and never raises: the host copies the event into each subscriber's bounded queue and returns.
`wants(topic)` lets a hot path (the pipeline) skip building a summary nobody subscribes to. Every event is a
JSON-able dict except `spans_stored`'s, which carries a pyarrow Table (immutable, so subscribers share it).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

# topic -> the hook a plugin implements to receive it (hookspecs.py); docs/plugins.md describes each one
TOPICS: Final[dict[str, str]] = {
    "span_batch_stored": "lynex_span_batch_stored",
    "spans_stored": "lynex_spans_stored",
    "trace_completed": "lynex_trace_completed",
    "score_written": "lynex_score_written",
    "alert_fired": "lynex_alert_fired",
    "alert_resolved": "lynex_alert_resolved",
    "key_created": "lynex_key_created",
    "key_revoked": "lynex_key_revoked",
    "member_added": "lynex_member_added",
    "project_created": "lynex_project_created",
    "usage_day_closed": "lynex_usage_day_closed",
}


class Events(Protocol):
    def emit(self, topic: str, event: dict[str, Any]) -> None:
        """Hand `event` (a JSON-able dict) to the subscribers of `topic`; never blocks, never raises."""
        ...

    def wants(self, topic: str) -> bool:
        """True when some loaded plugin subscribes to `topic`."""
        ...


class _NoEvents:
    def emit(self, topic: str, event: dict[str, Any]) -> None:
        return None

    def wants(self, topic: str) -> bool:
        return False


NO_EVENTS: Final[Events] = _NoEvents()
