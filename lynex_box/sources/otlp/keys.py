"""What the mapping does with an attribute key: one dict lookup per key instead of a pass per table.

`key_spec(key)` answers with a tuple whose first item says which part of the mapping reads the key:
`(SCALAR, column, priority, converter, type)` for a key that feeds a scalar column (`type` is "s", "i" or "f"),
`(SECTION, section)` for a key a part of the mapping reads itself (`conventions.SECTION_KEYS`),
`(FAMILY, group, rest_of_key)` for a key of a flattened family (`conventions.FLAT_GROUPS`), `(OTHER,)` for the
rest (kept in `attributes`). Known keys are in a table built once from `conventions`; other spellings are
classified on first sight and remembered in a bounded memo.

`plan_of(keys)` goes one step further: the spans of one instrumentation carry the same attribute keys in the same
order, so the classification of a whole key list (a `KeyPlan`) is remembered too, and a span pays one lookup
for its key list instead of one per key. Both memos hold key spellings only, never a span's data, and are bounded.
No I/O, never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from lynex_box.sources.otlp import conventions as c
from lynex_box.sources.otlp.values import as_float, as_int, as_str

__all__ = ["FAMILY", "OTHER", "SCALAR", "SECTION", "KeyPlan", "key_spec", "known_spec", "plan_of"]

SCALAR: Final = 0
SECTION: Final = 1
FAMILY: Final = 2
OTHER: Final = 3

KeySpec = tuple[Any, ...]
_OTHER_SPEC: Final[KeySpec] = (OTHER,)
_MEMO_LIMIT: Final = 65_536  # distinct unknown spellings remembered; past it they are classified every time

_CONVERTERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "str": (as_str, "s"),
    "int": (as_int, "i"),
    "float": (as_float, "f"),
}


def _known() -> dict[str, KeySpec]:
    table: dict[str, KeySpec] = {key: (SECTION, section) for key, section in c.KEY_SECTIONS.items()}
    for kind, sources in (("str", c.STRING_SOURCES), ("int", c.INT_SOURCES), ("float", c.COST_SOURCES)):
        converter, letter = _CONVERTERS[kind]
        for column, keys in sources.items():
            for priority, key in enumerate(keys):
                table[key] = (SCALAR, column, priority, converter, letter)  # a scalar key is never a section key
    return table


def _classify(key: str) -> KeySpec:
    """A key outside the known table: a flattened family's member (found by its first two dot segments), or other."""
    second = key.find(".", key.find(".") + 1)
    family = c.FLAT_GROUPS.get(key[: second + 1]) if second > 0 else None
    if family is not None and key.startswith(family[0]) and len(key) > len(family[0]):
        return (FAMILY, family[1], key[len(family[0]) :])
    return _OTHER_SPEC


_SPECS: Final[dict[str, KeySpec]] = _known()
_MEMO_START: Final = len(_SPECS)


def key_spec(key: str) -> KeySpec:
    """How the mapping treats `key` (see the module docstring)."""
    spec = _SPECS.get(key)
    if spec is None:
        spec = _classify(key)
        if len(_SPECS) < _MEMO_START + _MEMO_LIMIT:
            _SPECS[key] = spec
    return spec


# The lookup alone, for the mapping's hot loop: `known_spec(key) or key_spec(key)` spares a call per known key.
known_spec: Final = _SPECS.get


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """The classification of one span's attribute key list, in key order within each part."""

    scalars: tuple[tuple[str, str, int, Callable[[Any], Any], str], ...]  # key, column, priority, converter, type
    shared: bool  # whether two of the scalar keys feed one column (only then do their priorities matter)
    sections: frozenset[str]  # the sections with a key present
    groups: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # group: (key, key without the family prefix)...
    others: tuple[str, ...]  # keys kept in `attributes` as they are
    kinds: tuple[tuple[str, dict[str, str]], ...]  # the `KIND_SOURCES` present, in their order
    parameters: tuple[tuple[str, str], ...]  # the `MODEL_PARAMETER_KEYS` present (key, name), in table order


_PLAN_LIMIT: Final = 4096  # distinct key lists remembered; past it a key list is classified every time
_PLANS: dict[tuple[str, ...], KeyPlan] = {}


def _plan(keys: tuple[str, ...]) -> KeyPlan:
    scalars: list[tuple[str, str, int, Callable[[Any], Any], str]] = []
    sections: set[str] = set()
    groups: dict[str, list[tuple[str, str]]] = {}
    others: list[str] = []
    for key in keys:
        spec = key_spec(key)
        if spec[0] == SCALAR:
            scalars.append((key, spec[1], spec[2], spec[3], spec[4]))
        elif spec[0] == SECTION:
            sections.add(spec[1])
        elif spec[0] == FAMILY:
            groups.setdefault(spec[1], []).append((key, spec[2]))
        else:
            others.append(key)
    present = set(keys)
    kinds = tuple((key, table) for key, table in c.KIND_SOURCES if key in present)
    parameters = tuple((key, name) for key, name in c.MODEL_PARAMETER_KEYS.items() if key in present)
    shared = len({scalar[1] for scalar in scalars}) < len(scalars)
    return KeyPlan(
        tuple(scalars),
        shared,
        frozenset(sections),
        tuple((group, tuple(members)) for group, members in groups.items()),
        tuple(others),
        kinds,
        parameters,
    )


def plan_of(keys: tuple[str, ...]) -> KeyPlan:
    """The `KeyPlan` of an attribute key list (a span's `tuple(attributes)`)."""
    plan = _PLANS.get(keys)
    if plan is None:
        plan = _plan(keys)
        if len(_PLANS) < _PLAN_LIMIT:
            _PLANS[keys] = plan
    return plan
