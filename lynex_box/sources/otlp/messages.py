"""Normalise chat messages of every shape we receive into the one shape we store (see docs/messages.md).

Accepted: OTel GenAI parts (`{"role", "parts": [...]}`), OpenAI chat (`content` string or blocks, `tool_calls`),
Anthropic blocks (`tool_use`, `tool_result`), Gemini (`parts: [{"text"}]`, role `model`), OpenAI/Anthropic/Gemini
request and response envelopes, and the rows that `flattened` rebuilds from OpenInference / OpenLLMetry attributes.
Pure functions over Python values; they must never raise on odd input (unknown shapes become text or are
dropped) and never do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lynex_box.sources.otlp.values import dumps, loads_maybe

__all__ = [
    "as_message_payload",
    "is_message_like",
    "normalize_input",
    "normalize_messages",
    "normalize_output",
    "tool_calls_of",
]

Message = dict[str, Any]

ROLE_ALIASES: dict[str, str] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatbot": "assistant",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}
_STORED_ROLES = {role: role for role in ROLE_ALIASES.values()}
_TEXT_TYPES = frozenset({"text", "input_text", "output_text", "message_content"})
_REASONING_TYPES = frozenset({"reasoning", "thinking"})
_ATTACHMENT_TYPES = {"image_url": "image", "input_image": "image", "input_audio": "audio", "input_file": "file"}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def _opt_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) else dumps(value)


def _tool_call(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function")
    if isinstance(function, dict):
        name, arguments = function.get("name"), function.get("arguments")
    else:
        name = raw.get("name")
        arguments = raw.get("arguments", raw.get("input", raw.get("args")))
    return {"id": _opt_str(raw.get("id")), "name": _opt_str(name), "arguments": _opt_str(arguments)}


class _Parts:
    """What the content parts of one message hold, sorted by kind."""

    __slots__ = ("attachments", "reasoning", "responses", "texts", "tool_calls")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.responses: list[Message] = []
        self.reasoning: list[str] = []
        self.attachments: list[dict[str, Any]] = []

    def add(self, part: Any) -> None:
        if isinstance(part, str):
            self.texts.append(part)
            return
        if not isinstance(part, dict):
            if part is not None:
                self.texts.append(_text(part))
            return
        raw_kind = part.get("type")
        kind = raw_kind if isinstance(raw_kind, str) else None  # an unhashable "type" must not reach a set lookup
        if kind in _TEXT_TYPES or (raw_kind is None and "text" in part):
            text = part.get("content", part.get("text"))
            if text is not None:
                self.texts.append(_text(text))
        elif kind in ("tool_call", "tool_use", "function_call"):
            call = _tool_call(part)
            if call is not None:
                self.tool_calls.append(call)
        elif kind in ("tool_call_response", "tool_result", "function_call_output"):
            result = part.get("result", part.get("response", part.get("content", part.get("output"))))
            call_id = part.get("id", part.get("tool_use_id", part.get("call_id")))
            text = _plain_text(result)  # Anthropic results may be a list of text blocks
            content = _text(result) if text is _NOT_PLAIN else text
            self.responses.append({"role": "tool", "content": content, "tool_call_id": _opt_str(call_id)})
        elif kind in _REASONING_TYPES:
            text = part.get("content", part.get("thinking", part.get("text")))
            if text:
                self.reasoning.append(_text(text))
        else:
            self.attachments.append(_attachment(part, raw_kind))


def _attachment(part: dict[str, Any], kind: Any) -> dict[str, Any]:
    """A non-text part, kept as a reference only: inline data (base64 blobs) is dropped to keep rows small."""
    raw_type = str(part.get("modality") or kind or "unknown")
    out: dict[str, Any] = {"type": _ATTACHMENT_TYPES.get(raw_type, raw_type)}
    url = part.get("uri", part.get("url"))
    image_url = part.get("image_url")
    if url is None and isinstance(image_url, dict):
        url = image_url.get("url")
    elif url is None and isinstance(image_url, str):
        url = image_url
    if isinstance(url, str) and not url.startswith("data:"):
        out["url"] = url
    mime = part.get("mime_type", part.get("media_type"))
    if isinstance(mime, str):
        out["mime_type"] = mime
    return out


def _role(item: dict[str, Any], default_role: str) -> str:
    raw = item.get("role")
    if raw is None:
        raw = item.get("type")  # LangChain dicts: {"type": "human" | "ai" | ..., "content"}
    return ROLE_ALIASES.get(raw.lower(), default_role) if isinstance(raw, str) else default_role


_NOT_PLAIN: Any = object()


def _plain_text(content: Any) -> Any:
    """The text of content made of text only (the common case, taken without building `_Parts`), else _NOT_PLAIN."""
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        return _NOT_PLAIN
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            return _NOT_PLAIN
        kind = part.get("type")
        if (isinstance(kind, str) and kind in _TEXT_TYPES) or (kind is None and "text" in part):
            # `content` wins when present, even as null (one lookup each instead of two `get`s)
            text = part["content"] if "content" in part else part.get("text")
            if text is not None:
                texts.append(text if isinstance(text, str) else dumps(text))
        else:
            return _NOT_PLAIN
    return "\n".join(texts) if texts else None


def _plain_message(item: dict[str, Any], role: str, text: str | None) -> Message:
    message: Message = {"role": role, "content": text}
    if role == "tool":
        call_id = item.get("tool_call_id", item.get("id"))
        if call_id is not None:
            message["tool_call_id"] = _opt_str(call_id)
    name = item.get("name")
    if isinstance(name, str) and name:
        message["name"] = name
    return message


def _message(item: Any, default_role: str, out: list[Message]) -> None:
    """Append the normalised message(s) of one raw item to `out`."""
    if not isinstance(item, dict):
        if isinstance(item, str):
            out.append({"role": default_role, "content": item})
        elif item is not None:
            out.append({"role": default_role, "content": _text(item)})
        return
    raw_role = item.get("role")
    if raw_role is None and "role" not in item and "message" in item:  # a choice: {"index", "finish_reason", ...}
        inner = loads_maybe(item["message"])  # JSON text when it came through span-event attributes
        if isinstance(inner, dict):
            _message(inner, default_role, out)
            return
    # A role spelled as we store it (the usual case) is found without lowercasing; anything else takes `_role`.
    role = _STORED_ROLES.get(raw_role) if type(raw_role) is str else None
    if role is None:
        role = _role(item, default_role)
    content = item.get("parts")
    if content is None:
        content = item.get("content")
        if content is None:
            content = item.get("text")
    raw_calls = item.get("tool_calls")
    function_call = item.get("function_call")
    if not raw_calls and function_call is None:
        text = _plain_text(content)
        if text is not _NOT_PLAIN:
            out.append(_plain_message(item, role, text))
            return
    parts = _Parts()
    if isinstance(content, list):
        for part in content:
            parts.add(part)
    elif isinstance(content, dict):
        if "parts" in content:  # Gemini candidate: {"content": {"role": "model", "parts": [...]}}
            _message(content, role, out)
            return
        parts.add(content if "type" in content or "text" in content else _text(content))
    elif content is not None:
        parts.add(content if isinstance(content, str) else _text(content))
    for raw_call in raw_calls if isinstance(raw_calls, list) else ():
        call = _tool_call(raw_call)
        if call is not None:
            parts.tool_calls.append(call)
    if isinstance(function_call, dict):
        call = _tool_call(function_call)
        if call is not None:
            parts.tool_calls.append(call)
    _emit(item, role, parts, out)


def _emit(item: dict[str, Any], role: str, parts: _Parts, out: list[Message]) -> None:
    if role == "tool" and not parts.texts and len(parts.responses) == 1 and not parts.tool_calls:
        out.append(parts.responses[0])  # an OTel tool message: one tool_call_response part
        return
    if parts.texts or parts.tool_calls or parts.reasoning or parts.attachments or not parts.responses:
        message: Message = {"role": role, "content": "\n".join(parts.texts) if parts.texts else None}
        if parts.tool_calls:
            message["tool_calls"] = parts.tool_calls
        call_id = item.get("tool_call_id", item.get("id") if role == "tool" else None)
        if role == "tool" and call_id is not None:
            message["tool_call_id"] = _opt_str(call_id)
        name = item.get("name")
        if isinstance(name, str) and name:
            message["name"] = name
        if parts.reasoning:
            message["reasoning"] = "\n".join(parts.reasoning)
        if parts.attachments:
            message["attachments"] = parts.attachments
        out.append(message)
    out.extend(parts.responses)


def normalize_messages(raw: Any, default_role: str = "user") -> list[Message]:
    """Any supported message list (or envelope, or JSON text of one) → the normalised message list."""
    raw = loads_maybe(raw)
    if isinstance(raw, dict):
        raw = _unwrap(raw)
    out: list[Message] = []
    if isinstance(raw, list):
        for item in raw:
            _message(item, default_role, out)
    else:
        _message(raw, default_role, out)
    return out


def _unwrap(envelope: dict[str, Any]) -> Any:
    """Request/response envelopes → their message list (a system prompt field becomes the first message)."""
    for key in ("messages", "contents", "choices", "candidates"):
        items = envelope.get(key)
        if isinstance(items, list):
            system = envelope.get("system", envelope.get("system_instruction", envelope.get("instructions")))
            if system is not None and key in ("messages", "contents"):
                return [{"role": "system", "content": system}, *items]
            return items
    return envelope


def _finish_reason(raw: Any) -> str | None:
    raw = loads_maybe(raw)
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, dict):
        unwrapped = _unwrap(raw)
        items = unwrapped if isinstance(unwrapped, list) else [raw]
    for item in items:
        if isinstance(item, dict):
            reason = item.get("finish_reason", item.get("stop_reason", item.get("finishReason")))
            if reason:
                return _opt_str(reason)
    return None


def normalize_input(raw: Any, system_instructions: Any = None) -> dict[str, Any]:
    """`{"messages": [...]}`; `system_instructions` (OTel parts or text) becomes a leading system message."""
    messages = normalize_messages(raw, "user") if raw is not None else []
    if system_instructions is not None:
        system = loads_maybe(system_instructions)
        key = "parts" if isinstance(system, list) else "content"
        messages = [*normalize_messages([{"role": "system", key: system}]), *messages]
    return {"messages": messages}


def normalize_output(raw: Any, finish_reason: Any = None) -> dict[str, Any]:
    """`{"messages": [...], "finish_reason": ...}`: the first choice's reason, else the one given."""
    raw = loads_maybe(raw)  # once for both readers (neither mutates it)
    reason = _finish_reason(raw) or _first_reason(finish_reason)
    return {"messages": normalize_messages(raw, "assistant"), "finish_reason": reason}


def _first_reason(value: Any) -> str | None:
    value = loads_maybe(value)
    if isinstance(value, list):
        value = next((item for item in value if item), None)
    return _opt_str(value) if value else None


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and ("role" in item or isinstance(item.get("message"), dict))


def is_message_like(value: Any) -> bool:
    """True for a message list or a chat request/response envelope (not for any other JSON value)."""
    if isinstance(value, list):
        return bool(value) and all(_is_message(item) for item in value)
    if not isinstance(value, dict):
        return False
    if "role" in value:
        return "content" in value or "parts" in value or "tool_calls" in value
    for key in ("messages", "contents", "choices", "candidates"):
        items = value.get(key)
        if isinstance(items, list):
            return all(
                _is_message(item) or (isinstance(item, dict) and ("content" in item or "text" in item))
                for item in items
            )
    return False


def as_message_payload(value: Any, output: bool) -> dict[str, Any] | None:
    """For an LLM span's generic input/output value: the normalised payload, or None if it is not messages.

    A bare string counts as one user (input) or assistant (output) message.
    """
    if isinstance(value, str) or is_message_like(value):
        return normalize_output(value) if output else normalize_input(value)
    return None


def tool_calls_of(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """`{id, name, arguments, result?}` for every tool call requested in `messages`, results matched by id."""
    calls: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            entry = dict(call)
            calls.append(entry)
            if entry.get("id"):
                by_id[entry["id"]] = entry
        if message.get("role") == "tool":
            target = by_id.get(message.get("tool_call_id") or "")
            if target is not None:
                target["result"] = message.get("content")
    return calls
