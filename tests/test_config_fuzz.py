"""Fuzzing lynex.toml loading: any file and any LYNEX_* variables give Settings or a ConfigError naming the problem.

The byte-level check is `tests.fuzz_targets.config` (shared with `bench/fuzz.py config`). Files are built from the
real sections and keys with values of every TOML type, so most reach the per-key checks, not only the parser.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.config import ConfigError, load_settings, settings_as_toml_keys
from tests import fuzz_targets

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = settings_as_toml_keys()
SECTIONS = sorted(KEYS)

scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["0", "1e999", "nan", "true", "off", "auto", "lz4", " 5 ", "-1", "4318"])
    | st.datetimes(timezones=st.none() | st.just(dt.UTC))
    | st.dates()
    | st.times()
)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=2))


def toml_value(value: Any) -> str:
    """A TOML spelling of `value` (enough of TOML for the fuzzing: strings as JSON-escaped basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "nope"]), max_size=3, unique=True)):
        lines.append(f"[{section}]")
        known = KEYS.get(section, ["x"])
        for key in draw(st.lists(st.sampled_from([*known, "unknown_key"]), max_size=4, unique=True)):
            lines.append(f"{key} = {toml_value(draw(values))}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(documents())
def test_any_values_of_the_real_keys(text: str) -> None:
    fuzz_targets.config_text(text.encode())


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    fuzz_targets.config(data)


@FUZZ
@given(st.dictionaries(st.sampled_from([f"LYNEX_{s}_{k}".upper() for s in SECTIONS for k in KEYS[s]]), st.text()))
def test_any_environment(env: dict[str, str]) -> None:
    env = {name: value.replace("\x00", "") for name, value in env.items()}
    with contextlib.suppress(ConfigError):
        load_settings(None, env=env)


@pytest.mark.parametrize("content", [b"\xff\xfe[server]\n", b'[server]\nhost = "\xc3"\n'])
def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "lynex.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, env={})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_non_finite_numbers_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match="finite"):
        load_settings(None, env={"LYNEX_SERVER_BODY_TIMEOUT_S": value, "LYNEX_HEAD_MAX_AGE_S": "1"})
    with pytest.raises(ConfigError, match="finite"):
        load_settings(None, env={"LYNEX_HEAD_MAX_AGE_S": value})


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path, env={})
