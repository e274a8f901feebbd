"""A small JSONPath subset for monitor assertions: pure, no eval, bounded.

Grammar: `$` (the whole document), then steps: `.name` (letters, digits, `_`, `-`), `['name']` or `["name"]` (any
key, no escapes), `[N]` (a list index; negative counts from the end). Nothing else: no wildcards, slices, filters,
recursive descent or functions, so a path costs at most one step per segment and can never run code.
"""

from __future__ import annotations

import re
from typing import Any, Final

MAX_PATH: Final = 512
MAX_STEPS: Final = 32
_NAME: Final = re.compile(r"\.([A-Za-z0-9_\-]+)")
_QUOTED: Final = re.compile(r"""\[(?:'([^']*)'|"([^"]*)")\]""")
_INDEX: Final = re.compile(r"\[(-?\d{1,9})\]")
MISSING: Final = object()


class PathError(ValueError):
    """A path outside the subset; the message says where it stops being one."""


def parse(path: object) -> tuple[str | int, ...]:
    """The steps of `path`: keys (str) and list indexes (int)."""
    if not isinstance(path, str) or not path.startswith("$") or len(path) > MAX_PATH:
        raise PathError(f"a JSON path starts with $ and has at most {MAX_PATH} characters, e.g. $.data.items[0].id")
    steps: list[str | int] = []
    at = 1
    while at < len(path):
        for pattern in (_NAME, _QUOTED, _INDEX):
            m = pattern.match(path, at)
            if m is not None:
                break
        else:
            raise PathError(
                f"JSON path {path!r}: unsupported syntax at character {at} ({path[at : at + 10]!r}); "
                "use .name, ['name'] or [index]"
            )
        if pattern is _INDEX:
            steps.append(int(m.group(1)))
        else:
            steps.append(next(g for g in m.groups() if g is not None))
        at = m.end()
        if len(steps) > MAX_STEPS:
            raise PathError(f"JSON path {path!r} has more than {MAX_STEPS} steps")
    return tuple(steps)


def find(doc: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at `steps` in `doc`, or `MISSING`."""
    value = doc
    for step in steps:
        if isinstance(step, int) and isinstance(value, list):
            if not -len(value) <= step < len(value):
                return MISSING
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            if step not in value:
                return MISSING
            value = value[step]
        else:
            return MISSING
    return value
