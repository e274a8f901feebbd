"""Turns an event into the JSON bytes that are queued, buffered and sent, once, on the caller's thread.

Writing the event when it is recorded takes a snapshot: the application may change its dicts afterwards without
changing what was recorded. Values that JSON cannot hold are converted rather than refused (pydantic models and
dataclasses to objects, times to RFC 3339, sets to lists, anything else to its `repr`), since inputs and outputs
are whatever the application passed around. NaN and infinities are refused: the server would refuse the whole
batch they are in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from typing import Any


def to_jsonable(value: Any) -> Any:
    """A JSON-ready stand-in for a value `json` cannot write (the encoder's `default`)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic v2 models: OpenAI and Anthropic responses, user models
        try:
            return dump(mode="json", exclude_unset=True)
        except Exception:
            return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return repr(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=to_jsonable)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON bytes; raises ValueError (NaN, a cycle) or TypeError (a key that is not a string or number).

    A lone surrogate (text decoded with `surrogateescape`) becomes "?": the server refuses invalid UTF-8."""
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def plain(value: Any) -> Any:
    """`value` as plain JSON values (dicts, lists, strings, numbers), for wrappers that read SDK response objects."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return plain(to_jsonable(value))
