"""The mapping keeps its output when its implementation changes: generated spans against recorded digests.

`mapping_golden.txt` holds one digest per generated span, recorded with the row-at-a-time mapping that preceded
the single-pass one (dict rows built by a pass per convention table). The generator below is deterministic
(`random.Random`, no hypothesis) and mixes every convention the mapping knows: its known keys, flattened families,
span events, resources, scopes, status codes, ids that are refused, and values of every type (numbers as text,
JSON text of message lists in each shape, nested lists and maps). A span whose row changes fails with its index and
its row. After an intended change of the mapping's output, regenerate the digests:

    python -m tests.sources.otlp.test_mapping_equivalence --write

The pipeline's columnar decoder is then checked against the row mapping on the same spans sent as protobuf.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path
from typing import Any

import orjson

from lynex_box.sources.otlp import conventions
from lynex_box.sources.otlp.decode import decode_traces_protobuf
from lynex_box.sources.otlp.decoder import decode_otlp_traces
from lynex_box.sources.otlp.mapping import SpanRejected, map_span, map_spans
from lynex_box.sources.otlp.records import OtlpEvent, OtlpSpan
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType

from .builders import trace_request

GOLDEN = Path(__file__).with_name("mapping_golden.txt")
SPANS = 3000

_ROLES = ["system", "user", "assistant", "tool", "human", "ai", "model", "developer", "function", "Bot", "weird"]
_FLAT_KEYS = [
    "llm.input_messages.{i}.message.role",
    "llm.input_messages.{i}.message.content",
    "llm.input_messages.{i}.message.name",
    "llm.input_messages.{i}.message.tool_call_id",
    "llm.input_messages.{i}.message.contents.{j}.message_content.type",
    "llm.input_messages.{i}.message.contents.{j}.message_content.text",
    "llm.input_messages.{i}.message.contents.{j}.message_content.image.image.url",
    "llm.input_messages.{i}.message.contents.{j}.message_content.other",
    "llm.input_messages.{i}.message.tool_calls.{j}.tool_call.id",
    "llm.input_messages.{i}.message.tool_calls.{j}.tool_call.function.name",
    "llm.input_messages.{i}.message.tool_calls.{j}.tool_call.function.arguments",
    "llm.input_messages.{i}.message.tool_calls.{j}.tool_call.other",
    "llm.input_messages.{i}.message.function_call_name",
    "llm.input_messages.{i}.message.function_call_arguments_json",
    "llm.input_messages.{i}.message.unknown",
    "llm.input_messages.{i}.other",
    "llm.input_messages.x{i}.message.role",
    "llm.output_messages.{i}.message.role",
    "llm.output_messages.{i}.message.content",
    "llm.output_messages.{i}.message.tool_calls.{j}.tool_call.function.name",
    "llm.output_messages.{i}.message.finish_reason",
    "gen_ai.prompt.{i}.role",
    "gen_ai.prompt.{i}.content",
    "gen_ai.prompt.{i}.user",
    "gen_ai.prompt.{i}.tool_call_id",
    "gen_ai.prompt.{i}.tool_calls.{j}.name",
    "gen_ai.prompt.{i}.tool_calls.{j}.arguments",
    "gen_ai.prompt.{i}.tool_calls.{j}.id",
    "gen_ai.prompt.{i}.function_call.name",
    "gen_ai.prompt.{i}.other",
    "gen_ai.completion.{i}.role",
    "gen_ai.completion.{i}.content",
    "gen_ai.completion.{i}.finish_reason",
    "gen_ai.completion.{i}.tool_calls.{j}.name",
    "llm.prompts.{i}.content",
    "llm.prompts.{i}.role",
    "llm.completions.{i}.content",
    "traceloop.association.properties.user_id",
    "traceloop.association.properties.session_id",
    "traceloop.association.properties.thread_id",
    "traceloop.association.properties.tenant",
    "langfuse.observation.metadata.k{i}",
    "langfuse.trace.metadata.k{i}",
    "retrieval.documents.{i}.document.content",
    "custom.key{i}",
    "service.name",
    "otel.scope.name",
]
# Keys that name one model parameter twice: the row-at-a-time mapping chose between them in set order (it varied
# with the string hash seed), so a generated span carries at most one of each pair.
_PARAMETER_TWINS = {
    "llm.frequency_penalty": "gen_ai.request.frequency_penalty",
    "llm.presence_penalty": "gen_ai.request.presence_penalty",
    "llm.top_k": "gen_ai.request.top_k",
    "llm.is_streaming": "gen_ai.request.stream",
}


_TEXTS = ["", "hello", "Hello world", "42", "3.5", "-7", "n/a", "ERROR", "DEBUG", "chat", "LLM", "tool", "Generation",
          "openai", "Azure", "gpt-4o", "true", "é ü", '{"a": 1', "[1, 2]", " x "]  # fmt: skip


def _twin_present(key: str, attrs: dict[str, Any]) -> bool:
    twin = _PARAMETER_TWINS.get(key)
    if twin is not None and twin in attrs:
        return True
    return key in _PARAMETER_TWINS.values() and any(k in attrs for k, v in _PARAMETER_TWINS.items() if v == key)


def _text(rng: random.Random) -> str:
    return rng.choice(_TEXTS)


def _message(rng: random.Random) -> dict[str, Any]:
    shape = rng.randrange(7)
    role = rng.choice(_ROLES)
    if shape == 0:
        return {"role": role, "content": _text(rng)}
    if shape == 1:
        parts: list[Any] = [{"type": "text", "content": _text(rng)}]
        if rng.random() < 0.3:
            parts.append({"type": "tool_call", "id": "c1", "name": "f", "arguments": {"q": 1}})
        if rng.random() < 0.2:
            parts.append({"type": "tool_call_response", "id": "c1", "response": _text(rng)})
        if rng.random() < 0.2:
            parts.append({"type": "reasoning", "content": "think"})
        if rng.random() < 0.2:
            parts.append({"type": "uri", "modality": "image", "uri": "http://x/i.png", "mime_type": "image/png"})
        return {"role": role, "parts": parts, **({"finish_reason": "stop"} if rng.random() < 0.3 else {})}
    if shape == 2:
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    if shape == 3:
        return {"role": role, "content": [{"type": "text", "text": _text(rng)}, {"type": "image_url",
                "image_url": {"url": rng.choice(["http://x", "data:abc"])}}]}  # fmt: skip
    if shape == 4:
        return {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": _text(rng)}}
    if shape == 5:
        return {"type": rng.choice(["human", "ai"]), "content": _text(rng)}
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text",
            "text": "r"}]}, {"type": "tool_use", "id": "t2", "name": "g", "input": {"x": 1}}]}  # fmt: skip


def _messages_value(rng: random.Random) -> Any:
    messages = [_message(rng) for _ in range(rng.randrange(4))]
    shape = rng.randrange(6)
    if shape == 0:
        return orjson.dumps(messages).decode()
    if shape == 1:
        return orjson.dumps({"model": "m", "messages": messages, "system": "be brief"}).decode()
    if shape == 2:
        return orjson.dumps({"choices": [{"message": m, "finish_reason": "stop"} for m in messages]}).decode()
    if shape == 3:
        return orjson.dumps({"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}]}).decode()
    if shape == 4:
        return _text(rng)
    return messages[0] if messages else None


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 2 else 8)
    if kind < 3:
        return _text(rng)
    if kind == 3:
        return rng.choice([0, 1, -5, 120, 2**40])
    if kind == 4:
        return rng.choice([0.0, 0.5, 1e-7, 12.25, -3.0])
    if kind == 5:
        return rng.choice([True, False])
    if kind == 6:
        return None
    if kind == 7:
        return _messages_value(rng)
    if kind == 8:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 9:
        return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(3))}
    if kind == 10:
        return orjson.dumps({"input": 10, "output": 5, "input_cached_tokens": 2, "total": 15, "cache_read_input_tokens":
                             rng.randrange(4), "output_reasoning": 1}).decode()  # fmt: skip
    return orjson.dumps({"k": _text(rng), "n": rng.randrange(9)}).decode()


def _attributes(rng: random.Random) -> dict[str, Any]:
    known = sorted(conventions.KNOWN_KEYS)
    attrs: dict[str, Any] = {}
    for _ in range(rng.randrange(16)):
        if rng.random() < 0.55:
            key = rng.choice(known)
        else:
            key = rng.choice(_FLAT_KEYS).format(i=rng.randrange(3), j=rng.randrange(2))
        if _twin_present(key, attrs):
            continue
        if key in (conventions.INPUT_MESSAGES, conventions.OUTPUT_MESSAGES, "input.value", "output.value"):
            attrs[key] = _messages_value(rng)
        else:
            attrs[key] = _value(rng)
    return attrs


def _events(rng: random.Random) -> list[OtlpEvent]:
    names = [*sorted(conventions.GENAI_SPAN_EVENTS), "exception", "custom"]
    events = []
    for index in range(rng.choice([0, 0, 0, 1, 2])):
        name = rng.choice(names)
        attrs = _attributes(rng) if rng.random() < 0.3 else {}
        if name == "exception":
            attrs = {"exception.type": "ValueError", "exception.message": _text(rng)}
        elif name in ("gen_ai.content.prompt", "gen_ai.content.completion"):
            attrs[name.replace("content.", "")] = _messages_value(rng)
        elif name.endswith(".message") or name == "gen_ai.choice":
            attrs.update(rng.choice([{"content": _text(rng)}, {"message": {"role": "assistant", "content": "x"}}]))
        events.append(OtlpEvent(name, 1_700_000_000_000_000_000 + index, attrs))
    return events


def generated_spans(count: int = SPANS, seed: int = 20261127) -> list[OtlpSpan]:
    rng = random.Random(seed)
    resources = [{}, {"service.name": "svc", "deployment.environment": "prod"},
                 {"service.version": "1.2", "deployment.environment.name": "staging", "host": "h"}]  # fmt: skip
    spans = []
    for index in range(count):
        trace_id = rng.choice(["0af7651916cd43dd8448eb211c80319c"] * 20 + ["0" * 32, "abcd"])
        span_id = f"{index + 1:016x}" if rng.random() < 0.97 else rng.choice(["0" * 16, "ab"])
        odd = rng.random() < 0.05
        parent = rng.choice([None, "00f067aa0ba902b7", "0" * 16, "abc"] if odd else [None, "00f067aa0ba902b7"])
        start = 1_700_000_000_000_000_000 + index * 1000 if rng.random() < 0.98 else 0
        end = start + rng.choice([0, 5_000_000, -1000]) if rng.random() < 0.9 else 0
        spans.append(
            OtlpSpan(
                trace_id, span_id, parent, rng.choice(["chat", "execute_tool f", "", "retrieve"]), 3, start,
                max(end, 0),
                rng.randrange(3), rng.choice(["", "", "boom"]), _attributes(rng), _events(rng),
                rng.choice(resources), *rng.choice([("", ""), ("scope", ""), ("scope", "1.0")]),
            )
        )  # fmt: skip
    return spans


def _digest(span: OtlpSpan) -> str:
    try:
        outcome: Any = map_span(span)
    except SpanRejected as exc:
        outcome = ["rejected", str(exc)]
    return hashlib.sha256(orjson.dumps(outcome, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def test_generated_spans_map_to_the_recorded_rows() -> None:
    expected = GOLDEN.read_text().split()
    spans = generated_spans()
    assert len(expected) == len(spans)
    changed = [index for index, span in enumerate(spans) if _digest(span) != expected[index]]
    if changed:
        first = spans[changed[0]]
        try:
            row: Any = map_span(first)
        except SpanRejected as exc:
            row = str(exc)
        raise AssertionError(f"{len(changed)} rows changed, first #{changed[0]}: {first!r}\n-> {row!r}")


def _no_none(value: Any) -> Any:
    """Protobuf has no null: drop None from maps, spell it "" in lists."""
    if isinstance(value, dict):
        return {key: _no_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return ["" if item is None else _no_none(item) for item in value]
    return value


def _pipeline_rows(spans: list[OtlpSpan], skip: tuple[int, ...]) -> tuple[bool, list[dict[str, Any]]]:
    """(whether the decoder answered columns, its rows) for `spans` sent as one protobuf request."""
    body = trace_request(spans, resource={"service.name": "svc"}).SerializeToString()
    header = RecordHeader("proj", 1_700_000_000_000_001, "otlp", skip, "application/x-protobuf")
    out = decode_otlp_traces(WalRecord(5, RecordType.OTLP_TRACES, b""), header, memoryview(body))
    if isinstance(out, list):
        return False, out
    names = list(out)
    return True, [dict(zip(names, values, strict=True)) for values in zip(*out.values(), strict=True)]


def test_the_columnar_pipeline_decoder_equals_the_row_mapping() -> None:
    spans = []
    for span in generated_spans(600, seed=7):
        if span.parent_span_id is not None and len(span.parent_span_id) % 2:
            continue  # not bytes: a protobuf request cannot carry it
        span.attributes = _no_none(span.attributes)
        for event in span.events:
            event.attributes = _no_none(event.attributes)
        spans.append(span)
    hinted = set(conventions.INT_SOURCES["_cache_write_tokens"])
    plain = [span for span in spans if hinted.isdisjoint(span.attributes)]
    skip = (3, 10, 11)
    for batch, columnar in ((plain, True), (spans, False)):
        as_columns, got = _pipeline_rows(batch, skip)
        assert as_columns is columnar  # a cache-write hint (read by the cost enricher) needs rows
        body = trace_request(batch, resource={"service.name": "svc"}).SerializeToString()
        expected = map_spans(s for index, s in enumerate(decode_traces_protobuf(body)) if index not in skip).rows
        for row in expected:
            row.update(project_id="proj", ingested_at=1_700_000_000_000_001)
            if columnar:
                del row["_cache_write_tokens"]
        expected.sort(key=lambda row: row["start_time"])  # the pipeline's rows come in time order (stable)
        assert [row["start_time"] for row in got] == sorted(row["start_time"] for row in got)
        assert len(got) == len(expected) > 400
        assert got == expected


if __name__ == "__main__" and "--write" in sys.argv:
    GOLDEN.write_text("\n".join(_digest(span) for span in generated_spans()) + "\n")
