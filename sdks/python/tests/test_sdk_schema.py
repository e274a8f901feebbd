"""The SDK's copy of the event schema is the server's, and its checker agrees with a full JSON Schema validator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import lynex
import pytest
from lynex._schema import compile_schema, schema_text

ROOT = Path(__file__).resolve().parents[3]
SERVER_SCHEMA = ROOT / "lynex_box" / "schema" / "event.schema.json"
VENDORED = ROOT / "sdks" / "python" / "src" / "lynex" / "event.schema.json"


def test_vendored_schema_is_byte_equal_to_the_servers() -> None:
    assert VENDORED.read_bytes() == SERVER_SCHEMA.read_bytes(), (
        "sdks/python/src/lynex/event.schema.json differs from lynex_box/schema/event.schema.json; "
        "hint: cp lynex_box/schema/event.schema.json sdks/python/src/lynex/event.schema.json"
    )
    assert schema_text() == SERVER_SCHEMA.read_bytes()


GOOD: list[dict[str, Any]] = [
    {},
    {"event_id": "e1", "type": "llm", "model": "gpt-4o", "usage": {"input_tokens": 3, "output_tokens": 1}},
    {"start_time": "2026-11-27T10:00:00.120Z", "end_time": 1795000000000.5, "status": "error"},
    {"start_time": "2026-11-27T10:00:00+02:00", "input": [{"role": "user", "content": "hi"}], "output": {"a": 1}},
    {"tags": ["a", "b"], "metadata": {"k": [1, 2]}, "prompt": {"name": "qa", "version": 3}},
    {"tool_calls": [{"id": None, "name": "search", "arguments": {"q": 1}, "result": "x"}], "cost": {"total": 0.5}},
    {"type": None, "status": None, "usage": None, "parent_span_id": None, "unknown_field": object()},
    {"usage": {"input_tokens": 3.0}, "error": {"type": "Timeout", "message": "slow"}},
]
BAD: list[dict[str, Any]] = [
    {"type": "banana"},
    {"usage": {"input_tokens": -1}},
    {"usage": {"input_tokens": 1.5}},
    {"usage": {"inputs": 1}},
    {"usage": {"input_tokens": True}},
    {"start_time": "2026-11-27"},
    {"start_time": "2026-11-27T10:00:00"},
    {"start_time": -5},
    {"event_id": "x" * 257},
    {"tags": ["a", 1]},
    {"tags": "a"},
    {"status": "fine"},
    {"metadata": [1]},
    {"cost": {"total": -0.1}},
    {"tool_calls": [{"name": 1}]},
    {"prompt": {"version": 1.5}},
    {"name": 3},
]


@pytest.mark.parametrize("event", GOOD)
def test_good_events_pass_both_validators(event: dict[str, Any]) -> None:
    assert lynex.validate_event(event) is None
    plain = {k: v for k, v in event.items() if k != "unknown_field"}
    jsonschema.validate(plain, jsonschema_schema(), format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("event", BAD)
def test_bad_events_fail_both_validators(event: dict[str, Any]) -> None:
    assert lynex.validate_event(event) is not None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, jsonschema_schema(), format_checker=jsonschema.FormatChecker())


def test_the_message_names_the_field() -> None:
    assert lynex.validate_event({"usage": {"input_tokens": -1}}) == "usage.input_tokens: -1 is less than 0"
    assert "tool_calls[0].name" in (lynex.validate_event({"tool_calls": [{"name": 1}]}) or "")


def test_an_unknown_keyword_fails_loudly() -> None:
    with pytest.raises(ValueError, match="not supported"):
        compile_schema({"type": "object", "pattern": "x"})


def jsonschema_schema() -> dict[str, Any]:
    import json

    return dict(json.loads(SERVER_SCHEMA.read_bytes()))
