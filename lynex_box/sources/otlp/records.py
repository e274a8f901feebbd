"""Plain records decoded from OTLP requests, and the decode error.

These are the hand-off types between `decode` (protobuf/JSON bytes in) and `mapping` (span rows out). They hold
only Python values: no protobuf message ever leaves `decode`. This module must never import protobuf or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class OtlpDecodeError(ValueError):
    """The request body is not a valid OTLP export request; the whole request is refused (HTTP 400)."""


@dataclass(slots=True)
class OtlpEvent:
    """A span event (`Span.Event`)."""

    name: str
    time_unix_nano: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class OtlpSpan:
    """One decoded span. Ids are lowercase hex; `resource_attributes` is shared by the spans of one resource.

    Treat every dict here as read-only: the mapping never mutates them.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: list[OtlpEvent]
    resource_attributes: dict[str, Any]
    scope_name: str
    scope_version: str


@dataclass(slots=True)
class OtlpLogRecord:
    """One decoded log record; `event_name` comes from `LogRecord.event_name` or the `event.name` attribute."""

    trace_id: str | None
    span_id: str | None
    time_unix_nano: int
    event_name: str | None
    body: Any
    attributes: dict[str, Any]
