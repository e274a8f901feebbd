"""Checks an event against the vendored event schema (`event.schema.json`) before it is queued.

The schema is the server's own file, copied into the package (a test checks the two are byte-equal). It uses a
small part of JSON Schema, so this module compiles that part into plain functions once, at import, instead of
depending on `jsonschema` (whose import alone costs more than a thousand recorded events). A keyword it does not
know makes the import fail: a schema change that needs more must come with a change here, not be half-checked.

A check returns None or a message naming the field and the rule, e.g. `usage.input_tokens: -1 is less than 0`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

Check = Callable[[Any, str], str | None]

# keywords that describe without constraining
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$defs", "default", "examples"})
_KNOWN = _ANNOTATIONS | {
    "type",
    "enum",
    "$ref",
    "oneOf",
    "properties",
    "additionalProperties",
    "items",
    "maxLength",
    "minimum",
    "format",
}
_ALL_TYPES = frozenset({"string", "object", "array", "number", "integer", "boolean", "null"})
# RFC 3339 date-time: a date, "T", a time with optional fraction, and an offset
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "null":
        return value is None
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list | tuple)
    if name == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)  # number


def _where(path: str) -> str:
    return path or "event"


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda value, path: None
        if not isinstance(schema, dict):
            raise ValueError(f"schema {schema!r} is not an object; hint: update lynex/_schema.py with the schema")
        unknown = set(schema) - _KNOWN
        if unknown:
            raise ValueError(f"schema keywords {sorted(unknown)} are not supported by lynex/_schema.py")
        checks = [c for c in self._checks(schema) if c is not None]
        if len(checks) == 1:
            return checks[0]

        def all_of(value: Any, path: str) -> str | None:
            for check in checks:
                error = check(value, path)
                if error is not None:
                    return error
            return None

        return all_of

    def _checks(self, schema: dict[str, Any]) -> list[Check | None]:
        return [
            self._ref(schema.get("$ref")),
            self._type(schema.get("type")),
            self._enum(schema.get("enum")),
            self._one_of(schema.get("oneOf")),
            self._max_length(schema.get("maxLength")),
            self._minimum(schema.get("minimum")),
            self._format(schema.get("format")),
            self._properties(schema.get("properties"), schema.get("additionalProperties", True)),
            self._items(schema.get("items")),
        ]

    def _ref(self, ref: str | None) -> Check | None:
        if ref is None:
            return None
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"$ref {ref!r} is not a local #/$defs/ reference")
        if ref not in self.refs:
            self.refs[ref] = self.compile(self.root["$defs"][ref.removeprefix("#/$defs/")])
        return self.refs[ref]

    def _type(self, spec: str | list[str] | None) -> Check | None:
        if spec is None:
            return None
        names = [spec] if isinstance(spec, str) else list(spec)
        if _ALL_TYPES - {"integer"} <= set(names):
            return None  # any JSON value; what is not JSON is turned into text when the event is written

        def check(value: Any, path: str) -> str | None:
            for name in names:
                if _is_type(value, name):
                    return None
            return f"{_where(path)}: {value!r:.60} is not of type {' or '.join(names)}"

        return check

    def _enum(self, allowed: list[Any] | None) -> Check | None:
        if allowed is None:
            return None
        hashable = frozenset(v for v in allowed if v is None or isinstance(v, str))

        def check(value: Any, path: str) -> str | None:
            if (value is None or isinstance(value, str)) and value in hashable:
                return None
            if value in allowed and not isinstance(value, bool):
                return None
            shown = [v for v in allowed if v is not None]
            return f"{_where(path)}: {value!r:.60} is not one of {shown}"

        return check

    def _one_of(self, options: list[Any] | None) -> Check | None:
        if options is None:
            return None
        checks = [self.compile(o) for o in options]

        def check(value: Any, path: str) -> str | None:
            errors = [c(value, path) for c in checks]
            matched = errors.count(None)
            if matched == 1:
                return None
            if matched == 0:
                return "; ".join(e for e in errors if e is not None)
            return f"{_where(path)}: {value!r:.60} matches more than one of the allowed forms"

        return check

    def _max_length(self, limit: int | None) -> Check | None:
        if limit is None:
            return None

        def check(value: Any, path: str) -> str | None:
            if isinstance(value, str) and len(value) > limit:
                return f"{_where(path)} is longer than {limit} characters ({len(value)})"
            return None

        return check

    def _minimum(self, low: float | None) -> Check | None:
        if low is None:
            return None

        def check(value: Any, path: str) -> str | None:
            if isinstance(value, int | float) and not isinstance(value, bool) and not value >= low:
                return f"{_where(path)}: {value!r} is less than {low}"
            return None

        return check

    def _format(self, name: str | None) -> Check | None:
        if name is None:
            return None
        if name != "date-time":
            raise ValueError(f"format {name!r} is not supported by lynex/_schema.py")

        def check(value: Any, path: str) -> str | None:
            if isinstance(value, str) and _DATE_TIME.match(value) is None:
                return f"{_where(path)}: {value!r:.60} is not an RFC 3339 date-time with a UTC offset"
            return None

        return check

    def _properties(self, props: dict[str, Any] | None, additional: Any) -> Check | None:
        if props is None and additional is True:
            return None
        checks = {name: self.compile(sub) for name, sub in (props or {}).items()}
        closed = additional is False

        def check(value: Any, path: str) -> str | None:
            if not isinstance(value, dict):
                return None
            prefix = f"{path}." if path else ""
            for key, item in value.items():
                sub = checks.get(key)
                if sub is None:
                    if closed:
                        return f"{prefix}{key} is not one of {list(checks)}"
                    continue
                error = sub(item, prefix + key)
                if error is not None:
                    return error
            return None

        return check

    def _items(self, spec: Any) -> Check | None:
        if spec is None:
            return None
        sub = self.compile(spec)

        def check(value: Any, path: str) -> str | None:
            if not isinstance(value, list | tuple):
                return None
            for index, item in enumerate(value):
                error = sub(item, f"{path}[{index}]")
                if error is not None:
                    return error
            return None

        return check


def schema_text() -> bytes:
    """The vendored schema file's bytes."""
    return resources.files("lynex").joinpath("event.schema.json").read_bytes()


def compile_schema(schema: dict[str, Any]) -> Check:
    """A check function for `schema` (the subset of JSON Schema described above)."""
    return _Compiler(schema).compile(schema)


_check_event = compile_schema(json.loads(schema_text()))


def validate_event(event: Any) -> str | None:
    """None when `event` matches the event schema, else the first problem found."""
    return _check_event(event, "")
