"""Rebuild message lists from flattened span attributes: OpenInference and OpenLLMetry's indexed form.

OpenInference: `llm.input_messages.{i}.message.{role,content,name,tool_call_id}`,
`...message.contents.{j}.message_content.{type,text,image.image.url}`,
`...message.tool_calls.{k}.tool_call.{id,function.name,function.arguments}`.
OpenLLMetry (old): `gen_ai.prompt.{i}.{role,content,tool_call_id,user}`, `gen_ai.completion.{i}.finish_reason`,
`....tool_calls.{j}.{id,name,arguments}`. The caller strips the prefix (`llm.input_messages.`, `gen_ai.prompt.`)
and passes `{rest_of_key: value}`. Output rows are OpenAI-shaped dicts for `messages.normalize_*`. Keys that do
not fit are handed back, never dropped. String splits only (no regex): this runs per span. Must never do I/O.
"""

from __future__ import annotations

import functools
from typing import Any

from lynex_box.sources.otlp.values import loads_maybe

__all__ = ["unflatten_indexed", "unflatten_openinference"]

_OI_FIELDS = frozenset({"role", "content", "name", "tool_call_id", "finish_reason"})
_OI_CALL_FIELDS = {"id": "id", "function.name": "name", "function.arguments": "arguments"}
_INDEXED_FIELDS = frozenset({"role", "content", "name", "tool_call_id", "finish_reason"})
_INDEXED_CALL_FIELDS = {"id": "id", "name": "name", "arguments": "arguments"}


# A pure memo, bounded: the same flattened key spellings recur in every span of an instrumentation.
@functools.lru_cache(maxsize=8192)
def _indexed(key: str) -> tuple[int, str] | None:
    index, _, field = key.partition(".")
    if not index.isascii() or not index.isdigit() or len(index) > 9 or not field:
        return None
    return int(index), field


# What a flattened OpenInference key says, by its spelling (the part after `llm.input_messages.`):
# (index, "field", name) for a message field, (index, "content", position, field) for a content block's field
# (field None: not one we read),
# (index, "call", position, field) for a tool call's field, (index, "function", field) for the old function call;
# None for a key that does not fit (handed back).
_OiKey = tuple[Any, ...] | None
_OI_CONTENT_FIELDS = {"type": "type", "text": "text", "image.image.url": "url"}


@functools.lru_cache(maxsize=8192)
def _oi_key(key: str) -> _OiKey:
    position = _indexed(key)
    if position is None or not position[1].startswith("message."):
        return None
    index, field = position[0], position[1][8:]
    if field in _OI_FIELDS:
        return (index, "field", field)
    if field.startswith("contents."):
        inner = _indexed(field[9:])
        if inner is None or not inner[1].startswith("message_content."):
            return None
        # An unknown field still opens its block (which then reads as a text block without text).
        return (index, "content", inner[0], _OI_CONTENT_FIELDS.get(inner[1][16:]))
    if field.startswith("tool_calls."):
        inner = _indexed(field[11:])
        if inner is None or not inner[1].startswith("tool_call."):
            return None
        name = _OI_CALL_FIELDS.get(inner[1][10:])
        return None if name is None else (index, "call", inner[0], name)
    if field == "function_call_name":
        return (index, "function", "name")
    if field == "function_call_arguments_json":
        return (index, "function", "arguments")
    return None


def _calls(row: dict[str, Any], sub: str, value: Any, prefix: str, fields: dict[str, str]) -> bool:
    position = _indexed(sub)
    if position is None or not position[1].startswith(prefix):
        return False
    field = fields.get(position[1][len(prefix) :])
    if field is None:
        return False
    row.setdefault("_calls", {}).setdefault(position[0], {})[field] = value
    return True


def _finish(rows: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for index in sorted(rows):
        row = rows[index]
        if not row:
            continue  # every key of this index was handed back as a leftover
        contents = row.pop("_contents", None)
        if contents:
            blocks: list[Any] = [{"type": "text", "text": row["content"]}] if row.get("content") else []
            for position in sorted(contents):
                block = contents[position]
                if "url" in block:
                    blocks.append({"type": "image_url", "image_url": {"url": block["url"]}})
                else:
                    blocks.append({"type": "text", "text": block.get("text")})
            row["content"] = blocks
        calls = row.pop("_calls", None)
        if calls:
            row["tool_calls"] = [calls[position] for position in sorted(calls)]
        function_call = row.pop("_function_call", None)
        if function_call:
            row["function_call"] = function_call
        messages.append(row)
    return messages


def unflatten_openinference(items: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`{"0.message.role": "user", ...}` → (message rows in index order, keys that did not fit)."""
    rows: dict[int, dict[str, Any]] = {}
    leftovers: dict[str, Any] = {}
    for key, value in items.items():
        spec = _oi_key(key)
        if spec is None:
            leftovers[key] = value
            continue
        row = rows.get(spec[0])
        if row is None:
            row = rows[spec[0]] = {}
        what = spec[1]
        if what == "field":
            row[spec[2]] = value
        elif what == "content":
            block = row.setdefault("_contents", {}).setdefault(spec[2], {})
            if spec[3] is None:
                leftovers[key] = value
            else:
                block[spec[3]] = value
        elif what == "call":
            row.setdefault("_calls", {}).setdefault(spec[2], {})[spec[3]] = value
        else:
            row.setdefault("_function_call", {})[spec[2]] = value
    return _finish(rows), leftovers


def _indexed_content(value: Any) -> Any:
    """OpenLLMetry writes multimodal content as the JSON text of the block list; plain text stays text."""
    parsed = loads_maybe(value)
    if isinstance(parsed, list) and parsed and all(isinstance(b, dict) and "type" in b for b in parsed):
        return parsed
    return value


def unflatten_indexed(items: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`{"0.role": "user", "0.content": "hi", "1.tool_calls.0.name": ...}` → (rows in index order, leftovers)."""
    rows: dict[int, dict[str, Any]] = {}
    leftovers: dict[str, Any] = {}
    for key, value in items.items():
        position = _indexed(key)
        if position is None:
            leftovers[key] = value
            continue
        row = rows.setdefault(position[0], {})
        field = position[1]
        if field in _INDEXED_FIELDS:
            row[field] = _indexed_content(value) if field == "content" else value
        elif field == "user":  # completion API: gen_ai.prompt.0.user = the prompt text
            row.setdefault("role", "user")
            row["content"] = value
        elif field.startswith("tool_calls."):
            if not _calls(row, field[11:], value, "", _INDEXED_CALL_FIELDS):
                leftovers[key] = value
        elif field in ("function_call.name", "function_call.arguments"):
            row.setdefault("_function_call", {})[field[14:]] = value
        else:
            leftovers[key] = value
    return _finish(rows), leftovers
