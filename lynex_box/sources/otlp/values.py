"""Coercion of attribute values (str/int/float/JSON text) for the OTLP mapping, and the first-of lookup.

Attribute values arrive with whatever type the instrumentation chose (token counts as int, double or string, JSON
as text or as kvlist). These helpers return None for a value they cannot use, and must never raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from lynex_box.sources.common.jsondepth import json_depth

__all__ = ["as_float", "as_int", "as_str", "dumps", "first", "json_value", "loads_maybe", "raw_text"]

T = TypeVar("T")
_JSON_START = frozenset("{[")
_JSON_FIRST = frozenset('{["-0123456789tfn \t\r\n')
# JSON text nested deeper than this stays text: a parsed value must still encode (orjson writes at most 254
# levels) inside the row and every answer around it; the native API's own limit is [ingest] max_json_depth.
MAX_TEXT_DEPTH = 64


def _loads(text: str) -> Any:
    """The value of JSON `text`; orjson.JSONDecodeError if it is not JSON or nests deeper than MAX_TEXT_DEPTH."""
    value = orjson.loads(text)
    if text.count("[") + text.count("{") > MAX_TEXT_DEPTH and json_depth(text.encode()) > MAX_TEXT_DEPTH:
        raise orjson.JSONDecodeError(f"nested deeper than {MAX_TEXT_DEPTH} levels", text, 0)
    return value


def dumps(value: Any) -> str:
    """Compact JSON text (orjson; NaN becomes null)."""
    return orjson.dumps(value).decode()


def loads_maybe(value: Any) -> Any:
    """A string that holds a JSON object or array is parsed; anything else is returned unchanged."""
    if isinstance(value, str) and value and value[0] in _JSON_START:
        try:
            return _loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def as_str(value: Any) -> str | None:
    """A non-empty string, or a number as text; anything else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_float(value: Any) -> float | None:
    """A finite number from a number or numeric text (bools are not numbers here)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """An int from an int, a finite float (truncated) or numeric text."""
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    number = as_float(value)
    return int(number) if number is not None else None


def json_value(value: Any) -> Any:
    """For values that are always JSON text (Langfuse, Traceloop entity): parsed, or the raw string if not JSON."""
    # The first-character test spares a raised JSONDecodeError (microseconds) for plain text such as v3 metadata.
    if isinstance(value, str) and value and value[0] in _JSON_FIRST:
        try:
            return _loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def raw_text(value: Any) -> str | None:
    """A value as text: strings unchanged, anything else as compact JSON."""
    if value is None or isinstance(value, str):
        return value
    return dumps(value)


def first(
    attrs: dict[str, Any], sources: tuple[str, ...], convert: Callable[[Any], T | None], rest: dict[str, Any]
) -> T | None:
    """The first source whose value converts. Sources that do not convert go back to `rest` (they map nowhere);
    sources after the one used are duplicates and are dropped."""
    for key in sources:
        value = attrs.get(key)
        if value is None:
            continue
        converted = convert(value)
        if converted is not None:
            return converted
        rest[key] = value
    return None
