"""The `[plugins.detectors]` table: which detectors run, the score below which a detection is dropped, and the
score each flag-like detector gives. `validate` raises ConfigError naming the key, so the plugin fails to load
with a clear message rather than running with a setting it misread.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lynex_detectors.checks import NAMES


class ConfigError(ValueError):
    """A bad `[plugins.detectors]` table; the message names the key."""


@dataclass(frozen=True, slots=True)
class Settings:
    enabled: tuple[str, ...] = NAMES  # which detectors run (all by default)
    threshold: float = 0.3  # a detection scoring below this is dropped (no score, no reasons)
    grounding_min_prompt_chars: int = 200  # grounding runs without documents/tool results only on longer prompts
    refusal_score: float = 0.5
    uncertainty_score: float = 0.4
    empty_score: float = 0.7
    truncated_score: float = 0.6
    language_score: float = 0.6
    invalid_json_score: float = 0.8


_SCORES = ("threshold", "refusal_score", "uncertainty_score", "empty_score", "truncated_score", "language_score",
           "invalid_json_score")  # fmt: skip
_KEYS = {f.name for f in fields(Settings)}


def validate(config: dict[str, Any]) -> Settings:
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise ConfigError(f"[plugins.detectors]: unknown key(s) {unknown}; known keys are {sorted(_KEYS)}")
    values: dict[str, Any] = {}
    enabled = config.get("enabled", list(NAMES))
    if not isinstance(enabled, list) or not all(isinstance(n, str) and n in NAMES for n in enabled):
        raise ConfigError(f"[plugins.detectors] enabled = {enabled!r} must be a list of names from {list(NAMES)}")
    values["enabled"] = tuple(dict.fromkeys(enabled))
    for key in _SCORES:
        if key in config:
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(f"[plugins.detectors] {key} = {value!r} must be a number in [0, 1]")
            values[key] = float(value)
    chars = config.get("grounding_min_prompt_chars", Settings().grounding_min_prompt_chars)
    if isinstance(chars, bool) or not isinstance(chars, int) or not 0 <= chars <= 1_000_000:
        raise ConfigError(f"[plugins.detectors] grounding_min_prompt_chars = {chars!r} must be an integer >= 0")
    values["grounding_min_prompt_chars"] = chars
    return Settings(**values)
