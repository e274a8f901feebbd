"""The one stored message shape, from every source shape; legacy GenAI log events joined to their span."""

from __future__ import annotations

from typing import Any

import pytest

from lynex_box.sources.otlp.events import join_log_events
from lynex_box.sources.otlp.mapping import map_span
from lynex_box.sources.otlp.messages import (
    as_message_payload,
    is_message_like,
    normalize_input,
    normalize_messages,
    normalize_output,
    tool_calls_of,
)
from lynex_box.sources.otlp.records import OtlpLogRecord

from .builders import SPAN_ID, TRACE_ID, js, loads, make_span

WEATHER_CALL = {"id": "c1", "name": "weather", "arguments": '{"city":"Paris"}'}

SAME_CONVERSATION: dict[str, Any] = {
    "otel_parts": [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "sunny"}]},
    ],
    "openai": [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ],
    "anthropic": [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Paris"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "sunny"}]},
    ],
}


@pytest.mark.parametrize("shape", sorted(SAME_CONVERSATION))
def test_every_shape_normalises_to_the_same_messages(shape: str) -> None:
    assert normalize_messages(SAME_CONVERSATION[shape]) == [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
    ]


def test_json_text_input_and_envelopes() -> None:
    assert normalize_messages(js({"messages": [{"role": "user", "content": "hi"}]})) == [
        {"role": "user", "content": "hi"}
    ]
    anthropic_request = {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}
    assert normalize_input(anthropic_request) == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    }


@pytest.mark.parametrize(
    "response, expected_reason",
    [
        (
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"}]},
            "stop",
        ),
        ({"role": "assistant", "content": [{"type": "text", "text": "A"}], "stop_reason": "end_turn"}, "end_turn"),
        ({"candidates": [{"content": {"role": "model", "parts": [{"text": "A"}]}, "finishReason": "STOP"}]}, "STOP"),
        ([{"role": "assistant", "parts": [{"type": "text", "content": "A"}], "finish_reason": "stop"}], "stop"),
        ({"choices": [{"index": 0, "text": "A", "finish_reason": "length"}]}, "length"),
    ],
)
def test_provider_responses_normalise_to_output(response: Any, expected_reason: str) -> None:
    assert normalize_output(response) == {
        "messages": [{"role": "assistant", "content": "A"}],
        "finish_reason": expected_reason,
    }


@pytest.mark.parametrize(
    "role, expected",
    [
        ("human", "user"),
        ("ai", "assistant"),
        ("model", "assistant"),
        ("developer", "system"),
        ("function", "tool"),
        ("Martian", "user"),
    ],
)
def test_role_aliases(role: str, expected: str) -> None:
    assert normalize_messages([{"role": role, "content": "x"}])[0]["role"] == expected


def test_non_text_parts_become_attachments_without_inline_data() -> None:
    message = {
        "role": "user",
        "parts": [
            {"type": "text", "content": "Look"},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo..."},
            {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "reasoning", "content": "thinking..."},
        ],
    }
    (normalised,) = normalize_messages([message])
    assert normalised == {
        "role": "user",
        "content": "Look",
        "reasoning": "thinking...",
        "attachments": [
            {"type": "image", "mime_type": "image/png"},
            {"type": "image", "url": "https://x/cat.png"},
            {"type": "image"},
        ],
    }


def test_system_instructions_become_the_first_message() -> None:
    payload = normalize_input([{"role": "user", "content": "hi"}], js([{"type": "text", "content": "Be brief."}]))
    assert payload["messages"][0] == {"role": "system", "content": "Be brief."}
    assert normalize_input(None, "Plain text instructions")["messages"] == [
        {"role": "system", "content": "Plain text instructions"}
    ]


def test_message_like_detection() -> None:
    assert is_message_like([{"role": "user", "content": "x"}])
    assert is_message_like({"messages": [{"role": "user", "content": "x"}], "model": "m"})
    assert not is_message_like({"query": "x"}) and not is_message_like([1, 2]) and not is_message_like([])
    assert as_message_payload({"query": "x"}, output=False) is None
    assert as_message_payload("plain prompt", output=False) == {
        "messages": [{"role": "user", "content": "plain prompt"}]
    }


def test_tool_calls_of_matches_results_by_id() -> None:
    messages = normalize_messages(SAME_CONVERSATION["openai"])
    assert tool_calls_of(messages) == [{**WEATHER_CALL, "result": "sunny"}]


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        5,
        "x",
        [None, 3, ["nested"]],
        {"role": ["x"], "content": {"deep": 1}},
        [{"role": "user", "parts": [{"type": ["x"]}]}],
        [{"role": "assistant", "tool_calls": 7, "function_call": "f"}],
        [{"message": "{not json"}],
    ],
)
def test_odd_shapes_never_raise(garbage: Any) -> None:
    for message in normalize_messages(garbage):
        assert message["role"] in {"system", "user", "assistant", "tool"}
        assert message["content"] is None or isinstance(message["content"], str)


# --- legacy GenAI log events ---------------------------------------------------------------------------------------


def _log(name: str, body: Any, time: int, span_id: str = SPAN_ID) -> OtlpLogRecord:
    return OtlpLogRecord(TRACE_ID, span_id, time, name, body, {"gen_ai.system": "openai"})


def test_join_log_events_fills_input_output_and_tool_calls() -> None:
    row = map_span(make_span({"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}))
    records = [
        _log("gen_ai.user.message", {"content": "Weather?"}, 2),
        _log("gen_ai.system.message", {"content": "Be brief."}, 1),
        _log(
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
            },
            3,
        ),
        _log("gen_ai.user.message", {"content": "orphan"}, 4, span_id="9" * 16),
        OtlpLogRecord(TRACE_ID, SPAN_ID, 5, None, "an ordinary log line", {}),
    ]
    unmatched = join_log_events({row["event_id"]: row}, records)
    assert [r.body for r in unmatched] == [{"content": "orphan"}]
    assert loads(row["input"]) == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}]
    }
    assert loads(row["output"]) == {
        "messages": [{"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]}],
        "finish_reason": "tool_calls",
    }
    assert loads(row["tool_calls"]) == [WEATHER_CALL]


def test_join_log_events_is_idempotent_and_extends_existing_messages() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": js([{"role": "user", "parts": [{"type": "text", "content": "A"}]}]),
    }
    row = map_span(make_span(attrs))
    records = [
        _log("gen_ai.user.message", {"content": "A"}, 1),
        _log("gen_ai.tool.message", {"content": "42", "id": "c9"}, 2),
    ]
    join_log_events({row["event_id"]: row}, records)
    join_log_events({row["event_id"]: row}, records)
    assert loads(row["input"])["messages"] == [
        {"role": "user", "content": "A"},
        {"role": "tool", "content": "42", "tool_call_id": "c9"},
    ]


def test_join_log_events_leaves_non_message_values_alone() -> None:
    row = map_span(make_span({"openinference.span.kind": "CHAIN", "input.value": "raw"}))
    join_log_events({row["event_id"]: row}, [_log("gen_ai.user.message", {"content": "x"}, 1)])
    assert loads(row["input"]) == "raw"


def test_operation_details_event_carries_current_messages() -> None:
    row = map_span(make_span({"gen_ai.operation.name": "chat"}))
    details = {
        "gen_ai.input.messages": js([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
        "gen_ai.output.messages": js(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Yo"}], "finish_reason": "stop"}]
        ),
        "gen_ai.system_instructions": js([{"type": "text", "content": "S"}]),
    }
    record = OtlpLogRecord(TRACE_ID, SPAN_ID, 1, "gen_ai.client.inference.operation.details", None, details)
    assert join_log_events({row["event_id"]: row}, [record]) == []
    assert loads(row["input"])["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    assert loads(row["output"]) == {"messages": [{"role": "assistant", "content": "Yo"}], "finish_reason": "stop"}


def test_anthropic_tool_result_blocks_become_text() -> None:
    message = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]}],
    }
    assert normalize_messages([message]) == [{"role": "tool", "content": "42", "tool_call_id": "t1"}]


def test_completion_api_response_is_message_like() -> None:
    response = {"choices": [{"index": 0, "text": "A", "finish_reason": "length"}]}
    assert as_message_payload(response, output=True) == {
        "messages": [{"role": "assistant", "content": "A"}],
        "finish_reason": "length",
    }
