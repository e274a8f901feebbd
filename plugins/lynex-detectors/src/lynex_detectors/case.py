"""One LLM call as the detectors see it (`Case`), built from stored span values: the question, the answer, the
context the answer may draw on (prompt, retrieved documents, tool results), how the call ended and whether it asked
for JSON. Lynex Box stores `input`/`output` as JSON text (docs/messages.md): a string, or `{"messages": [...],
"finish_reason": ...}`. Pure: no I/O, never raises on odd values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

LENGTH_REASONS: Final = frozenset({"length", "max_tokens", "max_output_tokens", "model_length", "MAX_TOKENS"})
_FLAT_PREFIXES: Final = ("retrieval.documents.", "reranker.output_documents.")
_CONTENT_SUFFIX: Final = ".document.content"
_LIST_KEYS: Final = ("retrieval.documents", "gen_ai.retrieval.documents", "reranker.output_documents", "documents")
_TEXT_KEYS: Final = ("content", "text", "page_content", "document.content")
_SOURCE_KEYS: Final = ("id", "source", "title", "url", "uri", "name", "document.id", "document.metadata")


@dataclass(slots=True)
class Case:
    """What the detectors read of one LLM call; `documents` and `sources` come from its trace's retriever spans."""

    question: str = ""  # the user's words (the last user message, else the whole input)
    prompt: str = ""  # every text of the input, system and tool messages included
    answer: str | None = None  # None: no output recorded (no opinion); "" an empty answer
    documents: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # ids, titles, URLs of the documents
    tools: list[str] = field(default_factory=list)  # tool results and arguments
    finish_reason: str | None = None
    has_tool_calls: bool = False
    wants_json: bool = False  # response_format asked for JSON (the prompt's own words are checked by the detector)


def loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def strings(value: Any, out: list[str] | None = None) -> list[str]:
    """Every string leaf of a JSON value (keys skipped), in order."""
    out = [] if out is None else out
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            strings(v, out)
    elif isinstance(value, list):
        for v in value:
            strings(v, out)
    return out


def _content(message: dict[str, Any]) -> str:
    return "\n".join(strings(message.get("content")))


def question_of(value: Any) -> str:
    """The last user message's text, else every text of the input."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        users = [m for m in value["messages"] if isinstance(m, dict) and m.get("role") in ("user", "human")]
        if users:
            return _content(users[-1])
    return "\n".join(strings(value))


def answer_of(value: Any) -> tuple[str | None, str | None, bool]:
    """(the answer's text, finish_reason, whether it called tools) of a stored output value."""
    if value is None:
        return None, None, False
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        messages = [m for m in value["messages"] if isinstance(m, dict)]
        said = [m for m in messages if m.get("role") in ("assistant", "model", "ai", None)]
        calls = any(m.get("tool_calls") for m in messages)
        reason = value.get("finish_reason")
        return "\n".join(_content(m) for m in said), reason if isinstance(reason, str) else None, calls
    if isinstance(value, dict):
        reason = value.get("finish_reason")
        text = value.get("content", value.get("text", value.get("output")))
        return (
            "\n".join(strings(text)) if text is not None else "\n".join(strings(value)),
            reason if isinstance(reason, str) else None,
            bool(value.get("tool_calls")),
        )
    return "\n".join(strings(value)), None, False


def document_of(item: Any) -> tuple[str | None, list[str]]:
    """(text, sources) of one retrieved document: a string, or an object with its text and ids/titles/URLs."""
    item = loads(item)
    if isinstance(item, str):
        return item, []
    if not isinstance(item, dict):
        return None, []
    inner = item.get("document")
    if isinstance(inner, dict):
        text, sources = document_of(inner)
    else:
        text, sources = next((item[k] for k in _TEXT_KEYS if isinstance(item.get(k), str)), None), []
    sources += [str(v) for k in _SOURCE_KEYS for v in strings(item.get(k)) if v]
    metadata = item.get("metadata")
    if isinstance(metadata, dict):
        sources += [v for v in strings(metadata) if len(v) < 300]
    return text, sources


def documents_of(attributes: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(texts, sources) of the retrieved documents one span's attributes carry (OpenInference flattened or listed,
    OTel GenAI `gen_ai.retrieval.documents`, a plain `documents` list)."""
    docs: list[str] = []
    sources: list[str] = []
    for key, value in attributes.items():
        if not isinstance(value, str):
            continue
        for prefix in _FLAT_PREFIXES:
            if key.startswith(prefix) and key.endswith(_CONTENT_SUFFIX):
                docs.append(value)
            elif key.startswith(prefix) and (key.endswith(".document.id") or ".document.metadata" in key):
                sources.append(value)
    for key in _LIST_KEYS:
        items = loads(attributes.get(key))
        if isinstance(items, list):
            for item in items:
                text, more = document_of(item)
                if text:
                    docs.append(text)
                sources.extend(more)
    return [d for d in docs if d.strip()], sources


def wants_json(attributes: dict[str, Any]) -> bool:
    """Whether `model_parameters.response_format` (or `metadata.model_parameters`) asks for JSON."""
    for holder in (attributes, attributes.get("metadata")):
        params = holder.get("model_parameters") if isinstance(holder, dict) else None
        params = loads(params)
        if isinstance(params, dict):
            fmt = loads(params.get("response_format"))
            kind = fmt.get("type") if isinstance(fmt, dict) else fmt
            if isinstance(kind, str) and "json" in kind.lower():
                return True
    return False


def finish_reason_of(attributes: dict[str, Any]) -> str | None:
    """A finish reason kept in attributes (`gen_ai.response.finish_reasons`, `llm.finish_reason`, metadata)."""
    for value in (
        attributes.get("gen_ai.response.finish_reasons"),
        attributes.get("llm.finish_reason"),
        (attributes.get("metadata") or {}).get("finish_reason")
        if isinstance(attributes.get("metadata"), dict)
        else None,
    ):
        value = loads(value)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str) and value:
            return value
    return None
