"""A project's PII setting: its mode, its custom patterns and its masked attribute keys, validated.

What the API, the CLI and meta.db hand over is checked here once, with messages that name the value and the rule:
a custom pattern must compile as RE2 (no backreferences or lookaround: RE2 runs in linear time, so no pattern
can backtrack catastrophically), be at most `[pii] max_pattern_chars` long and never match the empty string.
Must never do I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import re2

from lynex_box.config import PiiSettings

Mode = Literal["off", "detect", "redact"]
MODES: Final = ("off", "detect", "redact")
NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,23}")
KEY_RE: Final = re.compile(r"[A-Za-z0-9_.:/@-]{1,128}")


class PolicyError(ValueError):
    """A PII setting that cannot be applied; the message names the value and the rule."""


@dataclass(frozen=True, slots=True)
class CustomPattern:
    name: str
    pattern: str


@dataclass(frozen=True, slots=True)
class PiiPolicy:
    mode: Mode = "off"
    custom_patterns: tuple[CustomPattern, ...] = ()
    masked_keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "custom_patterns": [{"name": p.name, "pattern": p.pattern} for p in self.custom_patterns],
            "masked_keys": list(self.masked_keys),
        }


def re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


def check_pattern(name: object, pattern: object, limits: PiiSettings) -> CustomPattern:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise PolicyError(
            f"custom pattern name {name!r}: use 1..24 characters of a-z, 0-9 and _, starting with a letter"
        )
    if not isinstance(pattern, str) or not 1 <= len(pattern) <= limits.max_pattern_chars:
        raise PolicyError(f"custom pattern {name!r} must be a string of 1..{limits.max_pattern_chars} characters")
    try:
        compiled = re2.compile(pattern, re2_options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PolicyError(
            f"custom pattern {name!r} is not a valid RE2 expression ({detail}); hint: backreferences and "
            "lookaround are not supported, so that no pattern can run in more than linear time"
        ) from None
    if compiled.search("") is not None:
        raise PolicyError(f"custom pattern {name!r} matches the empty string; it must match at least one character")
    return CustomPattern(name, pattern)


def parse_policy(doc: object, limits: PiiSettings, base: PiiPolicy | None = None) -> PiiPolicy:
    """A policy from `{mode?, custom_patterns?: [{name, pattern}], masked_keys?: [...]}`; absent fields keep
    `base`'s (a partial change)."""
    base = base or PiiPolicy()
    if not isinstance(doc, dict):
        raise PolicyError("pii must be an object {mode, custom_patterns, masked_keys}")
    unknown = sorted(set(doc) - {"mode", "custom_patterns", "masked_keys"})
    if unknown:
        raise PolicyError(f"unknown pii field(s) {unknown}; fields are mode, custom_patterns, masked_keys")
    mode = doc.get("mode", base.mode)
    if mode not in MODES:
        raise PolicyError(f"pii.mode {mode!r} is not one of {list(MODES)}")
    patterns = base.custom_patterns
    if "custom_patterns" in doc:
        raw = doc["custom_patterns"]
        if not isinstance(raw, list) or len(raw) > limits.max_custom_patterns:
            raise PolicyError(f"pii.custom_patterns must be a list of at most {limits.max_custom_patterns} patterns")
        found = []
        for item in raw:
            if not isinstance(item, dict) or set(item) != {"name", "pattern"}:
                raise PolicyError("each custom pattern is an object {name, pattern}")
            found.append(check_pattern(item["name"], item["pattern"], limits))
        names = [p.name for p in found]
        if len(set(names)) != len(names):
            raise PolicyError(f"custom pattern names must be unique: {names}")
        patterns = tuple(found)
    keys = base.masked_keys
    if "masked_keys" in doc:
        raw = doc["masked_keys"]
        if not isinstance(raw, list) or len(raw) > limits.max_masked_keys:
            raise PolicyError(f"pii.masked_keys must be a list of at most {limits.max_masked_keys} attribute keys")
        for key in raw:
            if not isinstance(key, str) or not KEY_RE.fullmatch(key):
                raise PolicyError(f"masked key {key!r}: use 1..128 characters of A-Z a-z 0-9 _ . : / @ -")
        keys = tuple(dict.fromkeys(raw))
    return PiiPolicy(mode, patterns, keys)
