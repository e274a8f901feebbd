"""A compiled check of a whole native request, so the common request costs no Python per field.

msgspec decodes the body against the event's types (lengths, enums, ranges, shapes) in C without
building Python objects for what it only has to check: the values of `metadata`, `error`, `prompt`,
`tool_calls` and structured inputs stay raw JSON. Only times are checked in Python: strings by the
reference parser, and every time against the request's window (two comparisons a time). The check is
an accelerator and never the judge: it answers "every event is valid" only when
`validate.validate_event` would accept every event, and otherwise answers None, and the caller runs
the reference validator, which names the offending event and field. It is stricter than the
reference in a few places (a whole-number float as a token count, unknown top-level keys), which just
sends such requests down the reference path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from lynex_box.schema.timefmt import MAX_EPOCH_MS, parse_time_us
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.native.validate import ALLOWED_TYPES, ID_MAX

_Raw = msgspec.Raw
_NO_LIMIT = 1 << 62
_Id = Annotated[str, Meta(max_length=ID_MAX)] | None
_Count = Annotated[int, Meta(ge=0)] | None
_Money = Annotated[float, Meta(ge=0)] | None
_Time = str | Annotated[int, Meta(ge=0, le=MAX_EPOCH_MS)] | Annotated[float, Meta(ge=0, le=MAX_EPOCH_MS)] | None
_Object = dict[str, _Raw] | None


class _Usage(msgspec.Struct, forbid_unknown_fields=True):
    input_tokens: _Count = None
    output_tokens: _Count = None
    cached_tokens: _Count = None
    reasoning_tokens: _Count = None
    total_tokens: _Count = None


class _Cost(msgspec.Struct, forbid_unknown_fields=True):
    input: _Money = None
    output: _Money = None
    total: _Money = None


@lru_cache(maxsize=4)
def _decoder(max_text: int) -> msgspec.json.Decoder[Any]:
    """The request decoder for one `max_field_bytes` (a setting, so in practice one decoder)."""
    text = Annotated[str, Meta(max_length=max_text)] | None
    content = Annotated[str, Meta(max_length=max_text)] | list[_Raw] | dict[str, _Raw] | int | float | bool | None
    kinds = Literal[tuple(sorted(ALLOWED_TYPES))]  # type: ignore[valid-type]
    fields: list[tuple[str, Any, None]] = [
        *((name, _Id, None) for name in ("event_id", "trace_id", "span_id", "parent_span_id", "session_id", "user_id")),
        *((name, text, None) for name in ("name", "model", "provider", "response_model", "environment", "release")),
        ("status_message", text, None),
        ("input", content, None),
        ("output", content, None),
        ("type", kinds | None, None),
        ("start_time", _Time, None),
        ("end_time", _Time, None),
        ("status", Literal["ok", "error", "unset"] | None, None),
        ("usage", _Usage | None, None),
        ("cost", _Cost | None, None),
        ("tags", list[str] | None, None),
        ("metadata", _Object, None),
        ("error", _Object, None),
        ("prompt", _Object, None),
        ("tool_calls", list[_Raw] | None, None),
    ]
    event = msgspec.defstruct("Event", fields, kw_only=True)
    request = msgspec.defstruct("Request", [("events", list[event])], forbid_unknown_fields=True)  # type: ignore[valid-type]
    return msgspec.json.Decoder(request)


def all_valid(body: bytes, max_field_bytes: int, window: TimeWindow | None = None) -> int | None:
    """The number of events if the body is `{"events": [...]}` and every event is valid (its times inside
    `window`, when given), else None."""
    try:
        request = _decoder(max_field_bytes).decode(body)
        if not body.isascii():
            # msgspec checks the UTF-8 of the strings it decodes, not of the values it keeps raw or the keys it
            # skips; the pipeline's reference decoder (orjson) refuses any invalid UTF-8, so check it all here
            body.decode("utf-8")
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # invalid UTF-8, or nesting deeper than the thread's stack allows: the reference path judges (and says why)
        return None
    lo, hi = (window.lo_us, window.hi_us) if window is not None else (0, _NO_LIMIT)
    for event in request.events:
        for value in (event.start_time, event.end_time):
            if value is None:
                continue
            if value.__class__ is str:
                try:
                    us = parse_time_us(value)
                except ValueError:
                    return None
            else:
                us = round(value * 1000)  # epoch ms, as parse_time_us reads it
            if not lo <= us <= hi:
                return None
    return len(request.events)
