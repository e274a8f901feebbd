"""Checks an event against the vendored event schema (`event.schema.json`) before it is queued.

The schema is the server's own file, copied into the package (a test checks the two are byte-equal). It uses a
small part of JSON Schema, so this module compiles that part itself instead of depending on `jsonschema` (whose
import alone takes about 300 ms, and whose check of one event costs about 30 times ours). A keyword it does not know
makes the import fail: a schema change that needs more must come with a change here, not be half-checked.

The check runs on the caller's thread for every recorded event, so each schema node is compiled, once at import,
into the source of one Python function holding only the tests that node needs, cheapest first (the value's exact
type against a set), the way fastjsonschema does. A check returns None or a message naming the field and the
rule, e.g. `usage.input_tokens: -1 is less than 0`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

Check = Callable[[Any], str | None]

# keywords that describe without constraining
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$defs", "default", "examples"})
_CONSTRAINTS = frozenset(
    {"type", "enum", "$ref", "oneOf", "properties", "additionalProperties", "items", "maxLength", "minimum", "format"}
)
_ALL_TYPES = frozenset({"string", "object", "array", "number", "integer", "boolean", "null"})
# RFC 3339 date-time: a date, "T", a time with optional fraction, and an offset
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_EXACT: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list, tuple),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
}


def _is_type(value: Any, name: str) -> bool:
    """The slow path of a type test: subclasses, and floats that are whole numbers for "integer"."""
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


def _any_type(value: Any, names: tuple[str, ...]) -> bool:
    return any(_is_type(value, name) for name in names)


def _join(prefix: str, error: str) -> str:
    """`prefix` (a key or an index) in front of a child's error, which starts with ":" for the child itself."""
    return prefix + error if error[0] in ":[" else f"{prefix}.{error}"


def _anything(value: Any) -> str | None:
    return None


class _Compiler:
    """Writes one function per schema node; `build()` executes them and returns the root's."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.names: dict[int, str] = {}  # id(schema node) -> function name (a node is compiled once)
        self.consts: dict[str, Any] = {
            "_any_type": _any_type,
            "_join": _join,
            "_anything": _anything,
            "_DATE_TIME": _DATE_TIME,
        }
        self.sources: list[str] = []
        self.tables: list[str] = []  # property tables, defined after the functions they name

    def build(self) -> Check:
        name = self.function(self.root)
        namespace = dict(self.consts)
        exec("\n\n".join([*self.sources, *self.tables]), namespace)  # source written here from the schema
        return namespace[name]  # type: ignore[no-any-return]

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def function(self, schema: Any) -> str:
        """The name of the function that checks `schema` (written on first use)."""
        if schema is True or schema == {}:
            return "_anything"
        if not isinstance(schema, dict):
            raise ValueError(f"schema {schema!r} is not an object; hint: update lynex/_schema.py with the schema")
        unknown = set(schema) - _ANNOTATIONS - _CONSTRAINTS
        if unknown:
            raise ValueError(f"schema keywords {sorted(unknown)} are not supported by lynex/_schema.py")
        if id(schema) in self.names:
            return self.names[id(schema)]
        if set(schema) - _ANNOTATIONS == {"$ref"}:
            return self.function(self._target(schema["$ref"]))  # a bare reference: its target's function
        name = self.names[id(schema)] = f"_f{len(self.names)}"
        body = self._body(schema)
        self.sources.append(f"def {name}(v):\n    t = type(v)\n" + "".join(f"    {line}\n" for line in body))
        return name

    def _target(self, ref: str) -> Any:
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"$ref {ref!r} is not a local #/$defs/ reference")
        return self.root["$defs"][ref.removeprefix("#/$defs/")]

    def _body(self, schema: dict[str, Any]) -> list[str]:
        lines: list[str] = []
        if "$ref" in schema:
            lines += [f"e = {self.function(self._target(schema['$ref']))}(v)", "if e is not None: return e"]
        lines += self._type(schema.get("type"))
        if "enum" in schema:
            lines += self._enum(schema["enum"])
        if "oneOf" in schema:
            lines += self._one_of(schema["oneOf"])
        if "maxLength" in schema:
            limit = int(schema["maxLength"])
            lines.append(f"if t is str and len(v) > {limit}:")
            lines.append(f"    return f': is longer than {limit} characters ({{len(v)}})'")
        if "minimum" in schema:
            low = float(schema["minimum"])
            lines.append(f"if (t is int or t is float) and not v >= {low!r}: return f': {{v!r}} is less than {low:g}'")
        if "format" in schema:
            if schema["format"] != "date-time":
                raise ValueError(f"format {schema['format']!r} is not supported by lynex/_schema.py")
            lines.append("if t is str and _DATE_TIME.match(v) is None:")
            lines.append("    return f': {v!r:.60} is not an RFC 3339 date-time with a UTC offset'")
        if "properties" in schema or schema.get("additionalProperties", True) is not True:
            lines += self._properties(schema.get("properties", {}), schema.get("additionalProperties", True))
        if "items" in schema:
            item = self.function(schema["items"])
            lines += [
                "if t is list or t is tuple:",
                "    for i, x in enumerate(v):",
                f"        e = {item}(x)",
                "        if e is not None: return _join(f'[{i}]', e)",
            ]
        return [*lines, "return None"]

    def _type(self, spec: str | list[str] | None) -> list[str]:
        names = [spec] if isinstance(spec, str) else list(spec or [])
        if not names or _ALL_TYPES - {"integer"} <= set(names):
            return []  # any JSON value; what is not JSON is turned into text when the event is written
        exact = frozenset(t for n in names for t in _EXACT[n]) - (set() if "boolean" in names else {bool})
        shown = " or ".join(names)
        return [
            f"if t not in {self.const(exact)} and not _any_type(v, {tuple(names)!r}):",
            f"    return f': {{v!r:.60}}' + {self.const(' is not of type ' + shown)}",
        ]

    def _enum(self, allowed: list[Any]) -> list[str]:
        fast = self.const(frozenset(v for v in allowed if v is None or isinstance(v, str)))
        shown = [v for v in allowed if v is not None]
        return [
            f"if not ((v is None or t is str) and v in {fast}) and not (t is not bool and v in {self.const(allowed)}):",
            f"    return f': {{v!r:.60}}' + {self.const(f' is not one of {shown}')}",
        ]

    def _one_of(self, options: list[Any]) -> list[str]:
        names = [self.function(o) for o in options]
        count = " + ".join(f"({n}(v) is None)" for n in names)
        errors = ", ".join(f"{n}(v)" for n in names)
        return [
            f"m = {count}",
            f"if m == 0: return '; '.join(e for e in ({errors},) if e is not None)",
            "if m > 1: return f': {v!r:.60} matches more than one of the allowed forms'",
        ]

    def _properties(self, props: dict[str, Any], additional: Any) -> list[str]:
        entries = ", ".join(f"{key!r}: {self.function(sub)}" for key, sub in props.items())
        table = f"_t{len(self.tables)}"  # named after the nested tables that `entries` wrote
        self.tables.append(f"{table} = {{{entries}}}")
        lines = ["if t is dict or isinstance(v, dict):", "    for k, x in v.items():", f"        c = {table}.get(k)"]
        if additional is False:
            known = list(props)
            lines.append(f"        if c is None: return f'{{k}}' + {self.const(f' is not one of {known}')}")
        elif additional is not True:
            lines.append(f"        if c is None: c = {self.function(additional)}")
        else:
            lines.append("        if c is None: continue")
        lines += ["        e = c(x)", "        if e is not None: return _join(k, e)"]
        return lines


def schema_text() -> bytes:
    """The vendored schema file's bytes."""
    return resources.files("lynex").joinpath("event.schema.json").read_bytes()


def compile_schema(schema: dict[str, Any]) -> Check:
    """A check function for `schema` (the subset of JSON Schema described above)."""
    return _Compiler(schema).build()


_check_event = compile_schema(json.loads(schema_text()))


def validate_event(event: Any) -> str | None:
    """None when `event` matches the event schema, else the first problem found, naming its field."""
    error = _check_event(event)
    if error is None:
        return None
    return f"event{error}" if error.startswith(":") else error
