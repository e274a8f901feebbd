"""Turns an event into the JSON bytes that are queued, buffered and sent, once, on the caller's thread.

Writing the event when it is recorded takes a snapshot: the application may change its dicts afterwards without
changing what was recorded. Values that JSON cannot hold are converted rather than refused (pydantic models and
dataclasses to objects, times to RFC 3339, sets to lists, anything else to its `repr`), since inputs and outputs
are whatever the application passed around. NaN and infinities, which JSON cannot hold, are written as null.

`orjson`, when installed (`pip install 'lynex[fast]'`), writes the JSON about ten times faster than the standard
library, which matters on the caller's thread; a value it cannot write (an integer over 64 bits, a lone surrogate,
nesting deeper than 254) goes through the standard library instead, so the result never depends on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
from typing import Any

try:  # optional: the fast path
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]


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
    """UTF-8 JSON bytes; raises ValueError (a cycle) or TypeError (a key that is not a string or a number).

    A lone surrogate (text decoded with `surrogateescape`) becomes "?": the server refuses invalid UTF-8."""
    if orjson is not None:
        try:
            return orjson.dumps(value, default=to_jsonable, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # orjson.JSONEncodeError: let the standard library write it, or say why not
            pass
    return dumps_stdlib(value)


def dumps_stdlib(value: Any) -> bytes:
    """`dumps` with the standard library only."""
    try:
        text = _ENCODER.encode(value)
    except ValueError:
        text = _ENCODER.encode(_finite(value, set()))  # NaN or infinity somewhere (or a cycle: raised again)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _finite(value: Any, stack: set[int]) -> Any:
    """`value` with NaN and infinities replaced by None; ValueError on a cycle."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if id(value) in stack:
            raise ValueError("a value contains itself (circular reference)")
        stack.add(id(value))
        try:
            if isinstance(value, dict):
                return {k: _finite(v, stack) for k, v in value.items()}
            return [_finite(v, stack) for v in value]
        finally:
            stack.discard(id(value))
    return value


def plain(value: Any) -> Any:
    """`value` as plain JSON values (dicts, lists, strings, numbers), for wrappers that read SDK response objects."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return plain(to_jsonable(value))
