"""A score: one named judgement (numeric, boolean, categorical or text) attached to a trace, a span or a session.

Pure: turns a client's score object — Langfuse's (`traceId`, `dataType`, ...) or ours (`trace_id`, `data_type`,
...) — into a validated `Score`, or raises `InvalidScore` with a message that names the field. It must never
take the project from the client: the caller passes the key's project when it stores the score.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import orjson

from lynex_box.schema.timefmt import format_time_us, parse_time_us

DATA_TYPES: Final = ("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION")
SOURCES: Final = ("API", "ANNOTATION", "EVAL")
_ID_MAX = 256
_NAME_MAX = 1000
_TEXT_MAX = 10_000
_METADATA_MAX = 64 * 1024
# (our name, Langfuse's name): both spellings are accepted on every endpoint.
_FIELDS: Final = (
    ("id", "id"),
    ("trace_id", "traceId"),
    ("span_id", "observationId"),
    ("session_id", "sessionId"),
    ("dataset_run_id", "datasetRunId"),
    ("data_type", "dataType"),
    ("config_id", "configId"),
)


class InvalidScore(ValueError):
    """A score that cannot be stored; the message names the field and what it must be."""


@dataclass(frozen=True, slots=True)
class Score:
    id: str
    name: str
    data_type: str
    value: float | None
    string_value: str | None
    timestamp_us: int
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    dataset_run_id: str | None = None
    comment: str | None = None
    source: str = "API"
    metadata: str | None = None  # JSON text
    environment: str | None = None
    config_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The API shape: RFC 3339 timestamp, metadata parsed back."""
        return {
            "id": self.id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "session_id": self.session_id,
            "dataset_run_id": self.dataset_run_id,
            "name": self.name,
            "data_type": self.data_type,
            "value": self.value,
            "string_value": self.string_value,
            "comment": self.comment,
            "source": self.source,
            "metadata": None if self.metadata is None else orjson.loads(self.metadata),
            "environment": self.environment,
            "config_id": self.config_id,
            "timestamp": format_time_us(self.timestamp_us),
        }


def _field(obj: dict[str, Any], ours: str, theirs: str) -> Any:
    value = obj.get(ours)
    return obj.get(theirs) if value is None else value


def _opt_str(obj: dict[str, Any], ours: str, theirs: str, limit: int = _ID_MAX) -> str | None:
    value = _field(obj, ours, theirs)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidScore(f"{ours} must be a string")
    if len(value) > limit:
        raise InvalidScore(f"{ours} is longer than {limit} characters")
    return value


def time_us(value: Any) -> int:
    """Epoch µs of an RFC 3339 string (a time without offset is taken as UTC, as Langfuse does) or epoch ms."""
    try:
        return parse_time_us(value)
    except ValueError:
        if isinstance(value, str) and "T" in value:
            return parse_time_us(value.strip() + "Z")
        raise


def _value(raw: Any, data_type: str | None) -> tuple[str, float | None, str | None]:
    """(data type, numeric value, string value) from a value and an optional declared type."""
    if data_type is None:
        data_type = "BOOLEAN" if isinstance(raw, bool) else "CATEGORICAL" if isinstance(raw, str) else "NUMERIC"
    if data_type == "NUMERIC":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise InvalidScore(f"value {raw!r} of a NUMERIC score must be a finite number")
        return data_type, float(raw), None
    if data_type == "BOOLEAN":
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            raw = raw.lower() == "true"
        if not isinstance(raw, bool | int | float) or raw not in (0, 1):
            raise InvalidScore(f"value {raw!r} of a BOOLEAN score must be true/false or 1/0")
        flag = bool(raw)
        return data_type, float(flag), "True" if flag else "False"
    if not isinstance(raw, str) or not raw:
        raise InvalidScore(f"value {raw!r} of a {data_type} score must be a non-empty string")
    if len(raw) > _TEXT_MAX:
        raise InvalidScore(f"value of a {data_type} score is longer than {_TEXT_MAX} characters")
    return data_type, None, raw


def parse_score(obj: Any, default_id: str | None = None, default_time_us: int | None = None) -> Score:
    """A validated `Score` from a client object in either spelling; raises `InvalidScore`.

    `default_id` names a score that has no id (e.g. its ingestion event id, so a retry updates, not duplicates);
    `default_time_us` dates one without `timestamp` (e.g. the ingestion event's time, else now)."""
    if not isinstance(obj, dict):
        raise InvalidScore("a score must be a JSON object")
    ids = {ours: _opt_str(obj, ours, theirs) for ours, theirs in _FIELDS}
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidScore("name must be a non-empty string")
    if len(name) > _NAME_MAX:
        raise InvalidScore(f"name is longer than {_NAME_MAX} characters")
    if ids["span_id"] is not None and ids["trace_id"] is None:
        raise InvalidScore("a score for a span (observationId / span_id) needs its trace_id too")
    if ids["trace_id"] is None and ids["session_id"] is None and ids["dataset_run_id"] is None:
        raise InvalidScore("a score needs a trace_id (or a session_id or dataset_run_id) to attach to")
    declared = ids["data_type"]
    if declared is not None:
        declared = declared.upper()
        if declared not in DATA_TYPES:
            raise InvalidScore(f"data_type {ids['data_type']!r} is not one of {list(DATA_TYPES)}")
    if "value" not in obj or obj["value"] is None:
        raise InvalidScore("value is required")
    data_type, value, string_value = _value(obj["value"], declared)
    source = obj.get("source") or "API"
    if not isinstance(source, str) or source.upper() not in SOURCES:
        raise InvalidScore(f"source {source!r} is not one of {list(SOURCES)}")
    comment = _opt_str(obj, "comment", "comment", _TEXT_MAX)
    environment = _opt_str(obj, "environment", "environment")
    metadata = obj.get("metadata")
    metadata_text = None if metadata is None else orjson.dumps(metadata, default=str).decode()
    if metadata_text is not None and len(metadata_text) > _METADATA_MAX:
        raise InvalidScore(f"metadata is larger than {_METADATA_MAX} bytes as JSON")
    stamp = obj.get("timestamp")
    try:
        timestamp_us = time_us(stamp) if stamp is not None else default_time_us
    except ValueError as exc:
        raise InvalidScore(f"timestamp: {exc}") from None
    return Score(
        id=ids["id"] or default_id or uuid.uuid4().hex,
        name=name,
        data_type=data_type,
        value=value,
        string_value=string_value,
        timestamp_us=timestamp_us if timestamp_us is not None else _now_us(),
        trace_id=ids["trace_id"],
        span_id=ids["span_id"],
        session_id=ids["session_id"],
        dataset_run_id=ids["dataset_run_id"],
        comment=comment,
        source=source.upper(),
        metadata=metadata_text,
        environment=environment,
        config_id=ids["config_id"],
    )


def _now_us() -> int:
    return time.time_ns() // 1000
