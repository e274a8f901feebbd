"""The retrieved documents and the answer of a trace, from its spans as Lynex Box stores them.

Lynex Box keeps attributes it does not map to a column in the span's `attributes` column (JSON text, keys as sent).
Documents are read from every span of the trace, whatever its kind:
- OpenInference: `retrieval.documents.{i}.document.content` (flattened), or `retrieval.documents` as a list of
  `{"document.content": ...}` / `{"document": {"content": ...}}` objects; a reranker's
  `reranker.output_documents.{i}.document.content` too;
- OpenTelemetry GenAI: `gen_ai.retrieval.documents`, a list (or its JSON text) of objects whose text is in `content`
  (or `text`, `page_content`).
The answer is the output of the LLM span (`kind` `llm` or `chat`) that ended last: its assistant messages' text
(the stored message shape, docs/messages.md), or its output as text. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

_FLAT_PREFIXES = ("retrieval.documents.", "reranker.output_documents.")
_CONTENT_SUFFIX = ".document.content"
_LIST_KEYS = ("retrieval.documents", "gen_ai.retrieval.documents", "reranker.output_documents")
_TEXT_KEYS = ("content", "text", "page_content", "document.content")
LLM_KINDS = frozenset({"llm", "chat"})


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _item_text(item: Any) -> str | None:
    item = _loads(item)
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return None
    for key in _TEXT_KEYS:
        if isinstance(item.get(key), str):
            return str(item[key])
    inner = item.get("document")
    return _item_text(inner) if isinstance(inner, dict) else None


def documents_of(attributes: dict[str, Any]) -> list[str]:
    """The text of every retrieved document one span's attributes carry, in index order."""
    flat: list[tuple[str, int, str]] = []
    for key, value in attributes.items():
        if not key.endswith(_CONTENT_SUFFIX) or not isinstance(value, str):
            continue
        for prefix in _FLAT_PREFIXES:
            index = key[len(prefix) : -len(_CONTENT_SUFFIX)]
            if key.startswith(prefix) and index.isdigit():
                flat.append((prefix, int(index), value))
    docs = [text for _, _, text in sorted(flat)]
    for key in _LIST_KEYS:
        items = _loads(attributes.get(key))
        if isinstance(items, list):
            docs.extend(text for text in map(_item_text, items) if text)
    return [d for d in docs if d.strip()]


def answer_of(output: Any) -> str:
    """The text of a stored `output` value: the assistant messages' content, else the value as text."""
    value = _loads(output)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        parts = [m.get("content") for m in value["messages"] if isinstance(m, dict) and m.get("role") == "assistant"]
        return "\n".join(p for p in parts if isinstance(p, str))
    if isinstance(value, str):
        return value
    return ""


def rag_parts(spans: pa.Table) -> tuple[list[str], str, str | None]:
    """(documents, answer, the answering LLM span's id) of a trace's spans; empty when it has none."""
    rows = spans.select(["span_id", "kind", "end_time", "start_time", "output", "attributes"]).to_pylist()
    documents: list[str] = []
    answer, answer_span, answer_end = "", None, None
    for row in rows:
        attributes = _loads(row["attributes"]) if row["attributes"] else {}
        if isinstance(attributes, dict):
            documents.extend(documents_of(attributes))
        if row["kind"] in LLM_KINDS and row["output"]:
            end = row["end_time"] or row["start_time"]
            text = answer_of(row["output"])
            if text.strip() and (answer_end is None or end >= answer_end):
                answer, answer_span, answer_end = text, row["span_id"], end
    return documents, answer, answer_span
